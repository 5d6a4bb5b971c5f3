"""Round trips against a real localstripe: hold at booking, capture less/more at settlement, release on
free cancellation, fee on late cancel and no-show, refunds, declined cards, signed webhooks."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import pytest
import requests
from sqlalchemy import select

from booking.core import clock
from booking.core.db import db
from booking.flow.attendance import mark_no_shows
from booking.flow.payments.wire import sign_payload
from booking.jobs import JOBS
from booking.models import BookingPayment, PaymentEvent
from tests.flow.payments.conftest import NOW, WEBHOOK_SECRET, at, book
from vouchers.models import FinanceException
from vouchers.reconciliation import reconcile
from vouchers.verify import ledger_breaches


def intents(base):
    listing = requests.get(
        base + "/v1/payment_intents", params={"limit": 100}, auth=("sk_test_x", ""), timeout=5
    )
    return listing.json()["data"]


def intent(base, intent_id):
    return requests.get(base + f"/v1/payment_intents/{intent_id}", auth=("sk_test_x", ""), timeout=5).json()


def run_capture_job(app, now):
    with app.app_context(), clock.frozen_at(now):
        result = JOBS["capture_payments"].run(now)
        db.session.commit()
        return result


def row_of(app, booking_id) -> BookingPayment:
    with app.app_context():
        return db.session.get(BookingPayment, booking_id)


def test_booking_holds_the_team_share(api, payments_on, lab_world):
    response = book(api, lab_world, payment_method="pm_card_visa")
    assert response.status_code == 201, response.json
    booking = response.json
    assert booking["payment"]["status"] == "authorized"
    held = intent(payments_on, booking["payment"]["intent_id"])
    assert held["status"] == "requires_capture"
    assert held["amount"] == booking["quote"]["team_pays_fen"] == 20_000
    assert held["currency"] == "cny" and held["capture_method"] == "manual"
    assert held["metadata"]["booking_id"] == str(booking["id"])
    assert len(intents(payments_on)) == 1


def test_payment_method_is_required_when_payments_are_on(api, payments_on, lab_world):
    response = book(api, lab_world)
    assert response.status_code == 422
    assert "payment_method" in response.json["error"]["details"]
    assert intents(payments_on) == []


def test_declined_card_books_nothing(api, payments_on, lab_world):
    # localstripe 1.15 declines pm_card_visa_chargeDeclined only when attaching it to a customer; its
    # card that fails at charge time is pm_card_chargeCustomerFail (402 card_declined). Real Stripe's
    # answer for pm_card_visa_chargeDeclined is replayed in test_faults.py.
    response = book(api, lab_world, payment_method="pm_card_chargeCustomerFail")
    assert response.status_code == 422, response.json
    assert response.json["error"]["code"] == "payment_declined"
    listed = api.as_(lab_world["owner"]).get("/api/v1/bookings").json["items"]
    assert listed == []
    # the slot is still free
    assert book(api, lab_world, payment_method="pm_card_visa").status_code == 201


def test_free_instrument_has_no_intent(api, make, payments_on, lab_world):
    lab_world["instrument"] = make.instrument(
        lab_world["lab"], hourly_rate_fen=0, operation_mode="public_interest"
    )
    response = book(api, lab_world)
    assert response.status_code == 201
    assert response.json["payment"] == {"status": "none", "intent_id": None}
    assert intents(payments_on) == []


def test_free_cancellation_cancels_the_hold_before_returning(api, payments_on, lab_world):
    booking = book(api, lab_world, payment_method="pm_card_visa").json
    with clock.frozen_at(NOW):
        cancelled = api.as_(lab_world["owner"]).post(f"/api/v1/bookings/{booking['id']}/cancel", json={})
    assert cancelled.status_code == 200
    assert cancelled.json["fee_fen"] == 0
    assert cancelled.json["payment"]["status"] == "canceled"
    assert intent(payments_on, booking["payment"]["intent_id"])["status"] == "canceled"


def test_late_cancel_captures_only_the_fee(api, payments_on, lab_world):
    booking = book(api, lab_world, payment_method="pm_card_visa").json
    with clock.frozen_at(at(3, 9)):  # an hour before start: late
        cancelled = api.as_(lab_world["owner"]).post(f"/api/v1/bookings/{booking['id']}/cancel", json={})
    assert cancelled.status_code == 200
    assert cancelled.json["fee_fen"] == 10_000
    assert cancelled.json["payment"]["status"] == "captured"
    held = intent(payments_on, booking["payment"]["intent_id"])
    assert held["status"] == "succeeded"
    charge = held["latest_charge"]  # localstripe shows the released rest as refunded
    assert charge["captured"] and charge["amount"] - charge["amount_refunded"] == 10_000


def test_no_show_fee_is_captured_by_the_job(api, app, payments_on, lab_world):
    booking = book(api, lab_world, payment_method="pm_card_visa").json
    later = at(3, 11)
    with app.app_context(), clock.frozen_at(later):
        assert mark_no_shows(later) == 1
        db.session.commit()
    assert row_of(app, booking["id"]).action == "capture"
    assert run_capture_job(app, later) == {"done": 1, "failed": 0, "released": 0}
    row = row_of(app, booking["id"])
    assert row.action is None and row.captured_fen == row.due_fen > 0
    assert intent(payments_on, booking["payment"]["intent_id"])["status"] == "succeeded"
    # the job again does nothing: no double capture
    assert run_capture_job(app, later) == {"done": 0, "failed": 0, "released": 0}


@pytest.fixture
def compute_world(make):
    provider = make.provider()
    provider_user = make.user("provider", provider_id=provider.id)
    owner = make.user("founder")
    team = make.team(owner=owner, verified=True, district_code="500106")
    offer = make.offer(provider, gpus_total=8, price_per_gpu_hour_fen=10_000)
    return {"provider_user": provider_user, "owner": owner, "team": team, "offer": offer}


C_NOW = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)
C_START = C_NOW + timedelta(hours=1)
C_END = C_START + timedelta(hours=2)
C_AFTER = C_END + timedelta(hours=2)


def compute_booking(api, world):
    body = {
        "team_id": world["team"].id,
        "offer_id": world["offer"].id,
        "gpus": 1,
        "starts_at": C_START.isoformat(),
        "ends_at": C_END.isoformat(),
        "payment_method": "pm_card_visa",
    }
    with clock.frozen_at(C_NOW):
        response = api.as_(world["owner"]).post("/api/v1/bookings", json=body)
    assert response.status_code == 201, response.json
    return response.json


def usage_and_settle(api, app, world, booking_id, gpu_hours):
    body = {
        "records": [
            {
                "external_id": f"{booking_id}-0",
                "booking_id": booking_id,
                "started_at": C_START.isoformat(),
                "ended_at": C_END.isoformat(),
                "gpu_hours": gpu_hours,
            }
        ]
    }
    response = api.as_(world["provider_user"]).post("/api/v1/usage-records", json=body)
    assert response.status_code == 200 and not response.json["rejected"], response.json
    with app.app_context(), clock.frozen_at(C_AFTER):
        run = reconcile(C_AFTER)
        db.session.commit()
        assert run.settled == 1
        assert ledger_breaches() == []


def test_settlement_captures_less_and_releases_the_rest(api, app, payments_on, compute_world):
    booking = compute_booking(api, compute_world)
    assert booking["payment"]["status"] == "authorized"
    usage_and_settle(api, app, compute_world, booking["id"], "1.5")
    assert row_of(app, booking["id"]).action == "capture"  # marked, not yet called
    assert intent(payments_on, booking["payment"]["intent_id"])["status"] == "requires_capture"
    assert run_capture_job(app, C_AFTER)["done"] == 1
    held = intent(payments_on, booking["payment"]["intent_id"])
    assert held["status"] == "succeeded"
    assert row_of(app, booking["id"]).captured_fen == 15_000
    fetched = api.as_(compute_world["owner"]).get(f"/api/v1/bookings/{booking['id']}").json
    assert fetched["payment"]["status"] == "captured"
    assert fetched["settlement"]["team_pays_fen"] == 15_000
    assert len(intents(payments_on)) == 1


def test_settlement_above_the_hold_charges_the_difference(api, app, payments_on, compute_world):
    booking = compute_booking(api, compute_world)
    usage_and_settle(api, app, compute_world, booking["id"], "2.3")  # within the 20 % tolerance
    assert run_capture_job(app, C_AFTER)["done"] == 1
    row = row_of(app, booking["id"])
    assert row.captured_fen == 23_000 and row.extra_intent_id
    extra = intent(payments_on, row.extra_intent_id)
    assert extra["status"] == "succeeded" and extra["amount"] == 3_000
    assert intent(payments_on, row.hold_intent_id)["status"] == "succeeded"
    assert len(intents(payments_on)) == 2
    assert run_capture_job(app, C_AFTER) == {"done": 0, "failed": 0, "released": 0}
    assert len(intents(payments_on)) == 2


def test_refund_never_more_than_captured(api, app, payments_on, compute_world, make):
    admin = make.user("admin")
    booking = compute_booking(api, compute_world)
    usage_and_settle(api, app, compute_world, booking["id"], "2.3")
    run_capture_job(app, C_AFTER)
    path = f"/api/v1/bookings/{booking['id']}/refund"
    too_much = api.as_(admin).post(path, json={"amount_fen": 23_001})
    assert too_much.status_code == 422
    assert api.as_(compute_world["owner"]).post(path, json={"amount_fen": 1}).status_code == 403
    first = api.as_(admin).post(path, json={"amount_fen": 21_000})
    assert first.status_code == 200, first.json
    assert first.json["payment"]["status"] == "partially_refunded"
    rest = api.as_(admin).post(path, json={"amount_fen": 2_000})
    assert rest.json["payment"]["status"] == "refunded"
    assert api.as_(admin).post(path, json={"amount_fen": 1}).status_code == 422
    refunds = requests.get(payments_on + "/v1/refunds", auth=("sk_test_x", ""), timeout=5).json()["data"]
    assert sorted(r["amount"] for r in refunds) == [1_000, 2_000, 20_000]


def test_capture_failures_go_to_finance_and_never_block_settlement(api, app, payments_on, compute_world):
    booking = compute_booking(api, compute_world)
    usage_and_settle(api, app, compute_world, booking["id"], "1")
    app.config["PAYMENTS_CAPTURE_MAX_FAILURES"] = 2
    dead = "http://127.0.0.1:9"  # nothing listens: connection refused
    try:
        app.config["PAYMENTS_API_BASE"] = dead
        for _ in range(2):
            assert run_capture_job(app, C_AFTER)["failed"] == 1
    finally:
        app.config["PAYMENTS_API_BASE"] = payments_on
        app.config["PAYMENTS_CAPTURE_MAX_FAILURES"] = 5
    with app.app_context():
        exceptions = db.session.scalars(
            select(FinanceException).where(FinanceException.booking_id == booking["id"])
        ).all()
        assert [e.kind for e in exceptions] == ["capture_failed"]
    fetched = api.as_(compute_world["owner"]).get(f"/api/v1/bookings/{booking['id']}").json
    assert fetched["status"] == "settled" and fetched["payment"]["status"] == "capture_failed"
    # the API is back: the job finishes the capture
    assert run_capture_job(app, C_AFTER)["done"] == 1
    assert row_of(app, booking["id"]).captured_fen == 10_000


def _post_event(client, event: dict, timestamp: int | None = None, secret: str = WEBHOOK_SECRET):
    payload = json.dumps(event).encode()
    header = sign_payload(payload, secret, timestamp or int(time.time()))
    return client.post(
        "/api/v1/payments/webhook",
        data=payload,
        headers={"Stripe-Signature": header, "Content-Type": "application/json"},
    )


def test_webhook_updates_the_intent_state_once(api, app, client, payments_on, lab_world):
    booking = book(api, lab_world, payment_method="pm_card_visa").json
    event = {
        "id": "evt_1",
        "type": "payment_intent.payment_failed",
        "data": {"object": {"id": booking["payment"]["intent_id"], "object": "payment_intent"}},
    }
    first = _post_event(client, event)
    assert first.status_code == 200 and first.json == {"received": True, "duplicate": False}
    again = _post_event(client, event)
    assert again.status_code == 200 and again.json["duplicate"] is True
    fetched = api.as_(lab_world["owner"]).get(f"/api/v1/bookings/{booking['id']}").json
    assert fetched["payment"]["status"] == "failed"
    with app.app_context():
        assert db.session.scalar(select(PaymentEvent.type).where(PaymentEvent.event_id == "evt_1"))


@pytest.mark.parametrize(
    "tamper",
    ["wrong_secret", "stale", "no_header", "garbled"],
)
def test_webhook_refuses_bad_signatures(client, payments_on, tamper):
    event = {"id": "evt_bad", "type": "payment_intent.succeeded", "data": {"object": {"id": "pi_x"}}}
    if tamper == "wrong_secret":
        response = _post_event(client, event, secret="whsec_other")
    elif tamper == "stale":
        response = _post_event(client, event, timestamp=int(time.time()) - 301)
    elif tamper == "no_header":
        response = client.post("/api/v1/payments/webhook", json=event)
    else:
        response = client.post(
            "/api/v1/payments/webhook", json=event, headers={"Stripe-Signature": "t=abc,v1=zz"}
        )
    assert response.status_code == 400
    assert response.json["error"]["code"] == "bad_signature"


def test_detail_page_shows_the_payment_state(api, client, login, payments_on, lab_world):
    booking = book(api, lab_world, payment_method="pm_card_visa").json
    login(lab_world["owner"])
    with clock.frozen_at(NOW):
        page = client.get(f"/bookings/{booking['id']}").get_data(as_text=True)
    assert "已在银行卡上预授权" in page


def test_rejection_releases_the_hold(api, make, payments_on, lab_world):
    lab_world["instrument"] = make.instrument(
        lab_world["lab"], hourly_rate_fen=10_000, requires_approval=True
    )
    booking = book(api, lab_world, payment_method="pm_card_visa").json
    assert booking["status"] == "pending_approval" and booking["payment"]["status"] == "authorized"
    with clock.frozen_at(NOW):
        rejected = api.as_(lab_world["manager"]).post(f"/api/v1/bookings/{booking['id']}/reject", json={})
    assert rejected.status_code == 200
    assert rejected.json["payment"]["status"] == "canceled"
    assert intent(payments_on, booking["payment"]["intent_id"])["status"] == "canceled"


def test_webhooks_signed_by_localstripe_verify(api, client, payments_on, lab_world):
    """localstripe delivers its own signed events to a loopback receiver; replayed to our endpoint
    byte for byte they verify, are applied once, and a tampered copy is refused."""
    import http.server
    import threading

    received: list[tuple[bytes, str]] = []

    class Receiver(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((body, self.headers["Stripe-Signature"]))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        hook = f"http://127.0.0.1:{server.server_address[1]}/hook"
        registered = requests.post(
            payments_on + "/_config/webhooks/tests",
            data={"url": hook, "secret": WEBHOOK_SECRET},
            timeout=5,
        )
        assert registered.status_code == 200
        booking = book(api, lab_world, payment_method="pm_card_visa").json
        with clock.frozen_at(at(3, 9)):  # late cancel: the fee is captured → payment_intent.succeeded
            api.as_(lab_world["owner"]).post(f"/api/v1/bookings/{booking['id']}/cancel", json={})
        intent_id = booking["payment"]["intent_id"]

        def ours() -> list[tuple[bytes, str]]:
            # localstripe sends each event a second after it happens, to the hooks registered *then*:
            # an earlier test's events (a declined card, say) may arrive here too — keep only ours.
            return [
                (body, signature)
                for body, signature in list(received)
                if json.loads(body)["type"] == "payment_intent.succeeded"
                and json.loads(body)["data"]["object"]["id"] == intent_id
            ]

        deadline = time.monotonic() + 30  # leaves as soon as it arrives; CI machines can be busy
        while not ours() and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        server.shutdown()
        server.server_close()
    assert ours(), f"localstripe delivered no payment_intent.succeeded for {intent_id}: {received!r}"
    body, signature = ours()[0]
    headers = {"Stripe-Signature": signature, "Content-Type": "application/json"}
    first = client.post("/api/v1/payments/webhook", data=body, headers=headers)
    assert first.status_code == 200 and first.json["duplicate"] is False
    assert client.post("/api/v1/payments/webhook", data=body, headers=headers).json["duplicate"] is True
    tampered = body.replace(b"succeeded", b"canceled")
    assert client.post("/api/v1/payments/webhook", data=tampered, headers=headers).status_code == 400
    fetched = api.as_(lab_world["owner"]).get(f"/api/v1/bookings/{booking['id']}").json
    assert fetched["payment"]["status"] == "captured"
