"""After signing in, each role lands on its own home: a founder on its overview (next bookings,
balances, the wallet one click away), a lab manager on the lab console, with no "Teams" in its menu."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import sign_in
from tests.browser.helpers import ROUND_THE_CLOCK, funded_programmes, nav, section, slot_start

pytestmark = pytest.mark.browser


def test_a_founder_lands_on_its_home_and_reaches_the_wallet_from_the_menu(page, make, live_server):
    founder = make.user("founder", name="李雷")
    team = make.team(founder, verified=True, name="星火团队")
    funded_programmes(make, team, amount_fen=123_456)
    instrument = make.instrument(hours=ROUND_THE_CLOCK, name="冷冻电镜")
    start = slot_start() + timedelta(days=1)
    make.booking(team, instrument, start, start + timedelta(hours=1), now=start - timedelta(days=2))

    sign_in(page, founder.email)
    expect(page).to_have_url(f"{live_server}/")
    expect(page.get_by_role("heading", name="Welcome, 李雷")).to_be_visible()
    expect(section(page, "Upcoming bookings").get_by_role("row").filter(has_text="冷冻电镜")).to_have_count(1)
    balances = section(page, "Voucher balances").get_by_role("row").filter(has_text="星火团队")
    expect(balances.locator('[data-figure="available"]')).to_have_text(re.compile(r"^¥[\d,]+\.\d\d$"))
    expect(section(page, "What to do next")).to_contain_text("You are all set")
    page.set_viewport_size({"width": 375, "height": 740})  # a phone: the home does not scroll sideways
    widths = page.evaluate("[document.scrollingElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1], f"the founder's home scrolls sideways on a phone: {widths}"
    page.set_viewport_size({"width": 1280, "height": 800})

    nav(page, "My vouchers")
    expect(page).to_have_url(f"{live_server}/teams/{team.id}/vouchers")
    expect(page.get_by_role("heading", name="Vouchers of 星火团队")).to_be_visible()


def test_a_lab_manager_lands_on_the_lab_console(page, make, live_server):
    manager = make.user("lab_manager", name="韩梅梅")
    make.lab(manager=manager, name="材料表征平台")

    sign_in(page, manager.email, english=False)
    expect(page).to_have_url(f"{live_server}/lab")
    expect(page.get_by_role("heading", name="实验室管理", exact=True)).to_be_visible()
    menu = page.get_by_role("navigation", name="主导航")
    expect(menu.get_by_role("link", name="实验室管理", exact=True)).to_be_visible()
    expect(menu.get_by_role("link", name="团队")).to_have_count(0)
