"""Seeding and page helpers shared by the browser scenarios (times relative to the real clock: the
served app is not frozen)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from playwright.sync_api import Locator, Page, expect

CST = ZoneInfo("Asia/Shanghai")
EVERY_DAY_8_TO_20 = tuple((day, 8 * 60, 20 * 60) for day in range(7))
ROUND_THE_CLOCK = tuple((day, 0, 24 * 60) for day in range(7))


def today_cst() -> date:
    return datetime.now(CST).date()


def slot_start(minutes: int = 30) -> datetime:
    """Now, rounded down to the slot grid (UTC)."""
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    return now - timedelta(minutes=now.minute % minutes)


def funded_programmes(
    make, team, municipal_bp: int = 3000, district_bp: int = 2000, amount_fen: int = 100_000, at=None
):
    """A municipal and a district programme valid around today, each granting the team a voucher
    (issued ``at``, default now)."""
    today = today_cst()
    window = {"valid_from": today - timedelta(days=30), "valid_to": today + timedelta(days=365)}
    municipal = make.program(level="municipal", rate_bp=municipal_bp, **window)
    district = make.program(level="district", district_code=team.district_code, rate_bp=district_bp, **window)
    make.voucher(team, municipal, amount_fen, at=at)
    make.voucher(team, district, amount_fen, at=at)
    return municipal, district


def fact(scope: Locator | Page, label: str) -> Locator:
    """The <dd> that follows the <dt> labelled exactly ``label`` (a definition list of facts)."""
    term = scope.locator("dt").filter(has_text=re.compile(rf"^\s*{re.escape(label)}\s*$"))
    return term.locator("xpath=following-sibling::dd[1]")


def section(page: Page, heading: str) -> Locator:
    """The <section> whose heading is ``heading``."""
    return page.locator("section").filter(has=page.get_by_role("heading", name=heading, exact=True))


def nav(page: Page, name: str) -> None:
    page.get_by_role("navigation", name="Main").get_by_role("link", name=name, exact=True).click()


def flash(page: Page, text: str) -> None:
    expect(page.locator("p.flash").filter(has_text=text)).to_be_visible()
