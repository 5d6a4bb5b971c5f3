"""Single-use links mailed to a user: verify the e-mail address (48 h), reset the password (1 h).

``issue_link`` returns the secret to put in the mail (``token=<secret>`` in the link's query string)
and stores only its SHA-256. ``redeem_link`` spends it: one conditional UPDATE, so of two requests
racing with the same link exactly one wins. An unknown, spent or expired link is 422 ``invalid_token``
(the same answer for each: nobody learns which). Issuing a link of a purpose spends the user's older
unspent links of that purpose, so only the newest mail works.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import select, update

from booking.core import clock
from booking.core.db import db
from booking.core.errors import Invalid
from booking.models import EmailLink, User

LIFETIMES = {"verify_email": timedelta(hours=48), "reset_password": timedelta(hours=1)}


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def invalid_token() -> Invalid:
    return Invalid(
        "This link is not valid any more: it was used, it expired, or it is wrong.", code="invalid_token"
    )


def issue_link(user: User, purpose: str) -> str:
    """A fresh link of ``purpose`` for ``user``; its secret (only flushes)."""
    now = clock.now()
    spend_links(user, purpose)
    secret = secrets.token_urlsafe(32)
    db.session.add(
        EmailLink(
            purpose=purpose,
            user_id=user.id,
            token_hash=_digest(secret),
            expires_at=now + LIFETIMES[purpose],
        )
    )
    db.session.flush()
    return secret


def spend_links(user: User, purpose: str) -> None:
    """Spend every unspent link of ``purpose`` the user has (e.g. after the password changed)."""
    db.session.execute(
        update(EmailLink)
        .where(EmailLink.user_id == user.id, EmailLink.purpose == purpose, EmailLink.used_at.is_(None))
        .values(used_at=clock.now())
        .execution_options(synchronize_session=False)
    )


def usable_link_user(secret: str, purpose: str) -> User | None:
    """The user of an unspent, unexpired link, without spending it (a page showing a form first)."""
    if not isinstance(secret, str) or not 0 < len(secret) <= 200:
        return None
    return db.session.scalar(
        select(User)
        .join(EmailLink, EmailLink.user_id == User.id)
        .where(
            EmailLink.token_hash == _digest(secret),
            EmailLink.purpose == purpose,
            EmailLink.used_at.is_(None),
            EmailLink.expires_at > clock.now(),
        )
    )


def redeem_link(secret: str, purpose: str) -> User:
    """Spend the link and return its user; 422 ``invalid_token`` when it is unknown, spent or expired."""
    if not isinstance(secret, str) or not 0 < len(secret) <= 200:
        raise invalid_token()
    now = clock.now()
    digest = _digest(secret)
    spent = db.session.execute(
        update(EmailLink)
        .where(
            EmailLink.token_hash == digest,
            EmailLink.purpose == purpose,
            EmailLink.used_at.is_(None),
            EmailLink.expires_at > now,
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if spent.rowcount != 1:
        raise invalid_token()
    user_id = db.session.scalar(select(EmailLink.user_id).where(EmailLink.token_hash == digest))
    return db.session.get(User, user_id)
