"""A founder signs in, finds a free slot through the search and the week calendar, books it with the
team's municipal and district vouchers and a test card (localstripe), and sees it in "my bookings"."""

from __future__ import annotations

from datetime import timedelta

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from booking.core.db import db
from booking.models import Booking
from tests.browser.conftest import sign_in
from tests.browser.helpers import EVERY_DAY_8_TO_20, fact, flash, funded_programmes, nav, section, today_cst

pytestmark = pytest.mark.browser


def test_a_founder_finds_a_free_slot_and_books_it_with_vouchers_and_a_card(page, app, make, payments_on):
    manager = make.user("lab_manager")
    lab = make.lab(manager=manager, name="分析测试中心")
    instrument = make.instrument(
        lab, hours=EVERY_DAY_8_TO_20, name="共聚焦显微镜 LSM 980", hourly_rate_fen=10_000
    )
    afternoons = make.instrument(lab, hours=[(d, 14 * 60, 18 * 60) for d in range(7)], name="原子力显微镜")
    founder = make.user("founder", name="李雷")
    team = make.team(owner=founder, verified=True, name="山城智算")
    funded_programmes(make, team, municipal_bp=3000, district_bp=2000)
    day = today_cst() + timedelta(days=2)

    sign_in(page, founder.email)
    nav(page, "Instruments")
    expect(page.get_by_role("heading", name="Open lab instruments")).to_be_visible()
    page.get_by_label("Free on").fill(day.isoformat())
    page.get_by_label("from", exact=True).fill("10:00")
    page.get_by_label("to", exact=True).fill("12:00")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_role("link", name=instrument.name)).to_be_visible()
    expect(page.get_by_role("link", name=afternoons.name)).to_have_count(0)  # closed in the morning

    page.get_by_role("link", name=instrument.name).click()
    expect(page.get_by_role("heading", name=instrument.name)).to_be_visible()
    if day - timedelta(days=day.weekday()) != today_cst() - timedelta(days=today_cst().weekday()):
        page.get_by_role("link", name="Next week").click()
    page.get_by_role("link", name=f"Book {day.isoformat()} 10:00", exact=True).click()

    # the free cell pre-fills the form; book two hours instead of the shortest slot
    expect(page.get_by_label("Date")).to_have_value(day.isoformat())
    expect(page.get_by_label("Start time")).to_have_value("10:00")
    page.get_by_label("End time").fill("12:00")
    expect(page.get_by_label("Pay with our compute vouchers where they apply")).to_be_checked()
    page.get_by_role("button", name="Review price").click()

    review = page.get_by_role("status").filter(
        has=page.get_by_role("heading", name="Check the price, then confirm")
    )
    expect(fact(review, "Cost")).to_have_text("¥200.00")
    expect(fact(review, "Municipal voucher")).to_have_text("−¥60.00")
    expect(fact(review, "District voucher")).to_have_text("−¥40.00")
    expect(fact(review, "Your team pays")).to_have_text("¥100.00")
    page.get_by_label("Payment method").fill("pm_card_visa")
    page.get_by_role("button", name="Confirm booking").click()

    flash(page, "Booked. See you at the lab!")
    cost = section(page, "Cost")
    expect(fact(cost, "Team pays")).to_have_text("¥100.00")
    expect(fact(cost, "Payment")).to_have_text("held on card")

    nav(page, "My bookings")
    upcoming = page.get_by_role("row").filter(has_text=instrument.name)
    expect(upcoming).to_have_count(1)
    expect(upcoming).to_contain_text(team.name)
    expect(upcoming).to_contain_text("confirmed")
    expect(upcoming).to_contain_text("¥200.00")

    with app.app_context():
        booking = db.session.scalars(select(Booking).where(Booking.team_id == team.id)).one()
        assert (booking.status, booking.payment_status) == ("confirmed", "authorized")
        assert booking.estimated_cost_fen == 20_000 and booking.use_vouchers
