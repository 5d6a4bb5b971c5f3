"""Settling a batch of finished bookings (the second half of reconciliation).

Each booking gets the stacking split on its actual cost against the balances of this moment (its
own commitment counts as available to it), one ``settle`` journal transaction across its vouchers
(commitment → payable to the lab or provider, the over-commitment released), its subsidy lines and
a settlement row. A booking made without vouchers gets no subsidy. A line's ``quoted_fen`` (the
booking's quote) is never touched; its position becomes its place in the order the split applied
the vouchers (municipal first), where a voucher that only pays now takes its place. A batch keeps a
working copy of its teams' balances (``vouchers.settling_state``), so rows are collected as plain
tuples and written in bulk at the end (``booking.core.db.insert_rows`` / ``execute_many``): a batch
of 2,000 bookings is a dozen statements, not tens of thousands.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from blinker import Namespace
from sqlalchemy import update

from booking.core.db import add_to_totals, among, db, execute_many, insert_ignoring_conflicts, insert_rows
from booking.models import Booking, BookingStatus
from instruments.models import ServiceOrder, ServiceOrderStatus
from vouchers import annual_caps
from vouchers.ledger_batch import LedgerWriter
from vouchers.models import (
    FinanceException,
    Settlement,
    SubsidyLine,
)
from vouchers.settling_state import VoucherFacts, applied_order, voucher_state
from vouchers.split import Candidate, VoucherBalance, split_cost, usable_vouchers


@dataclass(slots=True)
class Finished:
    """One finished booking and what reconciliation needs to know about it."""

    id: int
    kind: str
    status: str
    team_id: int
    team_district: str
    team_organization_id: int
    payee: tuple[str, int]
    payee_organization_id: int
    starts_at: datetime
    ends_at: datetime
    estimated_cost_fen: int
    fee_fen: int
    price_per_gpu_hour_fen: int | None  # compute
    use_vouchers: bool = True  # the team's choice at booking: False, and no voucher ever pays
    actual_cost_fen: int = 0
    used_until: datetime | None = None
    exceptions: list[dict] = field(default_factory=list)


_signals = Namespace()
# sent inside the batch's transaction with ``booking_ids=[...]`` (settled or no-show): the payments
# floor marks what they now owe (connected by ``booking.factory``), never calling an API here
bookings_settled = _signals.signal("bookings-settled")


class BatchSettler:
    """Settles one batch of finished bookings, in order, against the batch's working copy of the
    teams' voucher balances (locked, and kept current as each booking of a team is settled), then
    writes everything in bulk."""

    def __init__(self, to_settle: list[Finished], *, period: str, now: datetime, run_id: int):
        self.period, self.now, self.run_id = period, now, run_id
        self.to_settle = to_settle
        self.vouchers, self.lines, self.accounts, self.balances = voucher_state(
            [b.team_id for b in to_settle], [b.id for b in to_settle]
        )
        self.received = annual_caps.received_for_batch(  # read under voucher_state's locks
            [(b.team_id, b.starts_at) for b in to_settle],
            {
                team_id: {v.program_id for v in facts.values() if v.annual_cap_fen is not None}
                for team_id, facts in self.vouchers.items()
            },
        )
        self.writer = LedgerWriter(period, now)
        self.settlements: list[tuple] = []  # in the order of SETTLEMENT_COLUMNS
        self.line_updates: list[tuple] = []  # (extra, settle, release, position, line id)
        self.new_lines: list[tuple] = []  # in the order of LINE_COLUMNS

    def annual_room(self, team_id: int, voucher: VoucherFacts, year: int, own_fen: int) -> int | None:
        """What the voucher's programme may still give the team in ``year`` for this booking: its
        annual cap less what the team's bookings of that year hold or were paid, this one's aside."""
        if voucher.annual_cap_fen is None:
            return None
        received = self.received.get((team_id, voucher.program_id, year), 0)
        return max(voucher.annual_cap_fen - received + own_fen, 0)

    def settle(self, b: Finished) -> None:
        """The split on ``b``'s actual cost; one settle transaction across its vouchers."""
        facts = self.vouchers.get(b.team_id, {})
        lines = self.lines.get(b.id, {})
        balances, writer, now = self.balances, self.writer, self.now
        year = annual_caps.year_of(b.starts_at)
        own: dict[int, int] = defaultdict(int)  # programme → what this booking already holds of it
        for line in lines.values():
            own[facts[line.voucher_id].program_id] += line.committed_fen - line.released_fen
        candidates = []
        for voucher in facts.values():
            line = lines.get(voucher.id)
            outstanding = line.outstanding_fen if line else 0
            available = balances[("available", voucher.id)] if voucher.status == "active" else 0
            # a voucher that has ended since still pays what it committed to this booking
            status = "active" if voucher.status == "active" or outstanding > 0 else voucher.status
            candidates.append(
                Candidate(
                    balance=VoucherBalance(
                        voucher.id,
                        voucher.program_id,
                        voucher.level,
                        voucher.rate_bp,
                        available + outstanding,
                        voucher.expires_at,
                        voucher.ceiling_bp,
                        room_fen=self.annual_room(b.team_id, voucher, year, own[voucher.program_id]),
                    ),
                    status=status,
                    kinds=voucher.kinds,
                    district_code=voucher.district_code,
                    eligible_payees=voucher.eligible_payees,
                    rate_bp_by_kind=voucher.rate_bp_by_kind,
                )
            )
        usable = (
            usable_vouchers(
                candidates,
                kind=b.kind,
                team_district_code=b.team_district,
                team_organization_id=b.team_organization_id,
                payee_organization_id=b.payee_organization_id,
                until=b.used_until or b.ends_at,
                payee=b.payee,
            )
            if b.use_vouchers
            else []
        )
        if b.kind == "compute" and b.used_until is not None:
            for voucher in facts.values():
                if voucher.expires_at < b.used_until and voucher.id in lines:
                    _note_after_expiry(b, voucher.id, now)
        split = split_cost(b.actual_cost_fen, usable)
        paid, by_level = {}, {"municipal": 0, "district": 0}
        for line in split.lines:
            paid[line.voucher_id] = line.amount_fen
            by_level[line.level] += line.amount_fen
            own[line.program_id] -= line.amount_fen
        for program_id, released in own.items():  # what the booking now holds of each programme
            key = (b.team_id, program_id, year)
            self.received[key] = self.received.get(key, 0) - released
        position = applied_order(facts, set(paid) | set(lines))
        entries: list[tuple] = []  # one settlement transaction per booking, across its vouchers
        programs_touched: set[int] = set()
        touched = sorted(set(paid) | set(lines))
        for voucher_id in touched:
            voucher = facts[voucher_id]
            line = lines.get(voucher_id)
            outstanding = line.outstanding_fen if line else 0
            amount = paid.get(voucher_id, 0)
            committed = self.accounts[("committed", voucher_id)]
            available = self.accounts[("available", voucher_id)]
            from_commitment = min(amount, outstanding)
            from_available = amount - from_commitment
            over = outstanding - from_commitment  # the over-commitment, released
            release_to = (
                available if voucher.status == "active" else writer.account("unissued", voucher.program_id)
            )
            entries += [
                (committed, -outstanding),
                (available, -from_available),
                (writer.account("payable", voucher.program_id, payee=b.payee), amount),
                (release_to, over),
            ]
            programs_touched.add(voucher.program_id)
            # keep the in-memory balances current for the next booking of the same team in this batch
            balances[("available", voucher_id)] += -from_available + (
                over if voucher.status == "active" else 0
            )
            balances[("committed", voucher_id)] -= outstanding
            if line is not None:
                # money drawn beyond the original hold counts as committed at settlement, then settled
                self.line_updates.append((from_available, amount, over, position[voucher_id], line.id))
            elif amount:
                self.new_lines.append(
                    (
                        b.id,
                        voucher_id,
                        voucher.program_id,
                        voucher.level,
                        position[voucher_id],
                        amount,  # committed
                        0,  # released
                        amount,  # settled
                        0,  # quoted: nothing, the booking's quote had no line for this voucher
                    )
                )
        writer.add(
            "settle",
            entries,
            program_id=next(iter(programs_touched)) if len(programs_touched) == 1 else None,
            voucher_id=touched[0] if len(touched) == 1 else None,
            booking_id=b.id,
            key=f"settle:{b.id}",
        )
        municipal, district = by_level["municipal"], by_level["district"]
        self.settlements.append(
            (  # in the order of SETTLEMENT_COLUMNS
                b.id,
                self.run_id,
                now,
                self.period,
                *b.payee,
                b.actual_cost_fen,
                municipal,
                district,
                municipal + district,
                b.actual_cost_fen - municipal - district,
                b.fee_fen,
            )
        )

    def write(self) -> None:
        """The batch's ledger, subsidy lines, settlements and totals; bookings marked settled and
        their final team share marked for capture."""
        self.writer.flush()
        # quoted_fen is left alone: the quote stays what was quoted
        execute_many(
            "UPDATE subsidy_lines SET committed_fen = committed_fen + ?, settled_fen = settled_fen + ?, "
            "released_fen = released_fen + ?, position = ? WHERE id = ?",
            self.line_updates,
            postgresql="UPDATE subsidy_lines AS l SET committed_fen = l.committed_fen + x.extra, "
            "settled_fen = l.settled_fen + x.settle, released_fen = l.released_fen + x.release, "
            "position = x.position FROM unnest(%b::bigint[], %b::bigint[], %b::bigint[], %b::int[], "
            "%b::bigint[]) AS x(extra, settle, release, position, id) WHERE l.id = x.id",
        )
        insert_rows(SubsidyLine.__table__, LINE_COLUMNS, self.new_lines)
        insert_rows(Settlement.__table__, SETTLEMENT_COLUMNS, self.settlements)
        add_settlement_totals(
            (self.period, b.team_id, *b.payee, municipal, district)
            for b, (*_, municipal, district, _subsidy, _team, _fee) in zip(
                self.to_settle, self.settlements, strict=True
            )
        )
        settled_ids = [b.id for b in self.to_settle if b.status != BookingStatus.NO_SHOW]
        if settled_ids:
            db.session.execute(
                update(Booking)
                .where(among(Booking.id, settled_ids))
                .values(status=BookingStatus.SETTLED)
                .execution_options(synchronize_session=False)
            )
        order_booking_ids = [b.id for b in self.to_settle if b.kind == "service"]
        if order_booking_ids:  # the orders these bookings back are settled with them
            db.session.execute(
                update(ServiceOrder)
                .where(among(ServiceOrder.booking_id, order_booking_ids))
                .values(status=ServiceOrderStatus.SETTLED)
                .execution_options(synchronize_session=False)
            )
        # card holds are only marked (by the receivers); the capture_payments job captures later
        bookings_settled.send(self, booking_ids=[b.id for b in self.to_settle])


SETTLEMENT_COLUMNS = (
    "booking_id",
    "run_id",
    "settled_at",
    "period",
    "payee_kind",
    "payee_id",
    "actual_cost_fen",
    "municipal_fen",
    "district_fen",
    "subsidy_fen",
    "team_fen",
    "fee_fen",
)
LINE_COLUMNS = (
    "booking_id",
    "voucher_id",
    "program_id",
    "level",
    "position",
    "committed_fen",
    "released_fen",
    "settled_fen",
    "quoted_fen",
)


def _note_after_expiry(b: Finished, voucher_id: int, now: datetime) -> None:
    db.session.execute(
        insert_ignoring_conflicts(FinanceException).on_conflict_do_nothing(index_elements=["unique_key"]),
        [
            {
                "kind": "after_expiry",
                "booking_id": b.id,
                "provider_id": b.payee[1],
                "district_code": b.team_district,
                "details": {"voucher_id": voucher_id, "last_usage": b.used_until.isoformat()},
                "blocking": False,
                "status": "open",
                "unique_key": f"after_expiry:booking:{b.id}:{voucher_id}",
                "created_at": now,
            }
        ],
    )


def add_settlement_totals(settled) -> None:
    """Add settlements, as (period, team, payee kind, payee id, municipal, district) fen, to the
    per-period, per-team, per-payee totals the dashboard reads."""
    totals: dict[tuple, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for period, team_id, payee_kind, payee_id, municipal, district in settled:
        total = totals[(period, team_id, payee_kind, payee_id)]
        total[0] += 1
        total[1] += municipal
        total[2] += district
        total[3] += municipal + district
    add_to_totals(
        "settlement_totals",
        ("period", "team_id", "payee_kind", "payee_id"),
        ("bookings", "municipal_fen", "district_fen", "subsidy_fen"),
        {key: tuple(amounts) for key, amounts in totals.items()},
    )
