"""Reconciliation: settle finished bookings on their actual cost.

For every finished, unsettled booking (instrument: checked out, checked in past its end, or no-show;
compute: past its end plus ``USAGE_GRACE_MINUTES`` so late usage records arrive first):

1. the actual cost — billed time × rate, or the metered GPU-hours × price (integer micro-GPU-hours
   summed exactly, then half up to the fen);
2. exceptions instead of silent charges — usage outside the booking window or more than
   ``USAGE_TOLERANCE_BP`` above the estimate blocks the booking until finance resolves it; usage
   after a voucher's expiry gets no subsidy from that voucher;
3. the same stacking split on the actual cost, against the balances of this moment (the booking's
   own commitment counts as available to it), so no voucher, cap, budget or ceiling is exceeded;
4. settle (commitment → payable to the lab or provider), release the over-commitment, and record
   the team's final share for payment capture.

Set-based and batched: bookings are taken ``RECONCILE_BATCH_SIZE`` at a time, usage is aggregated
with one GROUP BY per batch (from a covering index), and the batch's rows are plain tuples written
with one bulk statement per table (``booking.db.insert_rows``: arrays on PostgreSQL, executemany on
SQLite). Each batch is one database transaction; each booking has a unique settlement key
(``settlements.booking_id`` and the journal's ``unique_key``), so a rerun — after a crash or not —
settles nothing twice and ends with the same ledger, to the fen. ``bench/reconcile.py`` measures it.
"""

from __future__ import annotations

import gc
import os
import signal
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import NamedTuple

from flask import current_app
from sqlalchemy import and_, exists, func, null, or_, select, update

from booking import clock
from booking.bookings import billed_duration
from booking.db import add_to_totals, among, db, insert_ignoring_conflicts, insert_rows
from booking.models import Booking, ComputeOffer, Provider, Team, UsageRecord
from booking.models.usage import from_microhours
from booking.money import BP, MICROHOURS_PER_HOUR, time_cost_fen, usage_cost_fen
from booking.payments import mark_settled
from instruments.models import Instrument, Lab
from vouchers import ledger
from vouchers.models import (
    FinanceException,
    JournalTransaction,
    LedgerAccount,
    Posting,
    Program,
    ReconciliationRun,
    Settlement,
    SubsidyLine,
    Voucher,
)
from vouchers.split import Candidate, VoucherBalance, split_cost, usable_vouchers


class ReconcileFault(RuntimeError):
    """Raised by the test-only fault switch (``RECONCILE_FAULT_AFTER``)."""


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
    actual_cost_fen: int = 0
    used_until: datetime | None = None
    exceptions: list[dict] = field(default_factory=list)


def settings() -> tuple[int, timedelta, int]:
    config = current_app.config
    return (
        int(config.get("USAGE_TOLERANCE_BP", 2000)),
        timedelta(minutes=int(config.get("USAGE_GRACE_MINUTES", 60))),
        int(config.get("RECONCILE_BATCH_SIZE", 2000)),
    )


def finished_query(now: datetime, grace: timedelta):
    """Finished bookings without a settlement and without an open blocking exception."""
    blocked = exists().where(
        FinanceException.booking_id == Booking.id,
        FinanceException.status == "open",
        FinanceException.blocking.is_(True),
    )
    settled = exists().where(Settlement.booking_id == Booking.id)
    return select(Booking.id).where(
        ~settled,
        ~blocked,
        or_(
            and_(
                Booking.kind == "instrument",
                or_(
                    Booking.status.in_(("completed", "no_show")),
                    and_(Booking.status == "checked_in", Booking.ends_at <= now),
                ),
            ),
            and_(Booking.kind == "compute", Booking.status == "confirmed", Booking.ends_at <= now - grace),
        ),
    )


def reconcile(now: datetime | None = None, triggered_by_id: int | None = None) -> ReconciliationRun:
    """Settle every finished booking as of ``now``; commits once per batch."""
    now = now or clock.now()
    tolerance_bp, grace, batch_size = settings()
    fault_after = _fault_switch()
    run = ReconciliationRun(started_at=clock.now(), as_of=now, triggered_by_id=triggered_by_id)
    db.session.add(run)
    db.session.flush()
    period = ledger.open_period_for(now)
    last_id = 0
    while True:
        ids = list(
            db.session.scalars(
                finished_query(now, grace).where(Booking.id > last_id).order_by(Booking.id).limit(batch_size)
            )
        )
        if not ids:
            break
        with _collector_paused():
            settled, raised = _reconcile_batch(
                ids, now, period, tolerance_bp, run.id, fault_after, run.settled
            )
        run.settled += settled
        run.exceptions += raised
        db.session.commit()  # one batch, one transaction: a crash loses at most this batch, redone on rerun
        last_id = ids[-1]
    run.finished_at = clock.now()
    db.session.flush()
    return run


@contextmanager
def _collector_paused():
    """Pause Python's cyclic garbage collector for one batch. A batch allocates some hundred
    thousand short-lived containers and no cycles worth collecting; each collection they trigger
    walks every object of the process (about a sixth of the run, measured). Memory stays bounded by
    the batch size, and the collector is back on between batches."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _inject_fault(after: int) -> None:
    if os.environ.get("RECONCILE_FAULT_MODE") == "sigkill":
        os.kill(os.getpid(), signal.SIGKILL)  # a real crash: no rollback, no cleanup
    raise ReconcileFault(f"fault injected after {after} bookings")


def _fault_switch() -> int | None:
    """Test-only: kill the run after K settled bookings (read only when TESTING is set)."""
    if not current_app.config.get("TESTING"):
        return None
    value = os.environ.get("RECONCILE_FAULT_AFTER")
    return int(value) if value else None


# --- one batch ------------------------------------------------------------------------------------------


def _load(ids: list[int]) -> list[Finished]:
    rows = db.session.execute(
        select(
            Booking.id,
            Booking.kind,
            Booking.status,
            Booking.team_id,
            Team.district_code,
            Team.organization_id,
            Booking.starts_at,
            Booking.ends_at,
            Booking.estimated_cost_fen,
            Booking.fee_fen,
            Booking.instrument_id,
            Lab.id.label("lab_id"),
            Lab.organization_id.label("lab_org"),
            ComputeOffer.provider_id,
            ComputeOffer.price_per_gpu_hour_fen,
            Provider.organization_id.label("provider_org"),
        )
        .join(Team, Booking.team_id == Team.id)
        .outerjoin(Instrument, Booking.instrument_id == Instrument.id)
        .outerjoin(Lab, Instrument.lab_id == Lab.id)
        .outerjoin(ComputeOffer, Booking.offer_id == ComputeOffer.id)
        .outerjoin(Provider, ComputeOffer.provider_id == Provider.id)
        .where(among(Booking.id, ids))
        .order_by(Booking.id)
    ).all()
    return [
        Finished(
            id=r.id,
            kind=r.kind,
            status=r.status,
            team_id=r.team_id,
            team_district=r.district_code,
            team_organization_id=r.organization_id,
            payee=("lab", r.lab_id) if r.kind == "instrument" else ("provider", r.provider_id),
            payee_organization_id=r.lab_org if r.kind == "instrument" else r.provider_org,
            starts_at=r.starts_at,
            ends_at=r.ends_at,
            estimated_cost_fen=r.estimated_cost_fen,
            fee_fen=r.fee_fen,
            price_per_gpu_hour_fen=r.price_per_gpu_hour_fen,
        )
        for r in rows
    ]


def _actual_costs(batch: list[Finished], tolerance_bp: int) -> None:
    """Fill in the actual cost and the end of use; note exceptions."""
    compute_ids = [b.id for b in batch if b.kind == "compute"]
    usage = {}
    if compute_ids:
        usage = {
            row.booking_id: row
            for row in db.session.execute(
                select(
                    UsageRecord.booking_id,
                    *_summed_microhours(),
                    func.min(UsageRecord.started_at).label("first"),
                    func.max(UsageRecord.ended_at).label("last"),
                    func.count().label("records"),
                )
                .where(among(UsageRecord.booking_id, compute_ids))
                .group_by(UsageRecord.booking_id)
            )
        }
    resolved = _resolved_exceptions([b.id for b in batch])
    instrument_rows = {}
    instrument_ids = [b.id for b in batch if b.kind == "instrument" and b.status != "no_show"]
    if instrument_ids:
        instrument_rows = {
            booking.id: booking
            for booking in db.session.scalars(select(Booking).where(among(Booking.id, instrument_ids)))
        }
    for b in batch:
        if b.kind == "instrument":
            if b.status == "no_show":
                b.actual_cost_fen, b.used_until = 0, b.ends_at
                continue
            booking = instrument_rows[b.id]
            b.actual_cost_fen = time_cost_fen(booking.instrument.hourly_rate_fen, billed_duration(booking))
            b.used_until = max(b.ends_at, booking.actual_ends_at or b.ends_at)
            continue
        row = usage.get(b.id)
        if row is None:
            b.actual_cost_fen, b.used_until = 0, b.ends_at
            continue
        microhours = int(row.microhours) + int(row.hours or 0) * MICROHOURS_PER_HOUR
        b.actual_cost_fen = usage_cost_fen(microhours, b.price_per_gpu_hour_fen)
        b.used_until = row.last
        outside = row.first < b.starts_at or row.last > b.ends_at
        over = b.actual_cost_fen * BP > b.estimated_cost_fen * (BP + tolerance_bp)
        if outside or over:
            _note_usage_exceptions(b, row, microhours, outside, over, tolerance_bp, resolved)


def _note_usage_exceptions(
    b: Finished, row, microhours: int, outside: bool, over: bool, tolerance_bp, resolved
):
    """Usage outside the booking window, or above the estimate beyond the tolerance, blocks the
    booking until finance resolves it (a resolved exception of the same kind lets it through)."""
    details = {
        "gpu_hours": str(from_microhours(microhours)),
        "records": row.records,
        "actual_cost_fen": b.actual_cost_fen,
        "estimated_cost_fen": b.estimated_cost_fen,
    }
    if outside and (b.id, "usage_outside_window") not in resolved:
        b.exceptions.append(
            {
                "kind": "usage_outside_window",
                "blocking": True,
                "details": {
                    **details,
                    "first_usage": row.first.isoformat(),
                    "last_usage": row.last.isoformat(),
                },
            }
        )
    if over and (b.id, "over_tolerance") not in resolved:
        b.exceptions.append(
            {
                "kind": "over_tolerance",
                "blocking": True,
                "details": {**details, "tolerance_bp": tolerance_bp},
            }
        )


def _summed_microhours() -> tuple:
    """A booking's micro-GPU-hours, as the columns ``microhours`` and ``hours`` (whole hours, to be
    added). PostgreSQL sums BIGINT into NUMERIC, which cannot overflow; SQLite's integer SUM raises
    on overflow, so there whole hours and the rest are summed apart (no sum then overflows short of
    millions of records for one booking)."""
    micro = UsageRecord.gpu_microhours
    if db.session.get_bind().dialect.name == "postgresql":
        return func.sum(micro).label("microhours"), null().label("hours")
    return (
        func.sum(micro % MICROHOURS_PER_HOUR).label("microhours"),
        func.sum(micro // MICROHOURS_PER_HOUR).label("hours"),
    )


def _resolved_exceptions(booking_ids: list[int]) -> set[tuple[int, str]]:
    return set(
        db.session.execute(
            select(FinanceException.booking_id, FinanceException.kind).where(
                among(FinanceException.booking_id, booking_ids), FinanceException.status == "resolved"
            )
        ).all()
    )


def _reconcile_batch(
    ids: list[int],
    now: datetime,
    period: str,
    tolerance_bp: int,
    run_id: int,
    fault_after: int | None,
    done: int,
) -> tuple[int, int]:
    batch = _load(ids)
    _actual_costs(batch, tolerance_bp)
    raised = _raise_exceptions(batch, now)
    to_settle = [b for b in batch if not any(e["blocking"] for e in b.exceptions)]
    if not to_settle:
        return 0, raised
    # balances: this batch's working copy, kept current as each booking of a team is settled
    vouchers, lines, accounts, balances = _voucher_state(
        [b.team_id for b in to_settle], [b.id for b in to_settle]
    )
    writer = _LedgerWriter(period, now)
    settlements, line_updates, new_lines = [], [], []
    for index, b in enumerate(to_settle):
        if fault_after is not None and done + index >= fault_after:
            _inject_fault(fault_after)
        settlements.append(
            _settle_one(
                b,
                vouchers,
                lines.get(b.id, {}),
                accounts,
                balances,
                writer,
                line_updates,
                new_lines,
                run_id,
                period,
                now,
            )
        )
    writer.flush()
    _executemany(
        "UPDATE subsidy_lines SET committed_fen = committed_fen + ?, settled_fen = settled_fen + ?, "
        "released_fen = released_fen + ? WHERE id = ?",
        line_updates,  # (extra, settle, release, line id)
        postgresql="UPDATE subsidy_lines AS l SET committed_fen = l.committed_fen + x.extra, "
        "settled_fen = l.settled_fen + x.settle, released_fen = l.released_fen + x.release "
        "FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[], %s::bigint[]) AS x(extra, settle, release, id) "
        "WHERE l.id = x.id",
    )
    insert_rows(SubsidyLine.__table__, LINE_COLUMNS, new_lines)
    insert_rows(Settlement.__table__, SETTLEMENT_COLUMNS, settlements)
    add_settlement_totals(
        (period, b.team_id, *b.payee, municipal, district)
        for b, (*_, municipal, district, _subsidy, _team, _fee) in zip(to_settle, settlements, strict=True)
    )
    settled_ids = [b.id for b in to_settle if b.status != "no_show"]
    if settled_ids:
        db.session.execute(
            update(Booking)
            .where(among(Booking.id, settled_ids))
            .values(status="settled")
            .execution_options(synchronize_session=False)
        )
    # card holds are only marked here; the capture_payments job captures (never the API in the batch)
    mark_settled([b.id for b in to_settle])
    return len(to_settle), raised


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


def _executemany(statement: str, rows: list[tuple], *, postgresql: str | None = None) -> None:
    """Run one of the batch's bulk statements straight on the driver.

    SQLite: ``executemany`` (in-process, cheap per row). PostgreSQL: the ``postgresql`` form, sent
    once with one array per column (``unnest``), since executemany there costs a round trip per row.
    SQLAlchemy's per-row parameter processing is skipped: these statements carry only ints and keys.
    """
    if not rows:
        return
    connection = db.session.connection()
    if connection.dialect.name == "postgresql" and postgresql:
        columns = tuple(list(column) for column in zip(*rows, strict=True))
        connection.exec_driver_sql(postgresql, columns)
    else:
        marker = "?" if connection.dialect.paramstyle == "qmark" else "%s"
        connection.exec_driver_sql(statement.replace("?", marker), rows)


def _raise_exceptions(batch: list[Finished], now: datetime) -> int:
    rows = [
        {
            "kind": e["kind"],
            "booking_id": b.id,
            "provider_id": b.payee[1] if b.payee[0] == "provider" else None,
            "district_code": b.team_district,
            "details": e["details"],
            "blocking": e["blocking"],
            "status": "open",
            "unique_key": f"{e['kind']}:booking:{b.id}",
            "created_at": now,
        }
        for b in batch
        for e in b.exceptions
    ]
    if not rows:
        return 0
    inserted = db.session.execute(
        insert_ignoring_conflicts(FinanceException)
        .on_conflict_do_nothing(index_elements=["unique_key"])
        .returning(FinanceException.id),
        rows,
    ).all()
    return len(inserted)


@dataclass
class _VoucherFacts:
    id: int
    program_id: int
    level: str
    rate_bp: int
    ceiling_bp: int | None
    kinds: frozenset
    district_code: str | None
    status: str
    expires_at: datetime


class _Line(NamedTuple):
    id: int
    booking_id: int
    voucher_id: int
    committed_fen: int
    released_fen: int
    settled_fen: int

    @property
    def outstanding_fen(self) -> int:
        return self.committed_fen - self.released_fen - self.settled_fen


def _voucher_state(team_ids: list[int], booking_ids: list[int]):
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
            Program.district_code,
        )
        .join(Program, Voucher.program_id == Program.id)
        .where(among(Voucher.team_id, set(team_ids)))
    ).all()
    vouchers: dict[int, dict[int, _VoucherFacts]] = defaultdict(dict)  # team → voucher id → facts
    for r in rows:
        kinds = frozenset(
            k for k, on in (("compute", r.covers_compute), ("instrument", r.covers_instrument)) if on
        )
        vouchers[r.team_id][r.id] = _VoucherFacts(
            r.id,
            r.program_id,
            r.level,
            r.rate_bp,
            r.stack_ceiling_bp,
            kinds,
            r.district_code,
            r.status,
            r.expires_at,
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
    lines: dict[int, dict[int, _Line]] = defaultdict(dict)  # booking → voucher id → line
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
        lines[line[1]][line[2]] = _Line._make(line)
    return vouchers, lines, accounts, balances


JOURNAL_COLUMNS = (
    "kind",
    "occurred_at",
    "period",
    "program_id",
    "voucher_id",
    "booking_id",
    "unique_key",
    "memo",
)
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
)


class _LedgerWriter:
    """Collects the batch's journal transactions and postings and writes them with executemany."""

    def __init__(self, period: str, now: datetime):
        self.period, self.now = period, now
        self.transactions: list[tuple] = []  # in the order of JOURNAL_COLUMNS
        self.postings: list[tuple[int, int, str]] = []  # (account id, amount, transaction key)
        self.deltas: dict[int, int] = defaultdict(int)
        self.totals: dict[tuple[int, str, str], int] = defaultdict(int)  # (account, period, kind)
        self.accounts: dict[tuple, LedgerAccount] = {}  # programme accounts, opened on first use
        self.account_ids: dict[tuple, int] = {}

    def account(self, kind: str, program_id: int, payee: tuple[str, int] | None = None) -> int:
        """A programme account's id (unissued, or payable to a payee)."""
        key = (kind, program_id, payee)
        if key not in self.account_ids:
            self.accounts[key] = ledger.account(kind, program_id, payee=payee)
            self.account_ids[key] = self.accounts[key].id
        return self.account_ids[key]

    def add(self, kind: str, entries: list[tuple[int, int]], *, program_id, voucher_id, booking_id, key):
        """One balanced transaction of (account id, amount) entries; postings to the same account
        are merged."""
        merged: dict[int, int] = {}
        for account_id, amount in entries:
            if amount:
                merged[account_id] = merged.get(account_id, 0) + amount
        if 0 in merged.values():
            merged = {account_id: amount for account_id, amount in merged.items() if amount}
        if not merged:
            return
        assert sum(merged.values()) == 0, merged
        self.transactions.append(
            (kind, self.now, self.period, program_id, voucher_id, booking_id, key, "reconciliation")
        )
        for account_id, amount in merged.items():
            self.postings.append((account_id, amount, key))
            self.deltas[account_id] += amount
            self.totals[(account_id, self.period, kind)] += amount

    def flush(self) -> None:
        """Bulk inserts throughout. The postings need their transaction's id: the batch's
        transactions are the rows above the highest id seen before inserting them (ids only grow),
        found again by their unique settlement keys. No RETURNING, which SQLite's executemany lacks."""
        if not self.transactions:
            return
        journal = JournalTransaction.__table__
        before = db.session.scalar(select(func.coalesce(func.max(JournalTransaction.id), 0)))
        insert_rows(journal, JOURNAL_COLUMNS, self.transactions)
        ids = dict(
            db.session.execute(
                select(JournalTransaction.unique_key, JournalTransaction.id).where(
                    JournalTransaction.id > before
                )
            ).all()
        )
        insert_rows(
            Posting.__table__,
            ("transaction_id", "account_id", "amount_fen"),
            [(ids[key], account_id, amount) for account_id, amount, key in self.postings],
        )
        _executemany(
            "UPDATE ledger_accounts SET balance_fen = balance_fen + ? WHERE id = ?",
            [(delta, account_id) for account_id, delta in sorted(self.deltas.items()) if delta],
            postgresql="UPDATE ledger_accounts AS a SET balance_fen = a.balance_fen + x.delta "
            "FROM unnest(%s::bigint[], %s::bigint[]) AS x(delta, id) WHERE a.id = x.id",
        )
        ledger.add_period_totals(self.totals)
        for account in self.accounts.values():
            db.session.expire(account, ["balance_fen"])


def _settle_one(
    b: Finished,
    vouchers,
    lines: dict[int, SubsidyLine],
    accounts,
    balances: dict,
    writer: _LedgerWriter,
    line_updates: list,
    new_lines: list,
    run_id: int,
    period: str,
    now: datetime,
) -> tuple:
    facts = vouchers.get(b.team_id, {})
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
                ),
                status=status,
                kinds=voucher.kinds,
                district_code=voucher.district_code,
            )
        )
    usable = usable_vouchers(
        candidates,
        kind=b.kind,
        team_district_code=b.team_district,
        team_organization_id=b.team_organization_id,
        payee_organization_id=b.payee_organization_id,
        until=b.used_until or b.ends_at,
    )
    if b.kind == "compute" and b.used_until is not None:
        for voucher in facts.values():
            if voucher.expires_at < b.used_until and voucher.id in lines:
                _note_after_expiry(b, voucher.id, now)
    split = split_cost(b.actual_cost_fen, usable)
    paid = {line.voucher_id: line.amount_fen for line in split.lines}
    by_level = {"municipal": 0, "district": 0}
    for line in split.lines:
        by_level[line.level] += line.amount_fen
    position = {line.voucher_id: line.position for line in split.lines}
    entries: list[tuple] = []  # one settlement transaction per booking, across its vouchers
    programs_touched: set[int] = set()
    touched = sorted(set(paid) | set(lines))
    for voucher_id in touched:
        voucher = facts[voucher_id]
        line = lines.get(voucher_id)
        outstanding = line.outstanding_fen if line else 0
        amount = paid.get(voucher_id, 0)
        committed = accounts[("committed", voucher_id)]
        available = accounts[("available", voucher_id)]
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
        balances[("available", voucher_id)] += -from_available + (over if voucher.status == "active" else 0)
        balances[("committed", voucher_id)] -= outstanding
        if line is not None:
            # money drawn beyond the original hold counts as committed at settlement, then settled
            line_updates.append((from_available, amount, over, line.id))
        elif amount:
            new_lines.append(
                (
                    b.id,
                    voucher_id,
                    voucher.program_id,
                    voucher.level,
                    len(lines) + position[voucher_id],
                    amount,  # committed
                    0,  # released
                    amount,  # settled
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
    return (  # in the order of SETTLEMENT_COLUMNS
        b.id,
        run_id,
        now,
        period,
        *b.payee,
        b.actual_cost_fen,
        municipal,
        district,
        municipal + district,
        b.actual_cost_fen - municipal - district,
        b.fee_fen,
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
