"""A service order's card hold works like a booking's: the team's share held at ordering, released
when the order is cancelled or rejected, and the settled share (on the samples processed) captured."""

from __future__ import annotations

from booking.core import clock
from booking.core.db import db
from booking.models import BookingPayment
from instruments.models import ServiceOrder
from tests.flow.payments.test_localstripe import intent, intents, run_capture_job
from tests.support.service_orders import drive, order_world, submit
from vouchers.reconciliation import reconcile
from vouchers.verify import ledger_breaches


def test_the_order_holds_the_team_share_and_cancel_releases_it(api, payments_on, make):
    world = order_world(make, price=10_000)
    order = submit(api, world, samples=2, payment_method="pm_card_visa")
    assert order.status_code == 201, order.json
    order = order.json
    assert order["payment"]["status"] == "authorized"
    held = intent(payments_on, order["payment"]["intent_id"])
    assert (
        held["status"] == "requires_capture" and held["amount"] == order["quote"]["team_pays_fen"] == 20_000
    )
    cancelled = api.as_(world.owner).post(f"/api/v1/service-orders/{order['id']}/cancel").json
    assert cancelled["payment"]["status"] == "canceled"
    assert intent(payments_on, order["payment"]["intent_id"])["status"] == "canceled"

    rejected = submit(api, world, samples=1, payment_method="pm_card_visa").json
    answer = api.as_(world.manager).post(f"/api/v1/service-orders/{rejected['id']}/reject", json={})
    assert answer.json["payment"]["status"] == "canceled"
    assert intent(payments_on, rejected["payment"]["intent_id"])["status"] == "canceled"


def test_a_declined_card_orders_nothing(api, payments_on, make):
    world = order_world(make)
    refused = submit(api, world, payment_method="pm_card_chargeCustomerFail")
    assert refused.status_code == 422 and refused.json["error"]["code"] == "payment_declined"
    assert api.as_(world.owner).get("/api/v1/service-orders").json["items"] == []
    missing = submit(api, world)
    assert missing.status_code == 422 and "payment_method" in missing.json["error"]["details"]


def test_settlement_captures_the_share_of_the_samples_processed(api, app, payments_on, make):
    world = order_world(make, price=10_000)
    order = submit(api, world, samples=3, payment_method="pm_card_visa").json
    drive(api, world, order["id"], "completed", samples_processed=2)
    now = clock.now()
    with app.app_context():
        assert reconcile(now).settled == 1
        db.session.commit()
        assert ledger_breaches() == []
    assert run_capture_job(app, now)["done"] == 1
    assert intent(payments_on, order["payment"]["intent_id"])["status"] == "succeeded"
    with app.app_context():
        booking_id = db.session.get(ServiceOrder, order["id"]).booking_id
        assert db.session.get(BookingPayment, booking_id).captured_fen == 20_000
    fetched = api.as_(world.owner).get(f"/api/v1/service-orders/{order['id']}").json
    assert fetched["payment"]["status"] == "captured" and fetched["settlement"]["team_pays_fen"] == 20_000
    assert len(intents(payments_on)) == 1
