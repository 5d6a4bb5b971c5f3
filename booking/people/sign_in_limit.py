"""Failed sign-ins per account (the e-mail tried), counted in the database.

Every worker and node shares the database, so the documented limit (``SIGN_IN_FAILURE_LIMIT``, 10 per
15 minutes) holds under ``gunicorn -w 4`` on the embedded SQLite too, with no Redis. The count is taken
before the password is checked, in one statement (an upsert that increments and returns the new count),
so a concurrent burst cannot slip past between a check and a hit: the 11th attempt in a window is
refused (429) whatever the password; a success deletes the count. E-mails that belong to nobody are
counted the same way, so the answers never tell whether an account exists.
"""

from __future__ import annotations

import hashlib
import math
from datetime import timedelta

from flask import current_app
from limits import parse
from sqlalchemy import case, delete, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from booking.core import clock
from booking.core.db import db
from booking.core.ratelimit import RateLimited
from booking.models import SignInAttempt

PRUNE_BATCH = 100  # expired windows removed when a new one starts (bounded work per sign-in)


def _limit() -> tuple[int, timedelta]:
    item = parse(current_app.config["SIGN_IN_FAILURE_LIMIT"])
    return item.amount, timedelta(seconds=item.get_expiry())


def _enabled() -> bool:
    return bool(current_app.config.get("RATELIMIT_ENABLED", True))


def _digest(email: str) -> str:
    return hashlib.sha256(email.encode("utf-8", "surrogatepass")).hexdigest()


def count_sign_in_attempt(email: str) -> None:
    """Count one sign-in attempt for this (normalised) e-mail; 429 beyond the limit in the window.

    The count is committed at once — the only commit below the request boundary, on purpose: an
    attempt counts whatever the answer, and the failure answers roll the request back. Nothing else
    has been written in a sign-in request at this point.
    """
    if not _enabled():
        return
    amount, window = _limit()
    now = clock.now()
    row = SignInAttempt.__table__.c
    insert = postgresql_insert if db.session.get_bind().dialect.name == "postgresql" else sqlite_insert
    stmt = insert(SignInAttempt).values(email_digest=_digest(email), attempts=1, window_started_at=now)
    expired = row.window_started_at <= now - window
    stmt = stmt.on_conflict_do_update(
        index_elements=[row.email_digest],
        set_={
            "attempts": case((expired, 1), else_=row.attempts + 1),
            "window_started_at": case(
                (expired, stmt.excluded.window_started_at), else_=row.window_started_at
            ),
        },
    ).returning(row.attempts, row.window_started_at)
    attempts, started = db.session.execute(stmt).one()
    if attempts == 1:
        _prune(now - window)
    db.session.commit()
    if attempts > amount:
        wait = max(1, math.ceil((started + window - now).total_seconds()))
        raise RateLimited(
            "Too many failed sign-ins for this account; wait and try again.",
            details={"retry_after_seconds": wait},
        )


def _prune(cutoff) -> None:
    """Forget windows that have ended (e-mails nobody owns would pile up otherwise). Rows another
    sign-in holds are skipped, never waited for, so two prunes cannot deadlock on PostgreSQL."""
    stale = (
        select(SignInAttempt.email_digest)
        .where(SignInAttempt.window_started_at <= cutoff)
        .limit(PRUNE_BATCH)
        .with_for_update(skip_locked=True)
    )
    db.session.execute(delete(SignInAttempt).where(SignInAttempt.email_digest.in_(stale.scalar_subquery())))


def clear_sign_in_attempts(email: str) -> None:
    """A successful sign-in starts the count afresh (committed with the request)."""
    db.session.execute(delete(SignInAttempt).where(SignInAttempt.email_digest == _digest(email)))
