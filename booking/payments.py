"""The team's share by card, through a Stripe-compatible HTTP API (real Stripe or localstripe).

- At booking: a PaymentIntent for the estimated share, ``capture_method=manual``, confirmed with the
  booking's payment method (a hold). A declined card books nothing.
- Final amounts (settlement, late-cancel fee, no-show fee) are *marked* on the booking's payment row;
  the ``capture_payments`` job talks to the API, so a slow or failing API never holds a database batch
  and never blocks settlement. Capture less than the hold releases the rest; more captures the hold and
  charges the difference with a second intent. After ``PAYMENTS_CAPTURE_MAX_FAILURES`` failures finance
  sees a ``capture_failed`` exception (the job keeps trying).
- A free cancellation cancels the hold before the request returns (left to the job if the API is down).
- A booking that fails after its hold may exist leaves no hold behind (``booking.card_holds``).

Every POST carries an ``Idempotency-Key``; since a Stripe-compatible server may ignore those
(localstripe does), an attempt that may have reached the server is reconciled before it is repeated:
intents are found again by ``metadata[payment_key]`` and captures/cancels read the intent's state first.

With no ``PAYMENTS_API_BASE`` configured nothing here runs: the share is owed (``invoice``).
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import random
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping

import requests
from flask import current_app
from requests.adapters import HTTPAdapter
from sqlalchemy import select

from booking import card_holds, clock, input_rules
from booking.db import among, db, insert_ignoring_conflicts
from booking.errors import DomainError, Invalid, ServiceUnavailable
from booking.models import Booking, BookingPayment, PaymentEvent, PaymentStatus

CURRENCY = "cny"
RETRY_STATUSES = frozenset({409, 429}) | frozenset(range(500, 600))


class PaymentsUnavailable(ServiceUnavailable):
    """The payments API could not be reached or kept failing (503 ``payments_unavailable``)."""


class PaymentDeclined(Invalid):
    code = "payment_declined"


class BadSignature(DomainError):
    status = 400
    code = "bad_signature"


class PaymentsRejected(DomainError):
    """The payments API refused a request for a reason that is not the card's (a bug or a bad state)."""

    status = 502
    code = "payments_error"


# --- wire format ------------------------------------------------------------------------------------------


def encode_form(params: Mapping, prefix: str = "") -> list[tuple[str, str]]:
    """Stripe's form encoding: nested keys as ``a[b]=…``, lists as ``a[0]=…``, booleans lower-case,
    None left out."""
    pairs: list[tuple[str, str]] = []

    def add(key: str, value) -> None:
        if value is None:
            return
        if isinstance(value, Mapping):
            for k, v in value.items():
                add(f"{key}[{k}]", v)
        elif isinstance(value, list | tuple):
            for i, v in enumerate(value):
                add(f"{key}[{i}]", v)
        elif isinstance(value, bool):
            pairs.append((key, "true" if value else "false"))
        else:
            pairs.append((key, str(value)))

    for name, value in params.items():
        add(f"{prefix}[{name}]" if prefix else str(name), value)
    return pairs


def sign_payload(payload: bytes, secret: str, timestamp: int) -> str:
    """A ``Stripe-Signature`` header value for a payload (tests and tools)."""
    mac = hmac.new(secret.encode(), str(timestamp).encode() + b"." + payload, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify_signature(
    payload: bytes, header: str | None, secret: str, now: float, tolerance: int = 300
) -> bool:
    """Stripe's scheme: HMAC-SHA256 over ``t.payload``; any ``v1`` may match; ``t`` within tolerance."""
    if not header or not secret:
        return False
    timestamp, signatures = None, []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t":
            timestamp = value
        elif key == "v1":
            signatures.append(value)
    # ASCII digits of a plausible length: "²".isdigit() is true, and int() of 5,000 digits raises
    if timestamp is None or not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
        return False
    if not signatures:
        return False
    if abs(now - int(timestamp)) > tolerance:
        return False
    expected = hmac.new(secret.encode(), timestamp.encode() + b"." + payload, hashlib.sha256).hexdigest()
    matched = False
    for signature in signatures:  # compare all, constant time each
        matched |= hmac.compare_digest(expected, signature)
    return matched


# --- client -----------------------------------------------------------------------------------------------


class PaymentsClient:
    """A pooled ``requests`` session with timeouts, retries (capped exponential backoff with jitter on
    network errors, 409, 429 and 5xx; ``Stripe-Should-Retry`` obeyed) and Stripe errors mapped."""

    def __init__(self, base: str, key: str, *, timeout=(3.05, 10.0), retries=3, backoff=0.5, backoff_cap=8.0):
        self.base = base.rstrip("/")
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.backoff_cap = backoff_cap
        self.session = requests.Session()
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=16, max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.headers.update({"Authorization": f"Bearer {key}", "User-Agent": "suanli-booking/1"})

    def _sleep(self, attempt: int) -> None:
        delay = min(self.backoff_cap, self.backoff * (2**attempt))
        time.sleep(delay * random.uniform(0.5, 1.0))

    def _once(self, method: str, path: str, params: Mapping | None, key: str | None) -> requests.Response:
        headers = {"Idempotency-Key": key} if method == "POST" and key else {}
        if method == "POST":
            return self.session.post(
                self.base + path, data=encode_form(params or {}), headers=headers, timeout=self.timeout
            )
        return self.session.get(self.base + path, params=encode_form(params or {}), timeout=self.timeout)

    def single_attempt(self) -> PaymentsClient:
        """This client (same pool) without retries: for clean-up after a request already failed."""
        quick = copy.copy(self)
        quick.retries = 0
        return quick

    def call(
        self, method: str, path: str, params: Mapping | None = None, *, key: str | None = None, reconcile=None
    ):
        """One API call with retries. ``reconcile()`` runs before a repeat of a POST whose earlier attempt
        may have reached the server; a non-None result is taken as that attempt's outcome."""
        if method == "POST" and key is None:
            key = uuid.uuid4().hex
        last: Exception | None = None
        for attempt in range(self.retries + 1):
            if attempt:
                self._sleep(attempt - 1)
                if reconcile is not None:
                    found = reconcile()
                    if found is not None:
                        return found
            try:
                response = self._once(method, path, params, key)
            except requests.ConnectionError as error:  # includes connect timeouts and refused
                last = error
                continue
            except requests.Timeout as error:  # read timeout: the request may have been processed
                last = error
                continue
            should_retry = response.headers.get("Stripe-Should-Retry")
            if response.status_code < 400:
                return response.json()
            if should_retry == "false" or (
                should_retry != "true" and response.status_code not in RETRY_STATUSES
            ):
                raise _mapped_error(response)
            last = _mapped_error(response)
        raise PaymentsUnavailable(
            "The payments service is unavailable; please try again shortly.",
            details={"payments": [str(last)[:200]]},
        )

    # --- PaymentIntents ---

    def intents(self, pages: int = 1) -> Iterator[dict]:
        """Recent intents, 100 a page (Stripe lists the newest first)."""
        after = None
        for _ in range(pages):
            listing = self.call("GET", "/v1/payment_intents", {"limit": 100, "starting_after": after})
            data = listing.get("data", [])
            yield from data
            if not listing.get("has_more") or not data:
                return
            after = data[-1]["id"]

    def find_intent(self, payment_key: str) -> dict | None:
        """The intent created with this key (by metadata), if any: recent intents are listed."""
        for intent in self.intents():
            if (intent.get("metadata") or {}).get("payment_key") == payment_key:
                return intent
        return None

    def find_holds(self, payment_key: str) -> list[dict]:
        """Intents created with this key or a retry's fresh key derived from it (``key-…``)."""
        family = []
        for intent in self.intents():
            key = (intent.get("metadata") or {}).get("payment_key") or ""
            if key == payment_key or key.startswith(payment_key + "-"):
                family.append(intent)
        return family

    def create_intent(self, payment_key: str, params: dict, *, lookup_first: bool = False) -> dict:
        """Create (or, for a key used before, find) the intent for ``payment_key``."""
        if lookup_first:
            earlier = self.find_intent(payment_key)
            if earlier is not None:
                return earlier
        params = {**params, "metadata": {**params.get("metadata", {}), "payment_key": payment_key}}
        return self.call(
            "POST",
            "/v1/payment_intents",
            params,
            key=payment_key,
            reconcile=lambda: self.find_intent(payment_key),
        )

    def intent(self, intent_id: str) -> dict:
        return self.call("GET", f"/v1/payment_intents/{intent_id}")

    def capture(self, intent_id: str, amount_fen: int, key: str) -> dict:
        return self.call(
            "POST",
            f"/v1/payment_intents/{intent_id}/capture",
            {"amount_to_capture": amount_fen},
            key=key,
            reconcile=lambda: _settled_or_none(self.intent(intent_id)),
        )

    def cancel(self, intent_id: str, key: str) -> dict:
        return self.call(
            "POST",
            f"/v1/payment_intents/{intent_id}/cancel",
            key=key,
            reconcile=lambda: _settled_or_none(self.intent(intent_id)),
        )

    def refund(self, intent_id: str, amount_fen: int, key: str) -> dict:
        def earlier():
            listing = self.call("GET", "/v1/refunds", {"payment_intent": intent_id, "limit": 100})
            for refund in listing.get("data", []):
                if (refund.get("metadata") or {}).get("refund_key") == key:
                    return refund
            return None

        params = {"payment_intent": intent_id, "amount": amount_fen, "metadata": {"refund_key": key}}
        return self.call("POST", "/v1/refunds", params, key=key, reconcile=earlier)


def _settled_or_none(intent: dict) -> dict | None:
    return intent if intent.get("status") in ("succeeded", "canceled") else None


def _mapped_error(response: requests.Response) -> DomainError:
    try:
        error = response.json().get("error") or {}
    except ValueError:
        error = {}
    message = error.get("message") or f"HTTP {response.status_code}"
    if error.get("type") == "card_error" or response.status_code == 402:
        return PaymentDeclined(
            "The card was declined.",
            details={"payment_method": [error.get("decline_code") or error.get("code") or message]},
        )
    if response.status_code in RETRY_STATUSES:
        return PaymentsUnavailable(f"The payments service answered {response.status_code}: {message}")
    if error.get("param") == "payment_method" or (
        response.status_code == 404 and "payment_method" in message
    ):
        return Invalid("Unknown payment method.", details={"payment_method": [message]})
    return PaymentsRejected(f"The payments service refused the request: {message}")


def client() -> PaymentsClient | None:
    """The app's client, or None when no payments API is configured (the embedded default)."""
    config = current_app.config
    base = config.get("PAYMENTS_API_BASE")
    if not base:
        return None
    cache = current_app.extensions.setdefault("payments", {})
    identity = (base, config.get("PAYMENTS_API_KEY"))
    if identity not in cache:
        cache.clear()
        cache[identity] = PaymentsClient(
            base,
            config.get("PAYMENTS_API_KEY") or "",
            timeout=config.get("PAYMENTS_TIMEOUT_SECONDS", (3.05, 10.0)),
            retries=config.get("PAYMENTS_MAX_RETRIES", 3),
            backoff=config.get("PAYMENTS_BACKOFF_SECONDS", 0.5),
            backoff_cap=config.get("PAYMENTS_BACKOFF_CAP_SECONDS", 8.0),
        )
    return cache[identity]


# --- booking flow -----------------------------------------------------------------------------------------


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
    from vouchers.commitments import quote

    team_pays_fen = quote(booking)["team_pays_fen"]
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
        card_holds.track(key)  # the create may reach the server and its answer be lost
        intent = api.create_intent(key, params)
    card_holds.track(key, intent["id"])
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
    from sqlalchemy import update

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
    from booking.models import Booking
    from vouchers.models import Settlement

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


def _final_share(row: BookingPayment) -> int:
    from vouchers.models import Settlement

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
    from vouchers.models import FinanceException

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
    released = card_holds.release_orphans()
    return {"done": done, "failed": failed, "released": released}


# --- refunds and webhooks ---------------------------------------------------------------------------------


def refund(booking: Booking, amount_fen: int) -> BookingPayment:
    row = payment_of(booking)
    api = client()
    if row is None or api is None or row.captured_fen == 0:
        raise Invalid("Nothing was captured for this booking.", code="nothing_captured")
    refundable = row.captured_fen - row.refunded_fen
    if amount_fen > refundable:
        raise Invalid(
            "A refund cannot exceed what was captured.",
            code="refund_exceeds_captured",
            details={"amount_fen": [f"At most {refundable}."]},
        )
    held = min(row.captured_fen - _extra_amount(row), row.captured_fen)
    remaining = amount_fen
    # refund the hold's capture first, then the difference's intent
    from_hold = max(0, min(remaining, held - min(row.refunded_fen, held)))
    parts = [(row.hold_intent_id, from_hold), (row.extra_intent_id, remaining - from_hold)]
    for intent_id, amount in parts:
        if intent_id and amount > 0:
            api.refund(intent_id, amount, key=f"{row.hold_key}:refund:{row.refunded_fen}:{amount}")
            row.refunded_fen += amount
    booking.payment_status = (
        PaymentStatus.REFUNDED if row.refunded_fen == row.captured_fen else PaymentStatus.PARTIALLY_REFUNDED
    )
    db.session.flush()
    return row


def _extra_amount(row: BookingPayment) -> int:
    if not row.extra_intent_id:
        return 0
    return max(0, row.captured_fen - min(row.due_fen or 0, row.authorized_fen))


WEBHOOK_STATUS = {
    "payment_intent.succeeded": PaymentStatus.CAPTURED,
    "payment_intent.payment_failed": PaymentStatus.FAILED,
    "payment_intent.canceled": PaymentStatus.CANCELED,
}


def handle_event(event: dict) -> bool:
    """Apply a verified webhook event once. Returns False for an event already processed."""
    event_id = str(event.get("id") or "")
    if not event_id:
        raise Invalid("Event without id.", details={"id": ["Required."]})
    result = db.session.execute(
        insert_ignoring_conflicts(PaymentEvent)
        .values(event_id=event_id, type=str(event.get("type"))[:60], received_at=clock.now())
        .on_conflict_do_nothing(index_elements=["event_id"])
        .returning(PaymentEvent.__table__.c.event_id)
    )
    if result.first() is None:  # seen before (rowcount is not reliable for ON CONFLICT on every driver)
        return False
    status = WEBHOOK_STATUS.get(event.get("type"))
    intent = ((event.get("data") or {}).get("object")) or {}
    if status and intent.get("id"):
        row = db.session.scalar(select(BookingPayment).where(BookingPayment.hold_intent_id == intent["id"]))
        if row is not None:
            booking = db.session.get(Booking, row.booking_id)
            # refunds and our own finer states win over the provider's coarse news
            if booking.payment_status in (
                PaymentStatus.AUTHORIZED,
                PaymentStatus.CAPTURE_PENDING,
                PaymentStatus.CANCEL_PENDING,
                PaymentStatus.CAPTURE_FAILED,
            ):
                booking.payment_status = status
            if status == PaymentStatus.CANCELED and row.action == "cancel":
                row.action = None
    db.session.flush()
    return True


def webhook_payload(body: bytes, header: str | None) -> dict:
    secret = current_app.config.get("PAYMENTS_WEBHOOK_SECRET") or ""
    if not verify_signature(body, header, secret, now=time.time()):
        raise BadSignature("The Stripe-Signature header does not verify.")
    try:
        event = input_rules.parse_json(body)
    except input_rules.MalformedJson as error:
        raise BadSignature("Malformed event.", code="bad_request") from error
    if not _is_event(event):  # verified, but not shaped like an event
        raise BadSignature("Malformed event: not an event object.", code="bad_request")
    return event


def _is_event(event) -> bool:
    """``{"id", "type", "data": {"object": {"id": str, ...}}}``, the parts ``handle_event`` reads,
    in shapes it can read and text the database can store."""
    if not isinstance(event, dict):
        return False
    data = event.get("data", {})
    intent = data.get("object", {}) if isinstance(data, dict) else None
    if not isinstance(intent, dict) and intent is not None:
        return False
    intent_id = (intent or {}).get("id")
    if not (intent_id is None or isinstance(intent_id, str)):
        return False
    texts = [text for text in (event.get("id"), event.get("type"), intent_id) if isinstance(text, str)]
    return isinstance(data, dict | None) and all(
        input_rules.is_storable_text(text) and len(text) <= 100 for text in texts
    )
