"""Final amounts on a booking's card hold, and the ``capture_payments`` job that collects them.

Final amounts (settlement, late-cancel fee, no-show fee) are *marked* on the booking's payment row;
the ``capture_payments`` job talks to the API, so a slow or failing API never holds a database batch
and never blocks settlement. Capture less than the hold releases the rest; more captures the hold and
charges the difference with a second intent. After ``PAYMENTS_CAPTURE_MAX_FAILURES`` failures finance
sees a ``capture_failed`` exception (the job keeps trying). A free cancellation cancels the hold
before the request returns (left to the job if the API is down).
"""

from __future__ import annotations

from collections.abc import Iterable

from flask import current_app
from sqlalchemy import select, update

from booking.core import clock
from booking.core.db import among, db, insert_ignoring_conflicts
from booking.core.errors import DomainError
from booking.flow.payments.client import PaymentDeclined, client
from booking.flow.payments.holds import payment_of
from booking.flow.payments.orphan_holds import release_orphans
from booking.flow.payments.wire import CURRENCY
from booking.models import Booking, BookingPayment, PaymentStatus
from vouchers.models import FinanceException, Settlement


def on_cancel(booking: Booking) -> None:
    """Cancellation: release the hold, or capture the late fee, before the response if the API
    answers; otherwise the job retries."""
    row = payment_of(booking)
    if row is None or row.due_fen is not None:
        return
    if booking.fee_fen > 0:
        row.action, row.due_fen = "capture", booking.fee_fen
    else:
        row.action, row.due_fen = "cancel", 0
    booking.payment_status = (
        PaymentStatus.CAPTURE_PENDING if row.action == "capture" else PaymentStatus.CANCEL_PENDING
    )
    db.session.flush()
    if client() is None:
        return
    try:
        perform(row)
    except (DomainError, ValueError, KeyError) as error:  # a garbled answer is a failure too
        _note_failure(row, error)


def mark_fee(booking: Booking) -> None:
    """No-show: the fee is captured by the job (never the API inside the no-show job's batch)."""
    row = payment_of(booking)
    if row is None or row.due_fen is not None:
        return
    row.action, row.due_fen = ("capture", booking.fee_fen) if booking.fee_fen > 0 else ("cancel", 0)
    booking.payment_status = (
        PaymentStatus.CAPTURE_PENDING if row.action == "capture" else PaymentStatus.CANCEL_PENDING
    )


def mark_settled(booking_ids: Iterable[int]) -> None:
    """Reconciliation: settled bookings owe their final team share (captured by the job). One
    set-based statement, no API call inside the batch."""
    ids = list(booking_ids)
    if not ids:
        return
    db.session.execute(
        update(BookingPayment)
        .where(
            among(BookingPayment.booking_id, ids),
            BookingPayment.due_fen.is_(None),
            BookingPayment.action.is_(None),
        )
        .values(action="capture")
        .execution_options(synchronize_session=False)
    )
    # No card hold (nothing was owed at booking) but a share to pay now: owed, collected outside.
    db.session.execute(
        update(Booking)
        .where(
            among(Booking.id, ids),
            Booking.payment_status == PaymentStatus.NONE,
            Booking.id.in_(select(Settlement.booking_id).where(Settlement.team_fen + Settlement.fee_fen > 0)),
        )
        .values(payment_status=PaymentStatus.INVOICE)
        .execution_options(synchronize_session=False)
    )


def on_bookings_settled(sender, *, booking_ids: list[int]) -> None:
    """Receiver of ``vouchers.settling.bookings_settled`` (connected by ``booking.factory``)."""
    mark_settled(booking_ids)


def _final_share(row: BookingPayment) -> int:
    settled = db.session.scalar(select(Settlement).where(Settlement.booking_id == row.booking_id))
    return settled.team_fen if settled is not None else row.authorized_fen


def perform(row: BookingPayment) -> None:
    """Do the row's pending action against the API, reading the intents' state first (safe to repeat)."""
    api = client()
    booking = db.session.get(Booking, row.booking_id)
    hold = api.intent(row.hold_intent_id)
    if row.action == "cancel":
        if hold["status"] not in ("canceled", "succeeded"):
            hold = api.cancel(row.hold_intent_id, key=f"{row.hold_key}:cancel")
        row.action, row.last_error = None, None
        booking.payment_status = (
            PaymentStatus.CANCELED if hold.get("status") == "canceled" else PaymentStatus.CAPTURED
        )
        db.session.flush()
        return
    if row.due_fen is None:
        row.due_fen = max(0, _final_share(row))
    due = row.due_fen
    if hold["status"] == "requires_capture":
        if due <= 0:
            hold = api.cancel(row.hold_intent_id, key=f"{row.hold_key}:cancel")
        else:
            hold = api.capture(
                row.hold_intent_id, min(due, row.authorized_fen), key=f"{row.hold_key}:capture"
            )
    held = _received(hold, min(due, row.authorized_fen))
    rest = due - held
    extra = 0
    if rest > 0:
        extra_key = f"{row.hold_key}:extra"
        intent = (
            api.intent(row.extra_intent_id)
            if row.extra_intent_id
            else api.create_intent(
                extra_key,
                {
                    "amount": rest,
                    "currency": CURRENCY,
                    "confirm": True,
                    "payment_method": row.payment_method,
                    "metadata": {"booking_id": row.booking_id, "purpose": "difference"},
                },
                lookup_first=True,
            )
        )
        row.extra_intent_id = intent["id"]
        if intent.get("status") != "succeeded":
            db.session.flush()
            raise PaymentDeclined(
                "The difference was not charged.", details={"status": [intent.get("status")]}
            )
        extra = intent.get("amount", rest)
    row.captured_fen = held + extra
    row.action, row.last_error = None, None
    booking.payment_status = PaymentStatus.CAPTURED if row.captured_fen > 0 else PaymentStatus.CANCELED
    db.session.flush()


def _received(intent: dict, expected: int) -> int:
    if intent.get("status") != "succeeded":
        return 0
    received = intent.get("amount_received")
    if isinstance(received, int):
        return received
    charge = intent.get("latest_charge")
    if isinstance(charge, dict) and isinstance(charge.get("amount_captured"), int):
        return charge["amount_captured"]
    return expected


def _note_failure(row: BookingPayment, error: Exception) -> None:
    row.attempts += 1
    row.last_error = str(getattr(error, "message", error))[:500]
    limit = current_app.config.get("PAYMENTS_CAPTURE_MAX_FAILURES", 5)
    booking = db.session.get(Booking, row.booking_id)
    if row.attempts >= limit:
        booking.payment_status = (
            PaymentStatus.CAPTURE_FAILED if row.action == "capture" else PaymentStatus.CANCEL_FAILED
        )
        db.session.execute(
            insert_ignoring_conflicts(FinanceException).on_conflict_do_nothing(index_elements=["unique_key"]),
            [
                {
                    "kind": "capture_failed",
                    "booking_id": row.booking_id,
                    "district_code": booking.team.district_code,
                    "details": {"action": row.action, "due_fen": row.due_fen, "error": row.last_error},
                    "blocking": False,
                    "status": "open",
                    "unique_key": f"capture_failed:{row.booking_id}",
                    "created_at": clock.now(),
                }
            ],
        )
    db.session.flush()


def capture_payments(now=None, limit: int = 200) -> dict:
    """Job: do the pending captures/cancels, each its own unit of work (commits per booking), so a
    failing one never holds back the others nor the database."""
    if client() is None:
        return {"done": 0, "failed": 0, "released": 0}
    ids = list(
        db.session.scalars(
            select(BookingPayment.booking_id)
            .where(BookingPayment.action.is_not(None))
            .order_by(BookingPayment.booking_id)
            .limit(limit)
        )
    )
    db.session.commit()  # release the write intent while the API is called
    done = failed = 0
    for booking_id in ids:
        row = db.session.get(BookingPayment, booking_id)
        if row is None or row.action is None:
            continue
        try:
            perform(row)
            done += 1
        except (DomainError, ValueError, KeyError) as error:
            extra_intent_id = row.extra_intent_id  # an intent that exists stays known
            db.session.rollback()
            row = db.session.get(BookingPayment, booking_id)
            row.extra_intent_id = row.extra_intent_id or extra_intent_id
            _note_failure(row, error)
            failed += 1
        db.session.commit()
    # holds of bookings that failed after placing them, when the API was down at the time
    released = release_orphans()
    return {"done": done, "failed": failed, "released": released}
