from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, func
from sqlalchemy.orm import Mapped, mapped_column, relationship

from booking.core import clock
from booking.core.db import Base
from booking.models import District, Organization, User


class Lab(Base):
    """An open university lab (高校实验室) that publishes instruments for outside booking."""

    __tablename__ = "labs"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    university_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    district_code: Mapped[str] = mapped_column(ForeignKey("districts.code"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=clock.now, server_default=func.now())

    university: Mapped[Organization] = relationship(foreign_keys=[university_id], lazy="joined")
    organization: Mapped[Organization] = relationship(foreign_keys=[organization_id], lazy="joined")
    district: Mapped[District] = relationship()
    managers: Mapped[list[LabManager]] = relationship(
        back_populates="lab", cascade="all, delete-orphan", order_by="LabManager.user_id"
    )

    def is_managed_by(self, user: User) -> bool:
        return any(m.user_id == user.id for m in self.managers)


class LabManager(Base):
    __tablename__ = "lab_managers"

    lab_id: Mapped[int] = mapped_column(ForeignKey("labs.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True, index=True)
    added_at: Mapped[datetime] = mapped_column(default=clock.now, server_default=func.now())

    lab: Mapped[Lab] = relationship(back_populates="managers")
    user: Mapped[User] = relationship(lazy="joined")


class LabClosure(Base):
    """The whole lab closed for a while (holiday, power cut, move): every instrument of the lab gets a
    blackout over it (``Blackout.closure_id``), so booking refuses it like any blackout; the bookings
    holding time in it were cancelled by the lab when it was declared."""

    __tablename__ = "lab_closures"
    __table_args__ = (
        CheckConstraint("ends_at > starts_at", name="ends_after_start"),
        Index("ix_lab_closures_lab_span", "lab_id", "starts_at", "ends_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    lab_id: Mapped[int] = mapped_column(ForeignKey("labs.id", ondelete="CASCADE"))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    reason: Mapped[str] = mapped_column(String(500), default="")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=clock.now, server_default=func.now())
