from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, func, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from booking.core import clock
from booking.core.db import Base
from booking.models.team import Team
from booking.models.user import User

INVITATION_STATUSES = ("pending", "accepted", "revoked", "expired")
OPEN = "accepted_at IS NULL AND revoked_at IS NULL"


class TeamInvitation(Base):
    """An invitation mailed by a team's owner to an e-mail address: only the SHA-256 of the link's
    secret is stored. It is accepted once (by the account with that address), revoked, or it
    expires; a team has at most one open (neither accepted nor revoked) invitation per address."""

    __tablename__ = "team_invitations"
    __table_args__ = (
        CheckConstraint("expires_at > created_at", name="expires_after_created"),
        CheckConstraint("accepted_at IS NULL OR revoked_at IS NULL", name="accepted_or_revoked"),
        CheckConstraint("(accepted_at IS NULL) = (accepted_by_id IS NULL)", name="accepted_by_whom"),
        CheckConstraint("email <> ''", name="email_given"),
        Index(
            "uq_team_invitations_open_email",
            "team_id",
            "email",
            unique=True,
            sqlite_where=text(OPEN),
            postgresql_where=text(OPEN),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), index=True)
    email: Mapped[str] = mapped_column(String(254))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    invited_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=clock.now, server_default=func.now())
    expires_at: Mapped[datetime] = mapped_column()
    accepted_at: Mapped[datetime | None] = mapped_column()
    accepted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    revoked_at: Mapped[datetime | None] = mapped_column()

    team: Mapped[Team] = relationship()
    invited_by: Mapped[User] = relationship(foreign_keys=[invited_by_id], lazy="joined")

    @property
    def status(self) -> str:
        """pending, accepted, revoked, or expired (a pending one past ``expires_at``)."""
        if self.accepted_at is not None:
            return "accepted"
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at <= clock.now():
            return "expired"
        return "pending"
