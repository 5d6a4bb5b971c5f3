from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, String, func
from sqlalchemy.orm import Mapped, mapped_column, relationship

from booking.core import clock
from booking.core.db import Base

if TYPE_CHECKING:
    from booking.models.district import District
    from booking.models.provider import Provider

ROLES = ("founder", "lab_manager", "provider", "finance", "admin")


class User(Base):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint("role IN ('founder', 'lab_manager', 'provider', 'finance', 'admin')", name="role"),
        CheckConstraint("role = 'provider' OR provider_id IS NULL", name="provider_only_for_provider_role"),
        CheckConstraint("role = 'finance' OR district_code IS NULL", name="district_only_for_finance"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(20))
    # finance officers: their district; NULL = municipal finance
    district_code: Mapped[str | None] = mapped_column(ForeignKey("districts.code"))
    provider_id: Mapped[int | None] = mapped_column(ForeignKey("providers.id"))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, server_default="1")
    locale: Mapped[str | None] = mapped_column(String(10))
    # when the person proved the address is theirs (a verification link, single sign-on, or an admin
    # who created the account); NULL = not verified yet
    email_verified_at: Mapped[datetime | None] = mapped_column()
    # single sign-on: the OpenID Connect provider's ``sub`` for this person, once they signed in with it
    oidc_subject: Mapped[str | None] = mapped_column(String(255), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=clock.now, server_default=func.now())

    district: Mapped[District | None] = relationship()
    provider: Mapped[Provider | None] = relationship()

    # flask-login protocol
    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        return str(self.id)

    @property
    def email_verified(self) -> bool:
        return self.email_verified_at is not None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def is_municipal_finance(self) -> bool:
        return self.role == "finance" and self.district_code is None

    def __repr__(self) -> str:
        return f"<User {self.id} {self.email} {self.role}>"
