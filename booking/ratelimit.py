"""Rate limits (flask-limiter): per token for the API, per account for failed sign-ins.

A campus shares one public address, so failed sign-ins are counted per account (the e-mail tried),
never per IP alone. Storage is in memory by default and Redis (``RATELIMIT_STORAGE_URI``) when
several web nodes run. ``RATELIMIT_ENABLED=false`` turns every limit off, for load tests.
"""

from __future__ import annotations

import hashlib
import logging
import time

from flask import current_app, request
from flask_limiter import Limiter
from flask_login import current_user
from limits import parse

from booking.errors import DomainError


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


log = logging.getLogger(__name__)
limiter = Limiter(key_func=client_key)


def _enabled() -> bool:
    return bool(current_app.config.get("RATELIMIT_ENABLED", True))


def _sign_in_limit():
    return parse(current_app.config["SIGN_IN_FAILURE_LIMIT"])


def check_sign_in_allowed(email: str) -> None:
    """Refuse further sign-in attempts for an account that failed too often recently (429)."""
    if not _enabled():
        return
    item = _sign_in_limit()
    try:
        allowed = limiter.limiter.test(item, "sign-in", email)
        reset_at, _remaining = (0, 0) if allowed else limiter.limiter.get_window_stats(item, "sign-in", email)
    except Exception:  # the shared store is down: like RATELIMIT_SWALLOW_ERRORS, serve and log
        log.exception("rate-limit store unreachable; sign-in attempts are not counted")
        return
    if not allowed:
        raise RateLimited(
            "Too many failed sign-ins for this account; wait and try again.",
            details={"retry_after_seconds": max(1, int(reset_at - time.time()))},
        )


def record_failed_sign_in(email: str) -> None:
    if _enabled():
        try:
            limiter.limiter.hit(_sign_in_limit(), "sign-in", email)
        except Exception:
            log.exception("rate-limit store unreachable; a failed sign-in was not counted")
