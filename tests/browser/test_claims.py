"""A lab's redemption claim end to end: the lab manager files it for the closed month with a PDF
invoice, the district and the municipal office each approve their share, the municipal office marks
its share paid, then the district office, and the lab sees its claim paid."""

from __future__ import annotations

from datetime import datetime, time

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from booking.core import clock
from booking.core.db import db, write_intent
from booking.models import User
from instruments.rules import zone
from tests.browser.conftest import sign_in
from tests.browser.helpers import flash
from tests.browser.test_payouts import paid_balances, settle_a_booking
from vouchers import ledger, periods
from vouchers.models import Claim
from vouchers.verify import ledger_breaches

pytestmark = pytest.mark.browser


def close_month(app, officer, period: str) -> None:
    """Close ``period`` as of the first morning of the next month (the municipal office's act)."""
    following = ledger.next_period(period)
    first = datetime.combine(
        datetime.strptime(f"{following}-01", "%Y-%m-%d").date(), time(9), tzinfo=zone("Asia/Shanghai")
    )
    with app.app_context(), write_intent(), clock.frozen_at(first):
        periods.close_period(db.session.get(User, officer.id), period)
        db.session.commit()


def decide(page, claim_id: int, officer) -> None:
    sign_in(page, officer.email)
    page.goto("/finance/claims")
    waiting = page.locator("table.claim-queue").first
    waiting.get_by_role("link", name=f"#{claim_id}").click()
    page.get_by_label("I checked the invoice and the amount of my office's share").check()
    page.get_by_role("button", name="Approve my share").click()
    flash(page, "Your office's share is approved.")


def pay(page, reference: str) -> None:
    page.get_by_label("Payment reference").fill(reference)
    page.get_by_label("I confirm my office has transferred this share; this cannot be undone").check()
    page.get_by_role("button", name="Mark my share paid").click()
    flash(page, "Your office's share is marked paid.")


def test_a_lab_claims_its_month_and_both_offices_approve_and_pay(browser_context, app, make):
    manager = make.user("lab_manager")
    lab = make.lab(name="分析测试中心", manager=manager)
    district_officer, municipal_officer = make.finance("500106"), make.finance(None)
    period = settle_a_booking(app, make, lab)
    close_month(app, municipal_officer, period)

    lab_page = browser_context(viewport={"width": 1280, "height": 800}).new_page()
    sign_in(lab_page, manager.email)
    lab_page.get_by_role("navigation", name="Main").get_by_role("link", name="Claims", exact=True).click()
    month = lab_page.locator(f"#month-lab-{lab.id}-{period}")
    expect(month).to_contain_text("¥100.00")
    month.get_by_label("Invoice number").fill("No. 50020001")
    month.get_by_label("Invoice or contract scan (PDF or image, at most 20 MB)").set_input_files(
        {"name": "发票.pdf", "mimeType": "application/pdf", "buffer": b"%PDF-1.4\n% invoice scan\n"}
    )
    month.get_by_role("button", name="File claim").click()
    flash(lab_page, "Claim filed: ¥100.00.")
    expect(lab_page.get_by_role("link", name="发票.pdf")).to_be_visible()
    expect(lab_page.locator("h1 .badge")).to_have_text("Submitted")
    with app.app_context():
        claim_id = db.session.scalar(select(Claim.id))

    district_page = browser_context(viewport={"width": 1280, "height": 800}).new_page()
    decide(district_page, claim_id, district_officer)
    expect(district_page.locator("h1 .badge")).to_have_text("Partly approved")
    municipal_page = browser_context(viewport={"width": 1280, "height": 800}).new_page()
    decide(municipal_page, claim_id, municipal_officer)
    expect(municipal_page.locator("h1 .badge")).to_have_text("Approved")
    expect(municipal_page.get_by_role("link", name="发票.pdf")).to_be_visible()

    pay(municipal_page, "SZ-2027-001")
    expect(municipal_page.locator("h1 .badge")).to_have_text("Partly paid")
    assert paid_balances(app) == [6_000]
    district_page.reload()
    pay(district_page, "QX-2027-001")
    expect(district_page.locator("h1 .badge")).to_have_text("Paid")
    assert paid_balances(app) == [4_000, 6_000]
    with app.app_context():
        assert ledger_breaches() == []

    lab_page.goto("/lab/claims")
    claim = lab_page.locator(f"#claim-{claim_id}")
    expect(claim.locator("p .badge")).to_have_text("Paid")
    expect(claim).to_contain_text("SZ-2027-001")
    expect(claim).to_contain_text("QX-2027-001")
