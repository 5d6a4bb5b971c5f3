"""A moved booking's card hold follows the team's new share (against a real localstripe)."""

from __future__ import annotations

from booking.core import clock
from tests.flow.payments.conftest import NOW, at, book
from tests.flow.payments.test_localstripe import intent, intents


def move(api, world, booking_id, starts_at, ends_at, **extra):
    body = {"starts_at": starts_at.isoformat(), "ends_at": ends_at.isoformat(), **extra}
    with clock.frozen_at(NOW):
        return api.as_(world["owner"]).post(f"/api/v1/bookings/{booking_id}/reschedule", json=body)


def test_another_share_replaces_the_hold(api, payments_on, lab_world):
    booking = book(api, lab_world, payment_method="pm_card_visa").json  # 2 h: 20,000 held
    old_intent = booking["payment"]["intent_id"]
    moved = move(api, lab_world, booking["id"], at(4, 10), at(4, 11))
    assert moved.status_code == 200, moved.json
    assert moved.json["payment"]["status"] == "authorized"
    new_intent = moved.json["payment"]["intent_id"]
    assert new_intent != old_intent
    assert intent(payments_on, new_intent)["amount"] == 10_000
    assert intent(payments_on, new_intent)["status"] == "requires_capture"
    assert intent(payments_on, old_intent)["status"] == "canceled"


def test_the_same_share_keeps_the_hold(api, payments_on, lab_world):
    booking = book(api, lab_world, payment_method="pm_card_visa").json
    moved = move(api, lab_world, booking["id"], at(4, 14), at(4, 16))
    assert moved.status_code == 200
    assert moved.json["payment"] == booking["payment"]
    assert len(intents(payments_on)) == 1


def test_a_refused_move_keeps_the_hold(api, make, payments_on, lab_world):
    booking = book(api, lab_world, payment_method="pm_card_visa").json
    make.blackout(lab_world["instrument"], at(4, 8), at(4, 12))
    refused = move(api, lab_world, booking["id"], at(4, 10), at(4, 11))
    assert refused.status_code == 422
    assert intent(payments_on, booking["payment"]["intent_id"])["status"] == "requires_capture"
    assert len(intents(payments_on)) == 1
    again = api.as_(lab_world["owner"]).get(f"/api/v1/bookings/{booking['id']}").json
    assert again["payment"] == booking["payment"]


def test_a_declined_new_hold_moves_nothing(api, payments_on, lab_world):
    booking = book(api, lab_world, payment_method="pm_card_visa").json
    refused = move(
        api, lab_world, booking["id"], at(4, 10), at(4, 11), payment_method="pm_card_chargeCustomerFail"
    )
    assert refused.status_code == 422 and refused.json["error"]["code"] == "payment_declined"
    again = api.as_(lab_world["owner"]).get(f"/api/v1/bookings/{booking['id']}").json
    assert again == booking
    assert intent(payments_on, booking["payment"]["intent_id"])["status"] == "requires_capture"
