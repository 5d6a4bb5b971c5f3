"""The kiosk beside an instrument: the lab manager opens it on a tablet; a founder scans its QR code
(here: reads the address it encodes), signs in on the phone and checks the team in with one button."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import segno
from playwright.sync_api import expect

from booking.core.db import db
from booking.models import Booking
from tests.browser.conftest import sign_in
from tests.browser.helpers import ROUND_THE_CLOCK, flash, section, slot_start

pytestmark = pytest.mark.browser


def test_a_founder_checks_in_through_the_kiosks_qr_code(app, browser_context, make, live_server):
    manager = make.user("lab_manager", name="韩梅梅")
    lab = make.lab(manager=manager, name="分析测试中心")
    instrument = make.instrument(
        lab,
        hours=ROUND_THE_CLOCK,
        name="原子力显微镜",
        lead_minutes=0,
        self_check_in=True,
        no_show_grace_minutes=60,
    )
    founder = make.user("founder", name="李雷")
    team = make.team(owner=founder, verified=True, name="星火团队")
    start = slot_start(30)  # under way: in its check-in window (grace 60 minutes)
    booking = make.booking(team, instrument, start, start + timedelta(hours=2))

    tablet = browser_context(viewport={"width": 1280, "height": 800}).new_page()
    sign_in(tablet, manager.email)
    tablet.goto(f"/instruments/{instrument.id}/kiosk")
    expect(section(tablet, "Now")).to_contain_text("星火团队")
    qr = tablet.locator(".qr")
    expect(qr.locator("svg")).to_be_visible()
    url = qr.get_attribute("data-check-in-url")
    assert url == f"{live_server}/instruments/{instrument.id}/check-in"
    # the SVG served is the QR code of exactly that address
    source = tablet.request.get(f"/instruments/{instrument.id}/kiosk").text()
    [svg] = re.findall(r"<svg.*?</svg>", source, re.S)
    assert svg == segno.make(url, error="m").svg_inline(scale=8, border=2, title=url)

    phone = browser_context(viewport={"width": 390, "height": 844}).new_page()
    sign_in(phone, founder.email)
    phone.goto(url)
    expect(phone.get_by_role("heading", name="原子力显微镜")).to_be_visible()
    expect(phone.get_by_text("星火团队")).to_be_visible()
    phone.get_by_role("button", name="Check in").click()
    flash(phone, "Checked in.")
    expect(phone.get_by_role("button", name="Check out")).to_be_visible()
    with app.app_context():
        assert db.session.get(Booking, booking.id).status == "checked_in"

    tablet.reload()
    expect(section(tablet, "Now")).to_contain_text("checked in")
