from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, BigInteger, Boolean, CheckConstraint, Date, ForeignKey, Integer, String, func
from sqlalchemy.orm import Mapped, mapped_column

from booking.core import clock
from booking.core.db import Base

LEVELS = ("municipal", "district")
RESOURCE_KINDS = ("compute", "instrument", "service")


class Program(Base):
    """A voucher programme (算力券项目) of the municipality or of one district."""

    __tablename__ = "programs"
    __table_args__ = (
        CheckConstraint("level IN ('municipal', 'district')", name="level"),
        CheckConstraint(
            "(level = 'district' AND district_code IS NOT NULL AND stack_ceiling_bp IS NOT NULL) OR "
            "(level = 'municipal' AND district_code IS NULL AND stack_ceiling_bp IS NULL)",
            name="level_fields",
        ),
        CheckConstraint("rate_bp BETWEEN 1 AND 10000", name="rate_bp"),
        CheckConstraint(
            "stack_ceiling_bp IS NULL OR stack_ceiling_bp BETWEEN 1 AND 10000", name="stack_ceiling_bp"
        ),
        CheckConstraint(
            "budget_fen > 0 AND per_team_cap_fen > 0 AND per_team_cap_fen <= budget_fen", name="amounts"
        ),
        CheckConstraint("valid_to >= valid_from", name="window"),
        CheckConstraint("voucher_validity_days >= 1", name="validity"),
        CheckConstraint("covers_compute OR covers_instrument OR covers_service", name="covers_something"),
        CheckConstraint(
            "(rate_bp_compute IS NULL OR rate_bp_compute BETWEEN 0 AND 10000) AND "
            "(rate_bp_instrument IS NULL OR rate_bp_instrument BETWEEN 0 AND 10000) AND "
            "(rate_bp_service IS NULL OR rate_bp_service BETWEEN 0 AND 10000)",
            name="rate_bp_by_kind",
        ),
        CheckConstraint("annual_team_cap_fen IS NULL OR annual_team_cap_fen > 0", name="annual_team_cap"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    level: Mapped[str] = mapped_column(String(10))
    district_code: Mapped[str | None] = mapped_column(ForeignKey("districts.code"), index=True)
    covers_compute: Mapped[bool] = mapped_column(Boolean)
    covers_instrument: Mapped[bool] = mapped_column(Boolean)
    # lab testing services (送样检测); nothing spends vouchers on them until service orders exist
    covers_service: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    rate_bp: Mapped[int] = mapped_column(Integer)
    budget_fen: Mapped[int] = mapped_column(BigInteger)
    per_team_cap_fen: Mapped[int] = mapped_column(BigInteger)
    valid_from: Mapped[date] = mapped_column(Date)
    valid_to: Mapped[date] = mapped_column(Date)
    voucher_validity_days: Mapped[int] = mapped_column(Integer)
    stack_ceiling_bp: Mapped[int | None] = mapped_column(Integer)
    # the programme's rules (2026-12): the payees it subsidises ([{"kind": "lab"|"provider", "id"}];
    # NULL: any), a rate per resource kind overriding rate_bp, and what one team may receive from it
    # in a calendar year (Asia/Shanghai, committed + settled)
    eligible_payees: Mapped[list | None] = mapped_column(JSON)
    rate_bp_compute: Mapped[int | None] = mapped_column(Integer)
    rate_bp_instrument: Mapped[int | None] = mapped_column(Integer)
    rate_bp_service: Mapped[int | None] = mapped_column(Integer)
    annual_team_cap_fen: Mapped[int | None] = mapped_column(BigInteger)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=clock.now, server_default=func.now())

    @property
    def resource_kinds(self) -> list[str]:
        return [kind for kind in RESOURCE_KINDS if self.covers(kind)]

    def covers(self, kind: str) -> bool:
        return {
            "compute": self.covers_compute,
            "instrument": self.covers_instrument,
            "service": self.covers_service,
        }.get(kind, False)

    @property
    def rate_bp_by_kind(self) -> dict[str, int]:
        """The rates that override ``rate_bp`` for one resource kind (only those set)."""
        rates = {kind: getattr(self, f"rate_bp_{kind}") for kind in RESOURCE_KINDS}
        return {kind: rate for kind, rate in rates.items() if rate is not None}

    def rate_for(self, kind: str) -> int:
        return self.rate_bp_by_kind.get(kind, self.rate_bp)

    @property
    def payee_set(self) -> frozenset[tuple[str, int]] | None:
        """The eligible payees as (kind, id) pairs; None: any lab or provider."""
        if self.eligible_payees is None:
            return None
        return frozenset((p["kind"], int(p["id"])) for p in self.eligible_payees)
