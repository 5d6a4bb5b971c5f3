"""Reconciliation: settle finished bookings on their actual cost.

For every finished, unsettled booking (instrument: checked out, checked in past its end, or no-show;
compute: past its end plus ``USAGE_GRACE_MINUTES`` so late usage records arrive first; service: the
lab completed the order it backs):

1. the actual cost — billed time × rate, or the metered GPU-hours × price (integer micro-GPU-hours
   summed exactly, then half up to the fen), or the samples processed × the order's price per sample;
2. exceptions instead of silent charges — usage outside the booking window or more than
   ``USAGE_TOLERANCE_BP`` above the estimate blocks the booking until finance resolves it; usage
   after a voucher's expiry gets no subsidy from that voucher;
3. the same stacking split on the actual cost (none where the team booked without vouchers), against the balances of this moment (the booking's
   own commitment counts as available to it), so no voucher, cap, budget or ceiling is exceeded;
4. settle (commitment → payable to the lab or provider), release the over-commitment, and record
   the team's final share for payment capture.

Set-based and batched: bookings are taken ``RECONCILE_BATCH_SIZE`` at a time, usage is aggregated
with one GROUP BY per batch (from a covering index), and the batch's rows are plain tuples written
with one bulk statement per table (``booking.core.db.insert_rows``: arrays on PostgreSQL, executemany on
SQLite; ``vouchers.settling``). Each batch is one database transaction; each booking has a unique settlement key
(``settlements.booking_id`` and the journal's ``unique_key``), so a rerun — after a crash or not —
settles nothing twice and ends with the same ledger, to the fen. ``bench/reconcile.py`` measures it.
"""

from __future__ import annotations

import gc
import os
import signal
from contextlib import contextmanager
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import and_, exists, func, null, or_, select
from sqlalchemy.orm import aliased

from booking.core import clock
from booking.core.db import among, db, insert_ignoring_conflicts
from booking.core.money import BP, MICROHOURS_PER_HOUR, time_cost_fen, usage_cost_fen
from booking.models import Booking, BookingStatus, ComputeOffer, Provider, Team, UsageRecord
from booking.models.usage import from_microhours
from instruments.models import Instrument, Lab, Service, ServiceOrder
from vouchers import ledger
from vouchers.models import FinanceException, ReconciliationRun, Settlement
from vouchers.settling import BatchSettler, Finished


class ReconcileFault(RuntimeError):
    """Raised by the test-only fault switch (``RECONCILE_FAULT_AFTER``)."""


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
                    Booking.status.in_((BookingStatus.COMPLETED, BookingStatus.NO_SHOW)),
                    and_(Booking.status == BookingStatus.CHECKED_IN, Booking.ends_at <= now),
                ),
            ),
            and_(
                Booking.kind == "compute",
                Booking.status == BookingStatus.CONFIRMED,
                Booking.ends_at <= now - grace,
            ),
            # a service order's backing booking: completed by the lab
            and_(Booking.kind == "service", Booking.status == BookingStatus.COMPLETED),
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


def _payee(r) -> tuple[tuple[str, int], int]:
    """(payee, payee organisation) of a loaded row: the instrument's or the service's lab, or the
    offer's provider."""
    if r.kind == "instrument":
        return ("lab", r.lab_id), r.lab_org
    if r.kind == "service":
        return ("lab", r.service_lab_id), r.service_lab_org
    return ("provider", r.provider_id), r.provider_org


def _load(ids: list[int]) -> list[Finished]:
    service_lab = aliased(Lab)
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
            Booking.use_vouchers,
            Booking.instrument_id,
            Lab.id.label("lab_id"),
            Lab.organization_id.label("lab_org"),
            ComputeOffer.provider_id,
            ComputeOffer.price_per_gpu_hour_fen,
            Provider.organization_id.label("provider_org"),
            ServiceOrder.samples_processed,
            ServiceOrder.price_per_sample_fen,
            service_lab.id.label("service_lab_id"),
            service_lab.organization_id.label("service_lab_org"),
        )
        .join(Team, Booking.team_id == Team.id)
        .outerjoin(Instrument, Booking.instrument_id == Instrument.id)
        .outerjoin(Lab, Instrument.lab_id == Lab.id)
        .outerjoin(ComputeOffer, Booking.offer_id == ComputeOffer.id)
        .outerjoin(Provider, ComputeOffer.provider_id == Provider.id)
        .outerjoin(ServiceOrder, ServiceOrder.booking_id == Booking.id)
        .outerjoin(Service, ServiceOrder.service_id == Service.id)
        .outerjoin(service_lab, Service.lab_id == service_lab.id)
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
            payee=_payee(r)[0],
            payee_organization_id=_payee(r)[1],
            starts_at=r.starts_at,
            ends_at=r.ends_at,
            estimated_cost_fen=r.estimated_cost_fen,
            fee_fen=r.fee_fen,
            price_per_gpu_hour_fen=r.price_per_gpu_hour_fen,
            use_vouchers=r.use_vouchers,
            # a service order: the samples the lab processed, at the price frozen at ordering
            actual_cost_fen=(r.samples_processed or 0) * (r.price_per_sample_fen or 0)
            if r.kind == "service"
            else 0,
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
    instrument_ids = [b.id for b in batch if b.kind == "instrument" and b.status != BookingStatus.NO_SHOW]
    if instrument_ids:
        instrument_rows = {
            booking.id: booking
            for booking in db.session.scalars(select(Booking).where(among(Booking.id, instrument_ids)))
        }
    for b in batch:
        if b.kind == "service":  # the cost came with the order (samples processed × price)
            b.used_until = b.ends_at
            continue
        if b.kind == "instrument":
            if b.status == BookingStatus.NO_SHOW:
                b.actual_cost_fen, b.used_until = 0, b.ends_at
                continue
            booking = instrument_rows[b.id]
            b.actual_cost_fen = time_cost_fen(booking.instrument.hourly_rate_fen, booking.billed_duration)
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
    settler = BatchSettler(to_settle, period=period, now=now, run_id=run_id)
    for index, b in enumerate(to_settle):
        if fault_after is not None and done + index >= fault_after:
            _inject_fault(fault_after)
        settler.settle(b)
    settler.write()
    return len(to_settle), raised


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
