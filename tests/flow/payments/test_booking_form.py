"""The HTML booking form with payments configured: the split first, then a card, then the hold."""

from __future__ import annotations

from booking.core import clock
from tests.conftest import csrf_token
from tests.flow.payments.conftest import NOW, at


def test_the_form_takes_a_card_and_the_booking_holds_the_teams_share(
    client, make, login, payments_on, lab_world
):
    make.voucher(lab_world["team"], make.program(rate_bp=3000), 100_000, at=NOW)
    instrument = lab_world["instrument"]
    login(lab_world["owner"])
    day = at(2, 10).date().isoformat()
    with clock.frozen_at(NOW):
        token = csrf_token(client, f"/instruments/{instrument.id}")
        data = {
            "csrf_token": token,
            "request_key": "k1",
            "team_id": str(lab_world["team"].id),
            "date": day,
            "starts": "10:00",
            "ends": "12:00",
            "use_vouchers": "y",
        }
        review = client.post(f"/instruments/{instrument.id}/book", data=data).get_data(as_text=True)
        # ¥200.00 for 2 h; the municipal voucher pays 30 %: the team's share is ¥140.00, by card
        assert "¥200.00" in review and "¥60.00" in review and "¥140.00" in review
        assert 'name="payment_method"' in review
        missing = client.post(f"/instruments/{instrument.id}/book", data={**data, "confirmed": "yes"})
        assert missing.status_code == 422  # a card is required when the team pays something
        booked = client.post(
            f"/instruments/{instrument.id}/book",
            data={**data, "confirmed": "yes", "request_key": "k2", "payment_method": "pm_card_visa"},
        )
        assert booked.status_code == 302, booked.get_data(as_text=True)[:500]
        detail = client.get(booked.headers["Location"]).get_data(as_text=True)
    assert "¥140.00" in detail
