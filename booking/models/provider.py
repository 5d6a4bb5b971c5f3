from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, func
from sqlalchemy.orm import Mapped, mapped_column, relationship

from booking.core import clock
from booking.core.db import Base
from booking.models.organization import Organization


class Provider(Base):
    """A compute provider (算力服务商): it publishes offers and reports metered usage."""

    __tablename__ = "providers"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=clock.now, server_default=func.now())

    organization: Mapped[Organization] = relationship(lazy="joined")
