"""Browser sessions on the server: a signed cookie alone no longer signs anyone in.

Each sign-in stores a row (``BrowserSession``) and puts its random key in the cookie; the user loader
accepts the cookie only while that row exists. Sign-out deletes this browser's row, so a copied cookie
dies with it; ``end_browser_sessions`` deletes them all (for a password change, a deactivation or
"sign out everywhere"). A session also ends, whatever the cookie, ``PERMANENT_SESSION_LIFETIME``
after its sign-in.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime

from flask import current_app
from sqlalchemy import delete, select

from booking.core.db import MAX_ID, db
from booking.models import BrowserSession, User

SESSION_KEY = "_session_key"  # in Flask's session; the user id stays in Flask-Login's "_user_id"


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _wall_clock() -> datetime:
    # Session ages run on the real clock, like the cookie's signature, not on booking.core.clock: a job
    # replayed "as of" another instant (or a test with a frozen clock) must not end live sessions.
    return datetime.now(UTC)


def _oldest_start() -> datetime:
    return _wall_clock() - current_app.permanent_session_lifetime


def start_browser_session(user: User) -> str:
    """A new session for this user; returns the key the cookie carries (only its digest is kept)."""
    db.session.execute(
        delete(BrowserSession).where(
            BrowserSession.user_id == user.id, BrowserSession.created_at <= _oldest_start()
        )
    )
    key = secrets.token_urlsafe(32)
    db.session.add(BrowserSession(user_id=user.id, key_hash=_digest(key), created_at=_wall_clock()))
    db.session.flush()
    return key


def end_browser_session(key: str | None) -> None:
    if key:
        db.session.execute(delete(BrowserSession).where(BrowserSession.key_hash == _digest(key)))


def end_browser_sessions(user: User) -> None:
    """Sign this user out of every browser at once."""
    db.session.execute(delete(BrowserSession).where(BrowserSession.user_id == user.id))


def signed_in_user(user_id: str, key: str | None) -> User | None:
    """The active user whose live session this cookie names, else None (not signed in)."""
    if not key or not user_id.isdigit() or int(user_id) > MAX_ID:
        return None
    return db.session.scalar(
        select(User)
        .join(BrowserSession, BrowserSession.user_id == User.id)
        .where(
            User.id == int(user_id),
            User.is_active.is_(True),
            BrowserSession.key_hash == _digest(key),
            BrowserSession.created_at > _oldest_start(),
        )
    )
