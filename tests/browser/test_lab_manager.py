"""A lab manager signs in, approves a pending booking from the lab console and checks the team in."""

from __future__ import annotations

from datetime import timedelta

import pytest
from playwright.sync_api import expect

from booking.core.db import db
from booking.models import Booking
from tests.browser.conftest import sign_in
from tests.browser.helpers import ROUND_THE_CLOCK, flash, nav, section, slot_start

pytestmark = pytest.mark.browser


def test_a_lab_manager_approves_a_pending_booking_and_checks_it_in(page, app, make):
    manager = make.user("lab_manager", name="韩梅梅")
    lab = make.lab(manager=manager, name="材料表征平台")
    instrument = make.instrument(lab, hours=ROUND_THE_CLOCK, name="X 射线衍射仪", requires_approval=True)
    team = make.team(owner=make.user("founder"), verified=True, name="两江光电")
    other_team = make.team(owner=make.user("founder"), verified=True, name="渝北新材")
    start = slot_start() - timedelta(minutes=30)  # began half an hour ago: the team is at the door
    booking = make.booking(team, instrument, start, start + timedelta(hours=2))
    later = make.booking(
        other_team, instrument, start + timedelta(days=3), start + timedelta(days=3, hours=1)
    )
    assert booking.status == later.status == "pending_approval"

    sign_in(page, manager.email)
    nav(page, "Lab console")
    approvals = section(page, "Waiting for approval")
    expect(approvals.get_by_role("row").filter(has_text=other_team.name)).to_have_count(1)
    approvals.get_by_role("row").filter(has_text=team.name).get_by_role("button", name="Approve").click()

    flash(page, "Booking approved.")
    expect(approvals.get_by_role("row").filter(has_text=team.name)).to_have_count(0)
    expect(approvals.get_by_role("row").filter(has_text=other_team.name)).to_have_count(1)  # untouched
    today = section(page, "Today's bookings").get_by_role("row").filter(has_text=team.name)
    expect(today).to_contain_text("confirmed")
    today.get_by_role("button", name="Check in").click()
    # a confirm step first: the team and time are shown, nothing changes until confirmed
    expect(page.get_by_role("heading", name="Check in this booking?")).to_be_visible()
    expect(page.locator("main")).to_contain_text(team.name)
    page.get_by_role("button", name="Confirm check-in").click()

    flash(page, "Checked in. Wrong booking? Undo the check-in on this page until check-out.")
    expect(today).to_contain_text("checked in")
    expect(today.get_by_role("button", name="Check out")).to_be_visible()
    expect(today.get_by_role("button", name="Undo check-in")).to_be_visible()

    with app.app_context():
        done, waiting = db.session.get(Booking, booking.id), db.session.get(Booking, later.id)
        assert done.status == "checked_in" and done.decided_by_id == manager.id
        assert done.actual_starts_at is not None
        assert waiting.status == "pending_approval"
