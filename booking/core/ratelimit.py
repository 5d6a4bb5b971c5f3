"""Rate limits (flask-limiter): per bearer token, signed-in user or address, per route.

Storage is in memory by default and Redis (``RATELIMIT_STORAGE_URI``) when several web nodes run.
Failed sign-ins are not counted here but in the database (``booking.people.sign_in_limit``): that limit must
hold exactly across every worker and node. ``RATELIMIT_ENABLED=false`` turns every limit off, for
load tests.
"""

from __future__ import annotations

import hashlib
import math
import time

from flask import current_app, request
from flask_limiter import Limiter
from flask_login import current_user
from limits import parse

from booking.core.errors import DomainError


class RateLimited(DomainError):
    status = 429
    code = "rate_limited"


def client_key() -> str:
    """Who a request counts against: its bearer token, else its signed-in user, else its address."""
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer " and header[7:].strip():
        return "token:" + hashlib.sha256(header[7:].strip().encode()).hexdigest()[:32]
    if getattr(current_user, "is_authenticated", False):
        return f"user:{current_user.id}"
    return "addr:" + (request.remote_addr or "unknown")


limiter = Limiter(key_func=client_key)


def enforce(
    limit: str, scope: str, key: str, message: str = "Too many requests; wait and try again."
) -> None:
    """Count one hit of ``key`` in ``scope`` against ``limit`` (e.g. "3 per hour"); beyond it 429
    ``rate_limited`` with ``retry_after_seconds``. For limits a route decorator cannot key on (an
    e-mail address in the body), in the limiter's storage; off with ``RATELIMIT_ENABLED=false``."""
    if not current_app.config.get("RATELIMIT_ENABLED", True):
        return
    item = parse(limit)
    strategy = limiter.limiter
    if strategy.hit(item, scope, key):
        return
    reset_at, _remaining = strategy.get_window_stats(item, scope, key)
    raise RateLimited(message, details={"retry_after_seconds": max(1, math.ceil(reset_at - time.time()))})


# --- limits of the routes that send mail to an address someone typed ----------------------------------


def sign_up_limit() -> str:
    """Sign-ups per address (API and page together): each one mails someone."""
    return current_app.config.get("SIGN_UP_RATE_LIMIT", "20 per hour")


def sign_up_key() -> str:
    """Sign-ups count against the address, even when someone is signed in."""
    return "addr:" + (request.remote_addr or "unknown")


def resend_limit() -> str:
    """Verification mails one user may ask for again."""
    return current_app.config.get("VERIFICATION_RESEND_LIMIT", "10 per hour")


# one count for the sign-up page and the API's sign-up (decorate both with it)
sign_up_limited = limiter.shared_limit(sign_up_limit, scope="sign-up", key_func=sign_up_key, methods=["POST"])
