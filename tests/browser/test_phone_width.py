"""Phone width (375×740): the main pages do not scroll sideways (wide tables scroll inside their own
box) and the forms keep their labels visible, inside the screen."""

from __future__ import annotations

from datetime import timedelta

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.browser.conftest import sign_in
from tests.browser.helpers import ROUND_THE_CLOCK, slot_start

pytestmark = pytest.mark.browser

PHONE = {"width": 375, "height": 740}


def assert_fits(page: Page, path: str) -> None:
    page.goto(path)
    expect(page.locator("main")).to_be_visible()
    widths = page.evaluate("[document.scrollingElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1], f"{path} scrolls sideways at phone width: {widths[0]} > {widths[1]} px"


def assert_labels_visible(form: Locator, expected: list[str]) -> None:
    """Each named label is shown (not hidden, not clipped) and lies within the screen's width."""
    for text in expected:
        label = form.locator("label").filter(has_text=text).first
        expect(label).to_be_visible()
        box = label.bounding_box()
        assert box is not None and box["width"] > 1 and box["height"] > 1, f"label {text!r} is hidden"
        assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"] + 0.5, (
            f"label {text!r} is off-screen"
        )
        field = form.get_by_label(text, exact=True)
        expect(field).to_be_visible()


def test_main_pages_fit_a_phone_screen_and_forms_keep_their_labels(browser_context, make):
    manager = make.user("lab_manager", name="韩梅梅")
    lab = make.lab(manager=manager, name="重庆大学分析测试中心（虎溪校区）")
    instrument = make.instrument(
        lab, hours=ROUND_THE_CLOCK, name="场发射扫描电子显微镜 Field-emission SEM", requires_approval=True
    )
    founder = make.user("founder", name="李雷")
    team = make.team(owner=founder, verified=True, name="山城智算科技有限公司")
    start = slot_start() + timedelta(days=2)
    make.booking(team, instrument, start, start + timedelta(hours=2))  # pending: on the lab console too

    founder_page = browser_context(viewport=PHONE).new_page()
    sign_in(founder_page, founder.email)
    for path in ("/", "/instruments", f"/instruments/{instrument.id}", "/bookings", "/account"):
        assert_fits(founder_page, path)

    founder_page.goto("/instruments")
    assert_labels_visible(founder_page.get_by_role("search"), ["Search", "Category", "District", "Free on"])
    founder_page.goto(f"/instruments/{instrument.id}")
    booking_form = founder_page.locator("#book form")
    assert_labels_visible(booking_form, ["Team", "Date", "Start time", "End time"])
    calendar = founder_page.locator(".calendar-scroll")
    assert calendar.evaluate("e => e.scrollWidth > e.clientWidth"), (
        "the week calendar should scroll in its box"
    )

    manager_page = browser_context(viewport=PHONE).new_page()
    manager_page.goto("/sign-in")
    assert_labels_visible(manager_page.locator("main form"), ["邮箱", "密码"])  # Chinese, the default
    sign_in(manager_page, manager.email)
    for path in ("/", "/lab", f"/lab/instruments/{instrument.id}"):
        assert_fits(manager_page, path)
    manager_page.goto("/lab")
    expect(manager_page.get_by_role("button", name="Approve")).to_be_in_viewport()


def test_compute_provider_and_finance_pages_fit_a_phone_screen(browser_context, make):
    provider = make.provider(name="西部算力中心")
    provider_user = make.user("provider", provider_id=provider.id, name="王芳")
    offer = make.offer(provider, gpus_total=8, price_per_gpu_hour_fen=12_000)
    founder = make.user("founder", name="李雷")
    team = make.team(owner=founder, verified=True, district_code="500106", name="山城智算科技有限公司")
    officer = make.finance(None)
    make.voucher(team, make.program(officer=officer, rate_bp=3000), 100_000)
    start = slot_start() + timedelta(days=1)
    make.compute_booking(team, offer, start, start + timedelta(hours=3))  # bars on the capacity chart

    pages = [
        (founder, ["/compute", f"/compute/offers/{offer.id}", "/bookings"]),
        (provider_user, ["/provider", "/provider/usage"]),
        (
            officer,
            [
                "/finance",
                "/finance/reconciliation",
                "/finance/exceptions",
                "/finance/statements",
                "/finance/periods",
                "/finance/payouts",
                "/finance/audit",
                "/finance/lab-report",
            ],
        ),
    ]
    for user, paths in pages:
        page = browser_context(viewport=PHONE).new_page()
        sign_in(page, user.email)
        for path in paths:
            assert_fits(page, path)
        if user is founder:
            page.goto(f"/compute/offers/{offer.id}")
            assert_labels_visible(page.locator("main form").last, ["Team"])
