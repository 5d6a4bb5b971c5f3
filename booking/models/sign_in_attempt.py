from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from booking.core.db import Base


class SignInAttempt(Base):
    """Sign-in attempts for one e-mail (an account or not: the answers must not tell) in its current
    window. In the database, so every worker and node counts the same attempts; a success deletes it."""

    __tablename__ = "sign_in_attempts"

    # SHA-256 of the normalised e-mail: addresses people mistyped are not kept in clear
    email_digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    attempts: Mapped[int] = mapped_column(Integer)
    window_started_at: Mapped[datetime] = mapped_column(index=True)
