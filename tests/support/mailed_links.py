"""The mails the outbox holds for an address, and the token of the link in one (sign-up tests)."""

from __future__ import annotations

import re

from sqlalchemy import select

from booking.core.db import db
from booking.models import OutboxMessage

TOKEN_RE = re.compile(r"[?&]token=([A-Za-z0-9_\-]+)")


def mails_to(app, email: str) -> list[OutboxMessage]:
    with app.app_context():
        rows = db.session.scalars(
            select(OutboxMessage).where(OutboxMessage.recipient == email).order_by(OutboxMessage.id)
        ).all()
        for row in rows:
            db.session.expunge(row)
        return list(rows)


def token_in(body: str) -> str | None:
    match = TOKEN_RE.search(body)
    return match.group(1) if match else None
