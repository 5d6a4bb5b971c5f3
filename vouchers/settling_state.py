"""What a batch of settlements reads before it settles anything: the teams' vouchers with their
programmes' rules, the bookings' subsidy lines and the vouchers' ledger accounts (locked), as plain
rows — ``vouchers.settling.BatchSettler`` keeps them as its working copy."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import select

from booking.core.db import among, db
from vouchers.models import RESOURCE_KINDS, LedgerAccount, Program, SubsidyLine, Voucher
from vouchers.split import LEVEL_ORDER


def applied_order(facts: dict[int, VoucherFacts], voucher_ids: set[int]) -> dict[int, int]:
    """Each of a booking's lines' position (1-based) in the order the split applies vouchers:
    municipal before district, earliest-expiring first. The quote's lines keep their relative order
    (the split at booking used the same order), and a voucher that only pays at settlement takes its
    place among them instead of being appended after the district lines."""
    ordered = sorted(voucher_ids, key=lambda v: (LEVEL_ORDER[facts[v].level], facts[v].expires_at, v))
    return {voucher_id: index for index, voucher_id in enumerate(ordered, start=1)}


@dataclass
class VoucherFacts:
    id: int
    program_id: int
    level: str
    rate_bp: int
    ceiling_bp: int | None
    kinds: frozenset
    district_code: str | None
    status: str
    expires_at: datetime
    eligible_payees: frozenset | None = None
    rate_bp_by_kind: dict | None = None
    annual_cap_fen: int | None = None


class Line(NamedTuple):
    id: int
    booking_id: int
    voucher_id: int
    committed_fen: int
    released_fen: int
    settled_fen: int

    @property
    def outstanding_fen(self) -> int:
        return self.committed_fen - self.released_fen - self.settled_fen


def voucher_state(team_ids: list[int], booking_ids: list[int]):
    """The teams' vouchers, the bookings' lines, and the vouchers' accounts — locked (PostgreSQL:
    FOR UPDATE, in id order) so concurrent bookings wait and then see the settled balances.
    Plain rows, not ORM objects: this runs for every batch of a million-record reconciliation."""
    rows = db.session.execute(
        select(
            Voucher.id,
            Voucher.team_id,
            Voucher.status,
            Voucher.expires_at,
            Program.id.label("program_id"),
            Program.level,
            Program.rate_bp,
            Program.stack_ceiling_bp,
            Program.covers_compute,
            Program.covers_instrument,
            Program.covers_service,
            Program.district_code,
            Program.eligible_payees,
            Program.rate_bp_compute,
            Program.rate_bp_instrument,
            Program.rate_bp_service,
            Program.annual_team_cap_fen,
        )
        .join(Program, Voucher.program_id == Program.id)
        .where(among(Voucher.team_id, set(team_ids)))
    ).all()
    vouchers: dict[int, dict[int, VoucherFacts]] = defaultdict(dict)  # team → voucher id → facts
    for r in rows:
        covered = (r.covers_compute, r.covers_instrument, r.covers_service)  # RESOURCE_KINDS' order
        kinds = frozenset(k for k, on in zip(RESOURCE_KINDS, covered, strict=True) if on)
        rates = (r.rate_bp_compute, r.rate_bp_instrument, r.rate_bp_service)  # RESOURCE_KINDS' order
        vouchers[r.team_id][r.id] = VoucherFacts(
            r.id,
            r.program_id,
            r.level,
            r.rate_bp,
            r.stack_ceiling_bp,
            kinds,
            r.district_code,
            r.status,
            r.expires_at,
            None
            if r.eligible_payees is None
            else frozenset((p["kind"], int(p["id"])) for p in r.eligible_payees),
            {k: rate for k, rate in zip(RESOURCE_KINDS, rates, strict=True) if rate is not None},
            r.annual_team_cap_fen,
        )
    voucher_ids = [voucher_id for facts in vouchers.values() for voucher_id in facts]
    accounts: dict[tuple[str, int], int] = {}  # (kind, voucher id) → account id
    balances: dict[tuple[str, int], int] = {}
    if voucher_ids:
        for account_id, kind, voucher_id, balance in db.session.execute(
            select(LedgerAccount.id, LedgerAccount.kind, LedgerAccount.voucher_id, LedgerAccount.balance_fen)
            .where(among(LedgerAccount.voucher_id, voucher_ids))
            .order_by(LedgerAccount.id)
            .with_for_update()
        ):
            accounts[(kind, voucher_id)] = account_id
            balances[(kind, voucher_id)] = balance
    lines: dict[int, dict[int, Line]] = defaultdict(dict)  # booking → voucher id → line
    for line in db.session.execute(
        select(
            SubsidyLine.id,
            SubsidyLine.booking_id,
            SubsidyLine.voucher_id,
            SubsidyLine.committed_fen,
            SubsidyLine.released_fen,
            SubsidyLine.settled_fen,
        ).where(among(SubsidyLine.booking_id, booking_ids))
    ):
        lines[line[1]][line[2]] = Line._make(line)
    return vouchers, lines, accounts, balances
