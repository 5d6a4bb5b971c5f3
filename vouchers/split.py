"""The stacking split: how a cost is shared between municipal vouchers, district vouchers and the team.

Pure functions of plain values (immutable named tuples, cheap to make: reconciliation makes some
for every settled booking), so the rule can be read, table-tested and property-tested alone:

1. Municipal first: m = min(floor(C × rate_m), municipal balance).
2. District stacked on top: d = min(floor(C × rate_d), district balance, floor(C × stack_ceiling) − m), ≥ 0.
3. The team pays C − m − d.

Within a level, vouchers are drawn earliest-expiring first. Each voucher's programme rate caps the
level's running total when that voucher is drawn (with one rate per level this is exactly the rule
above); each district programme's stack ceiling caps m + d the same way. Subsidies round down.

A programme's rules reach the split as plain data: ``usable_vouchers`` drops the vouchers whose
programme does not subsidise the payee (the team pays, nothing is refused) and resolves the rate for
the resource kind; a voucher's ``room_fen`` is what its programme may still give the team this
calendar year (its annual cap less what is committed and settled), shared by all the team's
vouchers of that programme.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from datetime import datetime
from typing import NamedTuple

from booking.core.money import BP

LEVEL_ORDER = {"municipal": 0, "district": 1}


class VoucherBalance(NamedTuple):
    """What the split needs to know about one usable voucher."""

    voucher_id: int
    program_id: int
    level: str  # municipal | district
    rate_bp: int
    available_fen: int
    expires_at: datetime
    stack_ceiling_bp: int | None = None  # district programmes only (default 10000)
    room_fen: int | None = None  # the programme's annual room left for the team (None: no annual cap)


class SplitLine(NamedTuple):
    voucher_id: int
    program_id: int
    level: str
    position: int  # 1-based order of application
    amount_fen: int


class Split(NamedTuple):
    total_fen: int
    lines: tuple[SplitLine, ...]

    @property
    def subsidy_fen(self) -> int:
        return sum(line.amount_fen for line in self.lines)

    @property
    def team_pays_fen(self) -> int:
        return self.total_fen - self.subsidy_fen

    def by_level(self, level: str) -> int:
        return sum(line.amount_fen for line in self.lines if line.level == level)


def share_floor(cost_fen: int, rate_bp: int) -> int:
    """floor(C × rate): subsidies always round down to the fen."""
    return cost_fen * rate_bp // BP


def split_cost(cost_fen: int, vouchers: list[VoucherBalance]) -> Split:
    """Split ``cost_fen`` over the given usable vouchers (already filtered for eligibility)."""
    if cost_fen < 0:
        raise ValueError("a cost cannot be negative")
    ordered = sorted(vouchers, key=lambda v: (LEVEL_ORDER[v.level], v.expires_at, v.voucher_id))
    lines: list[SplitLine] = []
    drawn = {"municipal": 0, "district": 0}
    by_program: dict[int, int] = defaultdict(int)
    for voucher in ordered:
        level_room = share_floor(cost_fen, voucher.rate_bp) - drawn[voucher.level]
        amount = min(voucher.available_fen, level_room)
        if voucher.level == "district":
            ceiling = voucher.stack_ceiling_bp if voucher.stack_ceiling_bp is not None else BP
            amount = min(amount, share_floor(cost_fen, ceiling) - drawn["municipal"] - drawn["district"])
        if voucher.room_fen is not None:
            amount = min(amount, voucher.room_fen - by_program[voucher.program_id])
        if amount <= 0:
            continue
        drawn[voucher.level] += amount
        by_program[voucher.program_id] += amount
        lines.append(SplitLine(voucher.voucher_id, voucher.program_id, voucher.level, len(lines) + 1, amount))
    return Split(cost_fen, tuple(lines))


class Candidate(NamedTuple):
    """A voucher the team holds, with what decides whether it may pay for a given use."""

    balance: VoucherBalance
    status: str  # active | expired | revoked
    kinds: frozenset[str]  # resource kinds its programme covers
    district_code: str | None  # the programme's district (None: municipal)
    eligible_payees: frozenset[tuple[str, int]] | None = None  # (kind, id); None: any lab or provider
    rate_bp_by_kind: Mapping[str, int] | None = None  # overrides the balance's rate_bp for a kind


def usable_vouchers(
    candidates: list[Candidate],
    *,
    kind: str,
    team_district_code: str,
    team_organization_id: int,
    payee_organization_id: int | None,
    until: datetime,
    payee: tuple[str, int] | None = None,
) -> list[VoucherBalance]:
    """The vouchers that may subsidise a use of ``kind`` lasting until ``until``.

    No subsidy at all where the lab or provider is the team's own organisation (self-dealing;
    sharing a university is fine). A voucher must be active, cover the kind, still be valid when
    the use ends, hold at least one fen, and (district vouchers) belong to the team's district.
    A voucher is valid through its expiry instant: one whose ``expires_at`` is exactly ``until``
    still pays (``expires_at >= until``); one expiring a microsecond earlier does not. A programme
    naming its eligible payees pays only for those (``payee``: ("lab" | "provider", id)). Each
    balance returned carries its programme's rate for ``kind``.
    """
    if payee_organization_id is not None and payee_organization_id == team_organization_id:
        return []
    return [
        c.balance._replace(rate_bp=c.rate_bp_by_kind.get(kind, c.balance.rate_bp))
        if c.rate_bp_by_kind
        else c.balance
        for c in candidates
        if c.status == "active"
        and kind in c.kinds
        and c.balance.expires_at >= until
        and c.balance.available_fen > 0
        and (c.district_code is None or c.district_code == team_district_code)
        and (c.eligible_payees is None or payee in c.eligible_payees)
    ]
