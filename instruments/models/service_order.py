"""A team's order of a lab testing service (送样检测), its result files and its rating.

Each order is backed by one ``Booking`` of kind ``service`` (no instrument, no offer): the booking
carries the money — voucher commitments, subsidy lines, settlement, ledger, card hold — exactly as
for time bookings, while the order carries what is particular to samples (how many, the answers to
the service's sample form, the price per sample frozen at ordering, the lab's progress). The two
move together: the backing booking is ``confirmed`` while the order is live, ``completed`` when the
lab completes it, ``cancelled`` / ``rejected`` with the order, and ``settled`` with it.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from sqlalchemy import JSON, BigInteger, CheckConstraint, ForeignKey, Integer, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column, relationship

from booking.core import clock
from booking.core.db import Base
from instruments.models.service import Service

if TYPE_CHECKING:
    from booking.models import Booking, Team


class ServiceOrderStatus(StrEnum):
    SUBMITTED = "submitted"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    SETTLED = "settled"


SERVICE_ORDER_STATUSES = tuple(ServiceOrderStatus)
# the team may still withdraw an order for free (the lab has not received the samples)
ORDER_CANCELLABLE_STATUSES = (ServiceOrderStatus.SUBMITTED, ServiceOrderStatus.ACCEPTED)
# the lab has done its part: results may be downloaded and the service rated
ORDER_DONE_STATUSES = (ServiceOrderStatus.COMPLETED, ServiceOrderStatus.SETTLED)


def _in(column: str, values) -> str:
    return f"{column} IN (" + ", ".join(f"'{value}'" for value in values) + ")"


class ServiceOrder(Base):
    """One order: ``samples`` samples of one service for one team, at the price of ordering."""

    __tablename__ = "service_orders"
    __table_args__ = (
        CheckConstraint(_in("status", ServiceOrderStatus), name="status"),
        CheckConstraint("samples >= 1", name="samples"),
        CheckConstraint("price_per_sample_fen >= 0", name="price_not_negative"),
        CheckConstraint(
            "samples_processed IS NULL OR (samples_processed >= 1 AND samples_processed <= samples)",
            name="samples_processed",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"), index=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id"), index=True)
    booking_id: Mapped[int] = mapped_column(ForeignKey("bookings.id"), unique=True)
    samples: Mapped[int] = mapped_column(Integer)
    # the answers to the service's sample form, by key, as given at ordering
    answers: Mapped[dict] = mapped_column(JSON, default=dict)
    # frozen at ordering: a later price change never reaches this order
    price_per_sample_fen: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(20), index=True)
    reason: Mapped[str | None] = mapped_column(String(500))
    # the lab's promised date (Asia/Shanghai), set when the samples arrive
    due_on: Mapped[date | None]
    samples_processed: Mapped[int | None] = mapped_column(Integer)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=clock.now, server_default=func.now())
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    accepted_at: Mapped[datetime | None]
    rejected_at: Mapped[datetime | None]
    received_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    cancelled_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    cancelled_at: Mapped[datetime | None]

    service: Mapped[Service] = relationship(lazy="joined")
    team: Mapped[Team] = relationship("Team", lazy="joined")
    booking: Mapped[Booking] = relationship("Booking", lazy="joined")
    results: Mapped[list[ServiceOrderResult]] = relationship(
        back_populates="order", order_by="ServiceOrderResult.id", lazy="selectin"
    )
    rating: Mapped[ServiceRating | None] = relationship(back_populates="order", lazy="selectin")

    @property
    def lab_id(self) -> int:
        return self.service.lab_id

    @property
    def lab(self):
        return self.service.lab

    @property
    def total_fen(self) -> int:
        return self.samples * self.price_per_sample_fen


class ServiceOrderResult(Base):
    """A result file the lab uploaded for an order (the bytes live in ``booking.core.storage``)."""

    __tablename__ = "service_order_results"
    __table_args__ = (CheckConstraint("size >= 0", name="size_not_negative"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("service_orders.id"), index=True)
    storage_key: Mapped[str] = mapped_column(String(64), unique=True)
    filename: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    content_type: Mapped[str] = mapped_column(String(200))
    uploaded_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    uploaded_at: Mapped[datetime] = mapped_column(default=clock.now, server_default=func.now())

    order: Mapped[ServiceOrder] = relationship(back_populates="results")


class ServiceRating(Base):
    """The team's one rating of a completed order."""

    __tablename__ = "service_ratings"
    __table_args__ = (CheckConstraint("score >= 1 AND score <= 5", name="score"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("service_orders.id"), unique=True)
    score: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str | None] = mapped_column(Text)
    rated_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=clock.now, server_default=func.now())

    order: Mapped[ServiceOrder] = relationship(back_populates="rating")
