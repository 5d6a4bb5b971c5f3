"""A booking's card hold, placed at booking.

A PaymentIntent for the team's estimated share, ``capture_method=manual``, confirmed with the
booking's payment method (a hold). A declined card books nothing. With no payments API configured
nothing is held: the share is owed (``invoice``). A hold of a booking that then fails is released by
``booking.flow.payments.orphan_holds``.
"""

from __future__ import annotations

import hashlib
import logging
import uuid

from sqlalchemy import delete

from booking.core.db import db
from booking.core.errors import DomainError, Invalid
from booking.flow.payments.client import PaymentDeclined, client
from booking.flow.payments.orphan_holds import track
from booking.flow.payments.wire import CURRENCY
from booking.models import Booking, BookingPayment, PaymentStatus
from vouchers import commitments

log = logging.getLogger(__name__)


def hold_key_for(booking: Booking, request_key: str | None, payment_method: str, amount_fen: int) -> str:
    """Deterministic per request when the client sent an Idempotency-Key (so a retried request finds
    the hold of an attempt that was rolled back); otherwise unique to this booking attempt."""
    if request_key:
        seed = f"{booking.created_by_id}:{request_key}:{payment_method}:{amount_fen}"
        digest = hashlib.sha256(seed.encode()).hexdigest()[:40]
        return f"hold-{digest}"
    return f"hold-{booking.id}-{uuid.uuid4().hex}"


def authorize_booking(booking: Booking, payment_method: str | None, request_key: str | None = None) -> None:
    """Hold the team's estimated share on the card (called after the voucher split, same request).
    Raises PaymentDeclined (422) or PaymentsUnavailable (503): the request then books nothing."""
    api = client()
    if api is None:
        return
    team_pays_fen = commitments.quote(booking)["team_pays_fen"]
    if team_pays_fen <= 0:
        booking.payment_status = PaymentStatus.NONE
        return
    if not payment_method:
        raise Invalid(
            "A payment method is needed for the team's share.",
            code="payment_method_required",
            details={"payment_method": ["Required."]},
        )
    key = hold_key_for(booking, request_key, payment_method, team_pays_fen)
    params = {
        "amount": team_pays_fen,
        "currency": CURRENCY,
        "capture_method": "manual",
        "confirm": True,
        "payment_method": payment_method,
        "metadata": {"booking_id": booking.id, "team_id": booking.team_id},
    }
    intent = None
    if request_key:
        # A key derived from the request's Idempotency-Key may have holds of rolled-back attempts:
        # one still in place for this amount is reused, any other released; once the key's own
        # intent is spent (cancelled, another amount) a fresh key places the one new hold.
        family = api.find_holds(key)
        held = [i for i in family if i.get("status") == "requires_capture"]
        intent = next((i for i in held if i.get("amount") == team_pays_fen), None)
        for stale in held:
            if stale is not intent:
                api.cancel(stale["id"], key=f"{stale['metadata']['payment_key']}:cancel")
        if intent is not None:
            key = intent["metadata"]["payment_key"]
        elif family:
            key = f"{key}-{uuid.uuid4().hex[:8]}"
    if intent is None:
        track(key)  # the create may reach the server and its answer be lost
        intent = api.create_intent(key, params)
    track(key, intent["id"])
    if intent.get("status") != "requires_capture":
        if intent.get("status") in ("requires_action", "requires_confirmation"):
            api.cancel(intent["id"], key=f"{key}:cancel")
        raise PaymentDeclined(
            "The card was not authorised.", details={"payment_method": [str(intent.get("status"))]}
        )
    db.session.add(
        BookingPayment(
            booking_id=booking.id,
            payment_method=payment_method,
            hold_key=key,
            hold_intent_id=intent["id"],
            authorized_fen=team_pays_fen,
            captured_fen=0,
            refunded_fen=0,
            attempts=0,
        )
    )
    booking.payment_status = PaymentStatus.AUTHORIZED
    booking.payment_intent_id = intent["id"]
    db.session.flush()


def payment_of(booking: Booking) -> BookingPayment | None:
    return db.session.get(BookingPayment, booking.id)


def rehold_booking(booking: Booking, payment_method: str | None) -> BookingPayment | None:
    """A moved booking (``booking.flow.reschedule``), re-quoted: its card hold follows the team's new
    share. The same amount keeps the hold; another amount places a new hold (with ``payment_method``,
    else the old hold's) and returns the old one's row for the caller to cancel once the move stands
    (a refused move then never touched the card; a hold this request placed is released with the
    rollback, ``orphan_holds``). A share of 0 drops the hold."""
    if client() is None:
        return None
    old = payment_of(booking)
    team_pays_fen = commitments.quote(booking)["team_pays_fen"]
    if old is not None and old.authorized_fen == team_pays_fen and old.action is None:
        return None
    if old is not None:
        db.session.expunge(old)  # detached: what the caller cancels, no longer the booking's
        db.session.execute(delete(BookingPayment).where(BookingPayment.booking_id == booking.id))
    booking.payment_status, booking.payment_intent_id = PaymentStatus.NONE, None
    authorize_booking(booking, payment_method or (old.payment_method if old is not None else None))
    return old


def cancel_replaced_hold(replaced: BookingPayment | None) -> None:
    """Cancel the hold a moved booking no longer keeps. Best effort: when the API fails now, the
    ``capture_payments`` job's orphan sweep cancels it (no booking refers to it any more)."""
    api = client()
    if replaced is None or api is None or not replaced.hold_intent_id:
        return
    try:
        api.single_attempt().cancel(replaced.hold_intent_id, key=f"{replaced.hold_key}:cancel")
    except DomainError as error:
        log.warning("replaced card hold not cancelled now, the capture_payments job will: %s", error)
