"""Faults between us and the payments API (served by ``responses``): timeouts after send, 500s, 429,
connection refused, Stripe-Should-Retry, Stripe's decline object. Never a duplicate intent or capture,
the booking state stays consistent and the ledger holds."""

from __future__ import annotations

import json
from urllib.parse import parse_qs

import pytest
import requests
import responses

from booking.core import clock
from booking.core.db import db
from booking.models import Booking, BookingPayment
from tests.flow.payments.conftest import NOW, at, book
from vouchers.verify import ledger_breaches

INTENTS = "/v1/payment_intents"


def _intent(body: dict, status="requires_capture", intent_id="pi_1") -> dict:
    return {
        "id": intent_id,
        "object": "payment_intent",
        "amount": int(body["amount"][0]),
        "currency": body["currency"][0],
        "status": status,
        "metadata": {k[9:-1]: v[0] for k, v in body.items() if k.startswith("metadata[")},
    }


class FakeStripe:
    """A tiny PaymentIntents server with scripted faults for the next POSTs."""

    def __init__(self, mock: responses.RequestsMock, base: str):
        self.base = base
        self.intents: dict[str, dict] = {}
        self.faults: list = []  # per POST to create: "timeout_after_send", "refused", (status, headers)
        self.posts: list[tuple[str, dict, str | None]] = []
        self.down = False  # every request refused (after a "timeout_after_send" too)
        mock.add_callback(responses.POST, base + INTENTS, callback=self._create)
        mock.add_callback(responses.GET, base + INTENTS, callback=self._list)
        mock.add_callback(
            responses.POST, __import__("re").compile(base + INTENTS + r"/pi_\w+/(capture|cancel)"), self._act
        )
        mock.add_callback(responses.GET, __import__("re").compile(base + INTENTS + r"/pi_\w+$"), self._get)

    def _check_up(self):
        if self.down:
            raise requests.ConnectionError("connection refused")

    def _fault(self):
        if not self.faults:
            return None
        fault = self.faults.pop(0)
        if fault == "refused":
            raise requests.ConnectionError("connection refused")
        return fault

    def _create(self, request):
        self._check_up()
        body = parse_qs(request.body)
        self.posts.append((request.url, body, request.headers.get("Idempotency-Key")))
        fault = self._fault()
        if isinstance(fault, tuple):
            status, headers, payload = fault
            return status, headers, json.dumps(payload)
        intent = _intent(body, intent_id=f"pi_{len(self.intents) + 1}")
        if body.get("capture_method") != ["manual"]:
            intent["status"] = "succeeded"
        self.intents[intent["id"]] = intent
        if fault in ("timeout_after_send", "timeout_then_down"):
            self.down = fault == "timeout_then_down"
            raise requests.ReadTimeout("read timed out")
        return 200, {}, json.dumps(intent)

    def _list(self, request):
        self._check_up()
        return 200, {}, json.dumps({"object": "list", "data": list(self.intents.values())})

    def _get(self, request):
        self._check_up()
        intent = self.intents[request.url.rsplit("/", 1)[1]]
        return 200, {}, json.dumps(intent)

    def _act(self, request):
        self._check_up()
        intent_id, action = request.url.split("/")[-2:]
        self.posts.append((request.url, parse_qs(request.body or ""), request.headers.get("Idempotency-Key")))
        intent = self.intents[intent_id]
        if intent["status"] != "requires_capture":
            return 400, {}, json.dumps({"error": {"type": "invalid_request_error", "message": "done"}})
        intent["status"] = "succeeded" if action == "capture" else "canceled"
        if action == "capture":
            intent["amount_received"] = int(parse_qs(request.body)["amount_to_capture"][0])
        fault = self._fault()
        if fault == "timeout_after_send":
            raise requests.ReadTimeout("read timed out")
        return 200, {}, json.dumps(intent)

    def creates(self):
        return [p for p in self.posts if p[0].endswith(INTENTS)]

    def actions(self, action):
        return [p for p in self.posts if p[0].endswith("/" + action)]


@pytest.fixture
def stripe(fake_payments):
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield FakeStripe(mock, fake_payments)


def bookings_of(app):
    with app.app_context():
        return db.session.query(Booking).all()


def test_timeout_after_send_finds_the_intent_instead_of_creating_another(api, app, stripe, lab_world):
    stripe.faults = ["timeout_after_send"]
    response = book(api, lab_world, payment_method="pm_card_visa", headers={"Idempotency-Key": "k-1"})
    assert response.status_code == 201, response.json
    assert len(stripe.creates()) == 1 and len(stripe.intents) == 1
    assert response.json["payment"] == {"status": "authorized", "intent_id": "pi_1"}


@pytest.mark.parametrize(
    "fault",
    [
        (500, {}, {"error": {"type": "api_error", "message": "boom"}}),
        (429, {}, {"error": {"type": "invalid_request_error", "code": "rate_limit"}}),
        (409, {}, {"error": {"type": "idempotency_error", "message": "in flight"}}),
        "refused",
    ],
)
def test_transient_failures_are_retried_with_the_same_key(api, stripe, lab_world, fault):
    stripe.faults = [fault, fault]
    response = book(api, lab_world, payment_method="pm_card_visa")
    assert response.status_code == 201, response.json
    keys = {key for _, _, key in stripe.creates()}
    assert len(stripe.creates()) == 3 and len(keys) == 1 and len(stripe.intents) == 1


def test_stripe_should_retry_false_is_obeyed(api, app, stripe, lab_world):
    stripe.faults = [(500, {"Stripe-Should-Retry": "false"}, {"error": {"type": "api_error"}})]
    response = book(api, lab_world, payment_method="pm_card_visa")
    assert response.status_code == 503
    assert response.json["error"]["code"] == "payments_unavailable"
    assert len(stripe.creates()) == 1
    assert bookings_of(app) == []


def test_api_down_books_nothing_with_503(api, app, stripe, lab_world):
    stripe.faults = ["refused"] * 4
    response = book(api, lab_world, payment_method="pm_card_visa")
    assert response.status_code == 503
    assert response.json["error"]["code"] == "payments_unavailable"
    assert bookings_of(app) == []
    with app.app_context():
        assert ledger_breaches() == []


def test_stripe_decline_object_is_422_payment_declined(api, app, stripe, lab_world):
    decline = {
        "error": {
            "type": "card_error",
            "code": "card_declined",
            "decline_code": "generic_decline",
            "message": "Your card was declined.",
            "param": "",
        }
    }
    stripe.faults = [(402, {}, decline)]
    response = book(api, lab_world, payment_method="pm_card_visa_chargeDeclined")
    assert response.status_code == 422
    assert response.json["error"]["code"] == "payment_declined"
    assert len(stripe.creates()) == 1  # a decline is never retried
    assert bookings_of(app) == []


def test_retried_request_reuses_the_hold_of_a_rolled_back_attempt(api, app, stripe, lab_world):
    # first attempt: the intent is created but every answer is lost → 503, nothing booked
    stripe.faults = ["timeout_then_down"]
    first = book(api, lab_world, payment_method="pm_card_visa", headers={"Idempotency-Key": "same"})
    assert first.status_code == 503
    assert len(stripe.intents) == 1 and bookings_of(app) == []
    stripe.down = False
    second = book(api, lab_world, payment_method="pm_card_visa", headers={"Idempotency-Key": "same"})
    assert second.status_code == 201, second.json
    assert len(stripe.intents) == 1  # found by metadata, not created again
    assert second.json["payment"]["intent_id"] == "pi_1"


def test_capture_timeout_after_send_is_not_captured_twice(api, app, stripe, lab_world):
    booking = book(api, lab_world, payment_method="pm_card_visa").json
    stripe.faults = ["timeout_after_send"]
    with clock.frozen_at(at(3, 9)):  # late: the fee is captured
        cancelled = api.as_(lab_world["owner"]).post(f"/api/v1/bookings/{booking['id']}/cancel", json={})
    assert cancelled.status_code == 200
    assert cancelled.json["payment"]["status"] == "captured"
    assert len(stripe.actions("capture")) == 1
    assert stripe.intents["pi_1"]["amount_received"] == 10_000
    with app.app_context():
        row = db.session.get(BookingPayment, booking["id"])
        assert row.action is None and row.captured_fen == 10_000
        assert ledger_breaches() == []


def test_free_cancel_with_the_api_down_is_left_to_the_job(api, app, stripe, lab_world):
    booking = book(api, lab_world, payment_method="pm_card_visa").json
    stripe.down = True
    with clock.frozen_at(NOW):
        cancelled = api.as_(lab_world["owner"]).post(f"/api/v1/bookings/{booking['id']}/cancel", json={})
    assert cancelled.status_code == 200
    assert cancelled.json["status"] == "cancelled"
    assert cancelled.json["payment"]["status"] == "cancel_pending"
    stripe.down = False
    from booking.jobs import JOBS

    with app.app_context(), clock.frozen_at(NOW):
        assert JOBS["capture_payments"].run(NOW) == {"done": 1, "failed": 0, "released": 0}
        db.session.commit()
    assert stripe.intents["pi_1"]["status"] == "canceled"
    fetched = api.as_(lab_world["owner"]).get(f"/api/v1/bookings/{booking['id']}").json
    assert fetched["payment"]["status"] == "canceled"
