"""A settled booking's page and the bookings list show the settlement (actual cost, municipal,
district and team shares) beside the estimate; a booking made without vouchers says so; usage that
arrived after settlement is shown with the booking to finance and the provider."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from tests.conftest import sign_in
from tests.vouchers.test_reconciliation import END, START, _run, usage
from tests.vouchers.test_reconciliation import world as world  # the fixture


def text(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def squeeze(html: str) -> str:
    """The page's text without tags and with single spaces, to read figures in order."""
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def row_of(html: str, booking_id: int) -> str:
    match = re.search(rf'<tr id="booking-{booking_id}">(.*?)</tr>', html, re.S)
    assert match, f"booking {booking_id} is not listed"
    return squeeze(match.group(1))


def cost_card(html: str) -> str:
    match = re.search(r'<section class="card cost">(.*?)</section>', html, re.S)
    assert match, "no cost card"
    return squeeze(match.group(1))


@pytest.fixture
def settled(api, make, world, app):
    """Quoted 20,000 (municipal 6,000, district 8,000, team 6,000); settled on 15,000 (municipal
    4,500, district 6,000, team 4,500)."""
    make.voucher(world["team"], world["municipal"], 100_000)
    make.voucher(world["team"], world["district"], 100_000)
    booking = make.compute_booking(world["team"], world["offer"], START, END)
    usage(api, world, booking, (START, END, "1.5"))
    assert _run(app).settled == 1
    return booking


def test_settled_booking_page_shows_the_settlement_beside_the_estimate(client, login, world, settled):
    login(world["owner"])
    card = cost_card(text(client.get(f"/bookings/{settled.id}")))
    assert "预估 结算" in card
    assert "总价 ¥200.00 ¥150.00" in card
    assert "市级算力券 -¥60.00 -¥45.00" in card
    assert "区县算力券 -¥80.00 -¥60.00" in card
    assert "团队自付 ¥60.00 ¥45.00" in card
    client.get("/language/en")
    card = cost_card(text(client.get(f"/bookings/{settled.id}")))
    assert "Estimate Settled" in card and "Total price ¥200.00 ¥150.00" in card
    assert "Municipal voucher -¥60.00 -¥45.00" in card and "Team pays ¥60.00 ¥45.00" in card


def test_the_bookings_list_shows_the_settlement_beside_the_estimate(client, make, login, world, settled):
    unsettled = make.compute_booking(
        world["team"], world["offer"], START + timedelta(days=1), END + timedelta(days=1)
    )
    login(world["owner"])
    page = text(client.get("/bookings"))
    row = row_of(page, settled.id)
    assert "¥200.00 团队自付 ¥60.00" in row
    assert "实际 ¥150.00 市级 ¥45.00 区县级 ¥60.00 团队自付 ¥45.00" in row
    assert "实际" not in row_of(page, unsettled.id)
    client.get("/language/en")
    row = row_of(text(client.get("/bookings")), settled.id)
    assert "Actual ¥150.00 municipal ¥45.00 district ¥60.00 team pays ¥45.00" in row


def test_a_settled_instrument_booking_shows_its_settlement(api, client, make, login, world, app):
    make.voucher(world["team"], world["municipal"], 100_000)
    manager = make.user("lab_manager")
    instrument = make.instrument(
        make.lab(manager=manager), hours=tuple((d, 0, 1440) for d in range(7)), hourly_rate_fen=6_000
    )
    booking = make.booking(world["team"], instrument, START, END)  # 12,000: municipal 3,600
    lab_api = api.as_(manager)
    lab_api.post(f"/api/v1/bookings/{booking.id}/check-in", json={"at": START.isoformat()})
    lab_api.post(
        f"/api/v1/bookings/{booking.id}/check-out", json={"at": (END + timedelta(minutes=30)).isoformat()}
    )
    assert _run(app).settled == 1  # billed 2.5 h: 15,000, municipal 4,500
    login(world["owner"])
    card = cost_card(text(client.get(f"/bookings/{booking.id}")))
    assert "总价 ¥120.00 ¥150.00" in card and "市级算力券 -¥36.00 -¥45.00" in card
    assert "团队自付 ¥84.00 ¥105.00" in card
    assert "实际 ¥150.00 市级 ¥45.00 团队自付 ¥105.00" in row_of(text(client.get("/bookings")), booking.id)


def test_a_booking_without_vouchers_says_so(client, make, login, world, app, api):
    make.voucher(world["team"], world["municipal"], 100_000)
    booking = make.compute_booking(world["team"], world["offer"], START, END, use_vouchers=False)
    usage(api, world, booking, (START, END, "1"))
    _run(app)
    login(world["owner"])
    assert "不使用算力券" in row_of(text(client.get("/bookings")), booking.id)
    card = cost_card(text(client.get(f"/bookings/{booking.id}")))
    assert "不使用算力券" in card and "总价 ¥200.00 ¥100.00" in card and "团队自付 ¥200.00 ¥100.00" in card
    client.get("/language/en")
    assert "vouchers not used" in row_of(text(client.get("/bookings")), booking.id)


def test_usage_after_settlement_is_shown_with_the_booking(api, app, client, make, login, world, settled):
    late = {
        "external_id": "late-7",
        "booking_id": settled.id,
        "started_at": START.isoformat(),
        "ended_at": END.isoformat(),
        "gpu_hours": "0.25",
    }
    assert (
        api.as_(world["provider_user"])
        .post("/api/v1/usage-records", json={"records": [late]})
        .json["accepted"]
        == 1
    )
    seen = {}
    for name, viewer in (
        ("municipal finance", make.finance(None)),
        ("district finance", make.finance("500106")),
        ("provider", world["provider_user"]),
        ("founder", world["owner"]),
    ):
        own = app.test_client()
        sign_in(own, viewer)
        seen[name] = squeeze(text(own.get(f"/bookings/{settled.id}")))
    for name in ("municipal finance", "district finance", "provider"):
        assert "预约结算后才上报的用量" in seen[name] and "late-7" in seen[name] and "0.25" in seen[name], (
            name
        )
    assert "late-7" not in seen["founder"]
    login(make.finance(None))
    exceptions = squeeze(text(client.get("/finance/exceptions?kind=after_settlement")))
    assert "late-7" in exceptions and str(settled.id) in exceptions
