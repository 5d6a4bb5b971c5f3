"""A founder books a weekly series of four from the instrument page; week 2 is already taken by another
team, so the series page shows three booked and one skipped with its reason. Then the rest of the
series is cancelled behind a confirmation that names how many."""

from __future__ import annotations

from datetime import datetime, time, timedelta

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from booking.core.db import db
from booking.models import Booking
from tests.browser.conftest import sign_in
from tests.browser.helpers import CST, EVERY_DAY_8_TO_20, flash, section, today_cst

pytestmark = pytest.mark.browser


def test_a_founder_books_a_weekly_series_and_sees_what_was_skipped(page, app, make):
    lab = make.lab(manager=make.user("lab_manager"), name="分析测试中心")
    instrument = make.instrument(lab, hours=EVERY_DAY_8_TO_20, name="扫描电镜 SEM", hourly_rate_fen=10_000)
    founder = make.user("founder", name="韩梅梅")
    team = make.team(owner=founder, verified=True, name="山城智算")
    rival = make.team(owner=make.user("founder"), verified=True, name="嘉陵新材")
    day = today_cst() + timedelta(days=2)
    week_two = datetime.combine(day + timedelta(days=7), time(10), tzinfo=CST)
    make.booking(rival, instrument, week_two, week_two + timedelta(hours=1), now=datetime.now(CST))

    sign_in(page, founder.email)
    page.goto(f"/instruments/{instrument.id}")
    expect(page.get_by_role("heading", name=instrument.name)).to_be_visible()
    page.get_by_label("Date").fill(day.isoformat())
    page.get_by_label("Start time").fill("10:00")
    page.get_by_label("End time").fill("11:00")
    page.get_by_label("Repeat", exact=True).select_option(label="Every week")
    page.get_by_label("Number of occurrences").fill("4")
    page.get_by_label("If an occurrence cannot be booked").select_option(label="Skip it and book the others")
    page.get_by_role("button", name="Review price").click()
    expect(
        page.get_by_text("4 occurrences are booked, each priced and subsidised on its own")
    ).to_be_visible()
    page.get_by_role("button", name="Confirm booking").click()

    flash(page, "Series booked: 3 booked, 1 skipped.")
    booked = section(page, "Booked (3)")
    expect(booked.get_by_role("row")).to_have_count(4)  # the header and three occurrences
    skipped = section(page, "Skipped (1)")
    row = skipped.locator("tr.skipped")
    expect(row).to_have_count(1)
    expect(row).to_contain_text(week_two.date().isoformat())
    expect(row).to_contain_text("Someone else has booked (part of) this time.")
    expect(page.get_by_text("slot_taken")).to_have_count(0)

    # cancelling the rest asks first, naming how many
    page.get_by_text("Cancel the remaining 3 bookings…").click()
    expect(
        page.get_by_text("3 bookings that have not started are cancelled, free of charge.")
    ).to_be_visible()
    page.get_by_role("button", name="Cancel 3 bookings").click()
    flash(page, "3 bookings of the series cancelled free of charge.")

    with app.app_context():
        statuses = db.session.scalars(select(Booking.status).where(Booking.team_id == team.id)).all()
    assert sorted(statuses) == ["cancelled"] * 3
