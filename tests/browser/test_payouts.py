"""The payouts page per office: a lab owed ¥100.00 of subsidy for a month (municipal ¥60.00, district
¥40.00). The district officer sees and pays only the district's ¥40.00, after which its form is gone;
the municipal officer still sees only the municipal ¥60.00 unpaid and pays it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from booking.core import clock
from booking.core.db import db, write_intent
from booking.flow import attendance
from booking.models import User
from tests.browser.conftest import sign_in
from tests.browser.helpers import ROUND_THE_CLOCK, flash, funded_programmes, slot_start
from vouchers import ledger
from vouchers.models import LedgerAccount
from vouchers.reconciliation import reconcile
from vouchers.verify import ledger_breaches

pytestmark = pytest.mark.browser


def settle_a_booking(app, make, lab):
    """One two-hour booking at ¥100/h that ended an hour ago, checked in and reconciled."""
    admin = make.user("admin")
    microscope = make.instrument(lab, hours=ROUND_THE_CLOCK, name="共聚焦显微镜", hourly_rate_fen=10_000)
    team = make.team(verified=True, district_code="500106")
    funded_programmes(
        make, team, municipal_bp=3000, district_bp=2000, at=datetime.now(UTC) - timedelta(days=2)
    )
    start = slot_start() - timedelta(hours=3)
    booking = make.booking(
        team, microscope, start, start + timedelta(hours=2), now=start - timedelta(hours=2)
    )
    with app.app_context(), write_intent():
        attendance.check_in(db.session.get(User, admin.id), booking.id, at=start + timedelta(minutes=5))
        db.session.commit()
    with app.app_context(), write_intent():
        assert reconcile(clock.now()).settled == 1
        db.session.commit()
        return ledger.open_period_for(clock.now())


def paid_balances(app) -> list[int]:
    with app.app_context():
        return sorted(
            b
            for b in db.session.scalars(select(LedgerAccount.balance_fen).where(LedgerAccount.kind == "paid"))
            if b
        )


def test_each_office_pays_only_its_share_of_a_lab(page, browser_context, app, make):
    lab = make.lab(name="分析测试中心")
    district_officer, municipal_officer = make.finance("500106"), make.finance(None)
    period = settle_a_booking(app, make, lab)

    sign_in(page, district_officer.email)
    page.goto(f"/finance/payouts?period={period}")
    card = page.locator(f"#payee-lab-{lab.id}")
    expect(card).to_contain_text("¥40.00")
    expect(card).not_to_contain_text("¥60.00")
    expect(card).not_to_contain_text("¥100.00")
    card.get_by_label("Payment reference").fill("QX-2027-001")
    card.get_by_role("button", name="Mark paid").click()
    flash(page, "Marked paid: ¥40.00")
    card = page.locator(f"#payee-lab-{lab.id}")
    expect(card.get_by_role("button", name="Mark paid")).to_have_count(0)
    expect(card).to_contain_text("QX-2027-001")
    expect(card.locator(".badge").filter(has_text="Paid")).to_be_visible()
    assert paid_balances(app) == [4_000]

    other = browser_context(viewport={"width": 1280, "height": 800}).new_page()
    sign_in(other, municipal_officer.email)
    other.goto(f"/finance/payouts?period={period}")
    card = other.locator(f"#payee-lab-{lab.id}")
    expect(card).to_contain_text("¥60.00")
    expect(card).not_to_contain_text("¥40.00")
    expect(card).not_to_contain_text("QX-2027-001")
    card.get_by_label("Payment reference").fill("SZ-2027-001")
    card.get_by_role("button", name="Mark paid").click()
    flash(other, "Marked paid: ¥60.00")
    expect(other.locator(f"#payee-lab-{lab.id}").get_by_role("button", name="Mark paid")).to_have_count(0)
    assert paid_balances(app) == [4_000, 6_000]
    with app.app_context():
        assert ledger_breaches() == []
