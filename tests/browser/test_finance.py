"""A finance officer signs in, runs reconciliation from the reconciliation page and downloads the
month's statement as CSV, whose totals match the settled bookings."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from booking.core import clock
from booking.core.db import db, write_intent
from booking.flow import attendance
from booking.models import Booking, User
from tests.browser.conftest import sign_in
from tests.browser.helpers import ROUND_THE_CLOCK, fact, flash, funded_programmes, slot_start
from vouchers import ledger
from vouchers.models import Settlement

pytestmark = pytest.mark.browser


def check_in(app, actor, booking, at) -> None:
    with app.app_context(), write_intent():
        attendance.check_in(db.session.get(User, actor.id), booking.id, at=at)
        db.session.commit()


def test_finance_runs_reconciliation_and_downloads_the_months_statement(page, app, make):
    officer = make.finance(None)  # municipal: sees every district
    admin = make.user("admin")
    microscope = make.instrument(
        make.lab(name="分析测试中心"), hours=ROUND_THE_CLOCK, name="共聚焦显微镜", hourly_rate_fen=10_000
    )
    printer = make.instrument(
        make.lab(name="先进制造平台"), hours=ROUND_THE_CLOCK, name="金属 3D 打印机", hourly_rate_fen=30_000
    )
    subsidised, paying = make.team(verified=True), make.team(verified=True)
    funded_programmes(
        make, subsidised, municipal_bp=3000, district_bp=2000, at=datetime.now(UTC) - timedelta(days=2)
    )
    # two bookings that ended an hour ago, checked in at their start: finished, not yet settled
    start = slot_start() - timedelta(hours=3)
    first = make.booking(
        subsidised, microscope, start, start + timedelta(hours=2), now=start - timedelta(hours=2)
    )
    second = make.booking(
        paying, printer, start, start + timedelta(hours=1), now=start - timedelta(hours=2), use_vouchers=False
    )
    for booking in (first, second):
        check_in(app, admin, booking, start + timedelta(minutes=5))
    with app.app_context():
        period = ledger.open_period_for(clock.now())

    sign_in(page, officer.email)
    page.goto("/finance/reconciliation")
    expect(page.get_by_role("heading", name="Reconciliation", exact=True)).to_be_visible()
    page.get_by_role("button", name="Run reconciliation").click()
    flash(page, "2 bookings settled, 0 exceptions raised")
    expect(fact(page, "Bookings settled")).to_have_text("2")

    page.goto(f"/finance/statements?period={period}")
    with page.expect_download() as info:
        page.get_by_role("link", name="Download CSV").click()
    download = info.value
    assert download.suggested_filename.endswith(".csv")
    text = Path(download.path()).read_text(encoding="utf-8-sig")  # with a BOM, for spreadsheet programs
    *rows, total = list(csv.DictReader(io.StringIO(text)))  # the people's layout: yuan, a totals row

    assert sorted(r["Payee"] for r in rows) == ["先进制造平台", "分析测试中心"]
    assert total["Payee type"] == "Total"
    columns = {
        "Number of bookings": ("bookings", 1),
        "Actual cost (¥)": ("total_fen", 100),
        "Municipal subsidy (¥)": ("municipal_fen", 100),
        "District subsidy (¥)": ("district_fen", 100),
        "Subsidy total (¥)": ("subsidy_fen", 100),
        "Team share (¥)": ("team_fen", 100),
        "Fees (¥)": ("fee_fen", 100),
    }
    totals = {key: int(sum(Decimal(r[label]) for r in rows) * fen) for label, (key, fen) in columns.items()}
    assert totals == {key: int(Decimal(total[label]) * fen) for label, (key, fen) in columns.items()}
    # microscope: 2 h × ¥100 = ¥200, vouchers 30 % + 20 %; printer: 1 h × ¥300, no vouchers
    assert totals == {
        "bookings": 2,
        "total_fen": 50_000,
        "municipal_fen": 6_000,
        "district_fen": 4_000,
        "subsidy_fen": 10_000,
        "team_fen": 40_000,
        "fee_fen": 0,
    }
    with app.app_context():
        settled = db.session.scalars(select(Settlement).where(Settlement.period == period)).all()
        assert sum(s.actual_cost_fen for s in settled) == totals["total_fen"]
        assert {b.status for b in db.session.scalars(select(Booking))} == {"settled"}
