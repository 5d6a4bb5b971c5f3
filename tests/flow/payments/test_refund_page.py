"""Admins refund from the booking page (the HTML side of POST /bookings/{id}/refund), against the real
localstripe: never more than was charged, errors next to the amount, nothing changed by bad input."""

from __future__ import annotations

import requests
from sqlalchemy import select

from booking.core import clock
from booking.core.db import db
from booking.models import BookingPayment
from tests.conftest import csrf_token
from tests.flow.payments.conftest import at, book


def charged_booking(api, lab_world) -> int:
    """A late cancellation: the 100.00 fee is captured by card."""
    booking = book(api, lab_world, payment_method="pm_card_visa").json
    with clock.frozen_at(at(3, 9)):
        cancelled = api.as_(lab_world["owner"]).post(f"/api/v1/bookings/{booking['id']}/cancel", json={})
    assert cancelled.json["payment"]["status"] == "captured" and cancelled.json["fee_fen"] == 10_000
    return booking["id"]


def refunded_fen(app, booking_id: int) -> int:
    with app.app_context():
        return db.session.scalar(
            select(BookingPayment.refunded_fen).where(BookingPayment.booking_id == booking_id)
        )


def test_admin_refunds_part_then_the_rest_never_more(api, app, client, login, make, payments_on, lab_world):
    booking_id = charged_booking(api, lab_world)
    login(make.user("admin"))
    page = client.get(f"/bookings/{booking_id}").get_data(as_text=True)
    assert "Refund" in page or "退款" in page
    path = f"/bookings/{booking_id}/refund"
    token = csrf_token(client, f"/bookings/{booking_id}")

    too_much = client.post(path, data={"csrf_token": token, "refund-amount": "100.01"})
    assert too_much.status_code == 422 and refunded_fen(app, booking_id) == 0
    bad = client.post(path, data={"csrf_token": token, "refund-amount": "12.345"})
    assert bad.status_code == 422 and refunded_fen(app, booking_id) == 0

    first = client.post(path, data={"csrf_token": token, "refund-amount": "60.00"})
    assert first.status_code == 302 and refunded_fen(app, booking_id) == 6_000
    rest = client.post(path, data={"csrf_token": token, "refund-amount": "40"})
    assert rest.status_code == 302 and refunded_fen(app, booking_id) == 10_000
    again = client.post(path, data={"csrf_token": token, "refund-amount": "0.01"})
    assert again.status_code == 422 and refunded_fen(app, booking_id) == 10_000

    with app.app_context():
        intent_id = db.session.get(BookingPayment, booking_id).hold_intent_id
    listed = requests.get(
        payments_on + "/v1/refunds", params={"payment_intent": intent_id}, auth=("sk_test_x", ""), timeout=5
    ).json()["data"]
    assert sorted(r["amount"] for r in listed if r["payment_intent"] == intent_id) == [4_000, 6_000]


def test_only_admins_see_and_use_the_refund(api, client, login, payments_on, lab_world):
    booking_id = charged_booking(api, lab_world)
    login(lab_world["owner"])
    page = client.get(f"/bookings/{booking_id}").get_data(as_text=True)
    assert 'name="refund-amount"' not in page
    token = csrf_token(client, f"/bookings/{booking_id}")
    refused = client.post(f"/bookings/{booking_id}/refund", data={"csrf_token": token, "refund-amount": "1"})
    assert refused.status_code == 403
