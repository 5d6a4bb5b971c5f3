from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, String, func
from sqlalchemy.orm import Mapped, mapped_column, relationship

from booking.core import clock
from booking.core.db import Base
from booking.models.district import District
from booking.models.organization import Organization
from booking.models.user import User


class Team(Base):
    """A student startup team. Registered in a district; verified by that district's finance."""

    __tablename__ = "teams"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    university_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    district_code: Mapped[str] = mapped_column(ForeignKey("districts.code"), index=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    verified: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    verified_at: Mapped[datetime | None]
    verified_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=clock.now, server_default=func.now())

    university: Mapped[Organization] = relationship(foreign_keys=[university_id], lazy="joined")
    organization: Mapped[Organization] = relationship(foreign_keys=[organization_id], lazy="joined")
    district: Mapped[District] = relationship()
    owner: Mapped[User] = relationship(foreign_keys=[owner_id])
    memberships: Mapped[list[TeamMember]] = relationship(
        back_populates="team", cascade="all, delete-orphan", order_by="TeamMember.user_id"
    )

    def has_member(self, user: User) -> bool:
        return any(m.user_id == user.id for m in self.memberships)

    def is_owner(self, user: User) -> bool:
        return self.owner_id == user.id


class TeamMember(Base):
    __tablename__ = "team_members"
    __table_args__ = (CheckConstraint("role IN ('owner', 'member')", name="role"),)

    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True, index=True)
    role: Mapped[str] = mapped_column(String(10), default="member")
    added_at: Mapped[datetime] = mapped_column(default=clock.now, server_default=func.now())

    team: Mapped[Team] = relationship(back_populates="memberships")
    user: Mapped[User] = relationship(lazy="joined")
