"""A closure or blackout that cancels a booking releases its card hold (real localstripe), however
late: the lab cancelled, so no fee is captured."""

from __future__ import annotations

import requests

from booking.core import clock
from tests.flow.payments.conftest import at, book


def intent(base, intent_id):
    return requests.get(base + f"/v1/payment_intents/{intent_id}", auth=("sk_test_x", ""), timeout=5).json()


def test_a_closure_releases_the_hold_even_an_hour_before_start(api, payments_on, lab_world):
    booking = book(api, lab_world, payment_method="pm_card_visa").json
    assert booking["payment"]["status"] == "authorized"
    body = {"starts_at": at(3, 9).isoformat(), "ends_at": at(3, 18).isoformat(), "reason": "停电"}
    with clock.frozen_at(at(3, 9)):  # a team cancelling now would pay the late fee
        closed = api.as_(lab_world["manager"]).post(f"/api/v1/labs/{lab_world['lab'].id}/closures", json=body)
    assert closed.status_code == 201, closed.json
    assert closed.json["cancelled_booking_ids"] == [booking["id"]]
    after = api.as_(lab_world["owner"]).get(f"/api/v1/bookings/{booking['id']}").json
    assert after["status"] == "cancelled" and after["fee_fen"] == 0
    assert after["payment"]["status"] == "canceled"
    assert intent(payments_on, booking["payment"]["intent_id"])["status"] == "canceled"


def test_a_blackout_releases_the_hold(api, payments_on, lab_world):
    booking = book(api, lab_world, payment_method="pm_card_visa").json
    body = {"starts_at": at(3, 11).isoformat(), "ends_at": at(3, 12).isoformat(), "reason": "维修"}
    with clock.frozen_at(at(3, 9)):
        response = api.as_(lab_world["manager"]).post(
            f"/api/v1/instruments/{lab_world['instrument'].id}/blackouts", json=body
        )
    assert response.status_code == 201 and response.json["cancelled_booking_ids"] == [booking["id"]]
    assert intent(payments_on, booking["payment"]["intent_id"])["status"] == "canceled"
