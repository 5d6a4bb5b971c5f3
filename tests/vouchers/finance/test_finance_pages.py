"""The finance pages: every page for district and municipal finance and admins (403 for others),
district scoping, reconciliation, exceptions, statements and downloads, periods, payouts, audit log,
lab report — in English and Chinese."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from booking.core import clock
from booking.core.db import db
from booking.models import Booking
from booking.people import audit
from tests.conftest import csrf_token, sign_in
from tests.vouchers.finance.conftest import AFTER, END, PERIOD, START, post_usage, run
from vouchers.models import (
    AccountingPeriod,
    AuditEntry,
    FinanceException,
    JournalTransaction,
    ReconciliationRun,
)

PAGES = (
    "/finance",
    "/finance/reconciliation",
    "/finance/exceptions",
    f"/finance/statements?period={PERIOD}",
    f"/finance/payouts?period={PERIOD}",
    "/finance/periods",
    "/finance/audit",
    f"/finance/lab-report?period={PERIOD}",
)
LATER = datetime(2027, 1, 5, 3, 0, tzinfo=UTC)  # 2026-12 has ended


def html(response) -> str:
    return response.get_data(as_text=True)


def post_form(client, page: str, action: str, data: dict, now=None):
    """POST a form with the CSRF token of the page it lives on."""
    token = csrf_token(client, page)
    if now is None:
        return client.post(action, data={"csrf_token": token, **data})
    with clock.frozen_at(now):
        return client.post(action, data={"csrf_token": token, **data})


@pytest.fixture
def login(client):
    """Sign in, in English (the default language is Chinese; ``test_pages_in_chinese`` switches back)."""

    def _login(user):
        sign_in(client, user)
        client.get("/language/en")

    return _login


@pytest.fixture
def officers(world, make):
    return {
        "district": world["district_officer"],
        "municipal": world["municipal_officer"],
        "admin": make.user("admin"),
    }


@pytest.mark.parametrize("who", ["district", "municipal", "admin"])
@pytest.mark.parametrize("path", PAGES)
def test_every_page_renders_for_finance_and_admins(client, login, officers, settled, who, path):
    login(officers[who])
    response = client.get(path)
    assert response.status_code == 200, html(response)[:500]
    body = html(response)
    assert 'class="f-subnav"' in body and 'aria-current="page"' in body
    assert "<script" not in body


@pytest.mark.parametrize("role", ["founder", "lab_manager", "provider"])
def test_other_roles_get_403(client, login, make, role):
    login(make.user(role))
    for path in PAGES:
        assert client.get(path).status_code == 403, path
    for path in ("/finance/reconciliation", "/finance/exports", "/finance/periods/close"):
        assert client.post(path, data={}).status_code in (400, 403), path


# --- dashboard -------------------------------------------------------------------------------------------


def test_dashboard_stacks_spend_by_programme_with_legend_and_share(client, login, make, world, settled):
    login(make.user("admin"))  # sees every programme (municipal finance: the municipal ones)
    body = html(client.get("/finance"))
    # one stacked bar for 2026-12: a segment per programme, each with an accessible title
    segments = re.findall(r'<rect [^>]*class="v-seg f-c(\d)"><title>([^<]+)</title>', body)
    assert {(c, t) for c, t in segments} == {
        ("0", f"{world['municipal'].name} · {PERIOD}: ¥75.00"),
        ("1", f"{world['district'].name} · {PERIOD}: ¥100.00"),
    }
    assert f"<title>{PERIOD}: ¥175.00</title>" in body
    legend = body.split('class="v-legend"')[1].split("</ul>")[0]
    assert world["municipal"].name in legend and world["district"].name in legend
    # municipal vs district share bar: 7,500 and 10,000 fen
    assert "<title>Municipal: ¥75.00</title>" in body and "<title>District: ¥100.00</title>" in body
    assert "(42.85%)" in body and "(57.15%)" in body
    # the district picker, for municipal finance
    assert 'name="district_code"' in body
    narrowed = html(client.get("/finance?district_code=500103"))
    assert "<title>Municipal: ¥75.00</title>" not in narrowed
    assert client.get("/finance?district_code=999999").status_code == 422


def test_district_dashboard_has_no_picker_and_stays_in_its_district(client, login, world, settled):
    login(world["district_officer"])
    body = html(client.get("/finance?district_code=500103"))  # ignored: a district office sees its own
    assert 'name="district_code"' not in body
    assert world["district"].name in body and world["municipal"].name not in body
    assert "<title>District: ¥100.00</title>" in body


# --- reconciliation --------------------------------------------------------------------------------------


def test_run_reconciliation_from_the_page_settles_a_finished_booking(client, login, api, world, app):
    booking = api_booking(api, world)
    login(world["district_officer"])
    page = client.get("/finance/reconciliation")
    assert re.search(r'<button type="submit" class="button">Run reconciliation</button>', html(page))
    response = post_form(client, "/finance/reconciliation", "/finance/reconciliation", {}, now=AFTER)
    assert response.status_code == 302
    run_id = int(re.search(r"run=(\d+)", response.headers["Location"]).group(1))
    result = html(client.get(response.headers["Location"]))
    assert '<dd class="f-settled">1</dd>' in result and '<dd class="f-exceptions">0</dd>' in result
    assert "1 bookings settled" in result
    with app.app_context():
        assert db.session.get(Booking, booking.id).status == "settled"
        assert db.session.get(ReconciliationRun, run_id).triggered_by_id == world["district_officer"].id


def api_booking(api, world, gpu_hours="1.5"):
    booking = make_booking(api, world)
    post_usage(api, world, booking, gpu_hours)
    return booking


def make_booking(api, world):
    return api._factory.compute_booking(world["team"], world["offer"], START, END)


def test_reconciliation_without_csrf_runs_nothing(client, login, world, app):
    login(world["municipal_officer"])
    assert client.post("/finance/reconciliation", data={}).status_code in (400, 422)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(ReconciliationRun)) == 0


# --- exceptions ------------------------------------------------------------------------------------------


@pytest.fixture
def over_tolerance(api, world, app):
    booking = make_booking(api, world)
    post_usage(api, world, booking, "2.4001")
    assert run(app).exceptions == 1
    with app.app_context():
        return db.session.scalar(select(FinanceException).where(FinanceException.booking_id == booking.id))


def test_exceptions_queue_filters_and_resolves(client, login, world, over_tolerance, app, make):
    exception = over_tolerance
    login(world["district_officer"])
    body = html(client.get("/finance/exceptions"))
    assert f'id="exception-{exception.id}"' in body and "over_tolerance" in body
    assert f'id="exception-{exception.id}"' not in html(client.get("/finance/exceptions?status=resolved"))
    assert f'id="exception-{exception.id}"' not in html(
        client.get("/finance/exceptions?kind=unknown_booking")
    )
    assert client.get("/finance/exceptions?status=nope").status_code == 422

    action = f"/finance/exceptions/{exception.id}/resolve"
    empty = post_form(client, "/finance/exceptions", action, {f"resolve-{exception.id}-comment": "  "})
    assert empty.status_code == 422
    assert f'id="resolve-{exception.id}-comment-errors"' in html(empty)
    assert "Say how it was resolved." in html(empty)
    with app.app_context():
        assert db.session.get(FinanceException, exception.id).status == "open"

    done = post_form(
        client, "/finance/exceptions", action, {f"resolve-{exception.id}-comment": "Provider confirmed."}
    )
    assert done.status_code == 302
    with app.app_context():
        resolved = db.session.get(FinanceException, exception.id)
        assert (resolved.status, resolved.resolution) == ("resolved", "Provider confirmed.")
        entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "resolve_exception"))
        assert entry.actor_id == world["district_officer"].id
    listed = html(client.get("/finance/exceptions?status=resolved"))
    assert f'id="exception-{exception.id}"' in listed and "Provider confirmed." in listed
    again = post_form(client, "/finance/exceptions", action, {f"resolve-{exception.id}-comment": "x"})
    assert again.status_code == 409


def test_a_district_office_never_sees_or_resolves_another_districts_exception(
    client, login, over_tolerance, make, app
):
    login(make.finance("500103"))
    assert f'id="exception-{over_tolerance.id}"' not in html(client.get("/finance/exceptions"))
    action = f"/finance/exceptions/{over_tolerance.id}/resolve"
    response = post_form(client, "/finance/exceptions", action, {f"resolve-{over_tolerance.id}-comment": "x"})
    assert response.status_code == 404
    with app.app_context():
        assert db.session.get(FinanceException, over_tolerance.id).status == "open"


# --- statements and downloads ----------------------------------------------------------------------------


def api_totals(api, user, **query):
    rows = (
        api.as_(user).get("/api/v1/finance/statements", query_string={"period": PERIOD, **query}).json["rows"]
    )
    keys = ("bookings", "total_fen", "municipal_fen", "district_fen", "subsidy_fen", "team_fen", "fee_fen")
    return {k: sum(r[k] for r in rows) for k in keys}, rows


def test_statement_page_lines_per_payee_and_programme_with_totals(client, login, world, settled):
    login(world["municipal_officer"])
    body = html(client.get(f"/finance/statements?period={PERIOD}"))
    assert world["provider"].name in body
    total_row = body.split('class="f-total"')[1].split("</tr>")[0]
    for amount in ("¥250.00", "¥75.00", "¥100.00"):
        assert amount in total_row
    programmes = body.split('class="list v-table f-programs"')[1].split("</table>")[0]
    assert world["municipal"].name in programmes and world["district"].name in programmes
    assert "¥175.00" in programmes.split('class="f-total"')[1]  # 7,500 + 10,000 = the subsidy total
    assert ">Download CSV</a>" in body and ">Download XLSX</a>" in body


def test_statement_defaults_to_the_previous_month_and_rejects_a_bad_one(client, login, world):
    login(world["municipal_officer"])
    with clock.frozen_at(datetime(2027, 1, 10, tzinfo=UTC)):
        body = html(client.get("/finance/statements"))
    assert 'value="2026-12"' in body
    bad = client.get("/finance/statements?period=2026-13")
    assert bad.status_code == 422 and "Enter a month as YYYY-MM" in html(bad)
    assert client.get("/finance/statements/download?period=nope&format=csv").status_code == 422
    assert client.get(f"/finance/statements/download?period={PERIOD}&format=pdf").status_code == 422
    assert client.get(f"/finance/statements/download?period={PERIOD}&kind=all").status_code == 422


def test_csv_and_xlsx_downloads_tie_to_the_api(client, login, api, world, settled):
    officer = world["municipal_officer"]
    totals, rows = api_totals(api, officer)
    login(officer)
    response = client.get(f"/finance/statements/download?period={PERIOD}&format=csv")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"] == f'attachment; filename="statement-{PERIOD}.csv"'
    assert response.headers["Content-Type"].startswith("text/csv")
    *table, total = list(csv.DictReader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    assert [int(r["Payee ID"]) for r in table] == [r["payee_id"] for r in rows]
    assert total["Payee type"] == "Total"
    for key, value in totals.items():  # yuan in the people's file, the API's fen exactly
        label, scale = HUMAN_COLUMNS[key]
        assert sum(Decimal(r[label]) for r in table) * scale == value == Decimal(total[label]) * scale, key

    response = client.get(f"/finance/statements/download?period={PERIOD}&format=xlsx")
    assert response.headers["Content-Disposition"] == f'attachment; filename="statement-{PERIOD}.xlsx"'
    sheet = load_workbook(io.BytesIO(response.get_data())).active
    header, *values, last = list(sheet.iter_rows(values_only=True))
    for key, value in totals.items():
        label, scale = HUMAN_COLUMNS[key]
        column = header.index(label)
        assert round(sum(Decimal(str(v[column])) for v in values) * scale) == value, key
        assert round(Decimal(str(last[column])) * scale) == value, key


HUMAN_COLUMNS = {  # the API's statement columns → the people's file's header and fen per unit
    "bookings": ("Number of bookings", 1),
    "total_fen": ("Actual cost (¥)", 100),
    "municipal_fen": ("Municipal subsidy (¥)", 100),
    "district_fen": ("District subsidy (¥)", 100),
    "subsidy_fen": ("Subsidy total (¥)", 100),
    "team_fen": ("Team share (¥)", 100),
    "fee_fen": ("Fees (¥)", 100),
}


def test_statement_pages_and_downloads_keep_a_district_office_in_its_district(
    client, login, api, make, world, settled, app
):
    other = make.team(owner=make.user("founder"), verified=True, district_code="500103")
    make.voucher(other, world["municipal"], 100_000)
    booking = make.compute_booking(other, world["offer"], START, END)
    post_usage(api, world, booking, "1")
    assert run(app).settled == 1

    login(world["district_officer"])
    for query in ("", "&district_code=500103"):  # asking for another district is ignored
        body = html(client.get(f"/finance/statements?period={PERIOD}{query}"))
        assert '<td data-label="Bookings">2</td>' in body and ">3<" not in body.split("f-statement")[1]
    download = client.get(f"/finance/statements/download?period={PERIOD}&format=csv&district_code=500103")
    assert download.status_code == 200
    assert 'filename="statement-2026-12-500106.csv"' in download.headers["Content-Disposition"]
    (row, _total) = list(csv.DictReader(io.StringIO(download.get_data(as_text=True).lstrip("\ufeff"))))
    assert row["Number of bookings"] == "2"
    lines = client.get(f"/finance/statements/download?period={PERIOD}&format=csv&kind=statement_lines")
    *lines, _total = csv.DictReader(io.StringIO(lines.get_data(as_text=True).lstrip("\ufeff")))
    ids = [int(r["Booking ID"]) for r in lines]
    assert booking.id not in ids and len(ids) == 2


# --- periods ---------------------------------------------------------------------------------------------


def test_close_a_period_with_confirmation(client, login, make, world, settled, app):
    officer = make.finance(None)
    login(officer)
    with clock.frozen_at(LATER):
        page = html(client.get("/finance/periods"))
    assert '<option value="2026-12">2026-12</option>' in page

    unconfirmed = post_form(
        client, "/finance/periods", "/finance/periods/close", {"period": "2026-12"}, now=LATER
    )
    assert unconfirmed.status_code == 422 and "Tick this box to confirm." in html(unconfirmed)
    bad = post_form(
        client, "/finance/periods", "/finance/periods/close", {"period": "2026-13", "confirm": "y"}, now=LATER
    )
    assert bad.status_code == 422 and "Enter a month as YYYY-MM" in html(bad)
    current = post_form(
        client, "/finance/periods", "/finance/periods/close", {"period": "2027-01", "confirm": "y"}, now=LATER
    )
    assert current.status_code == 422  # the current month is not offered, so not taken
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(AccountingPeriod)) == 0

    done = post_form(
        client, "/finance/periods", "/finance/periods/close", {"period": "2026-12", "confirm": "y"}, now=LATER
    )
    assert done.status_code == 302
    with app.app_context():
        assert db.session.get(AccountingPeriod, "2026-12").closed_by_id == officer.id
    again = post_form(
        client, "/finance/periods", "/finance/periods/close", {"period": "2026-12", "confirm": "y"}, now=LATER
    )
    assert again.status_code == 409 and "That month is already closed." in html(again)
    with clock.frozen_at(LATER):
        assert '<option value="2026-12">' not in html(client.get("/finance/periods"))


def test_admins_close_periods_too(client, login, make, world, settled, app):
    login(make.user("admin"))
    with clock.frozen_at(LATER):
        assert "/finance/periods/close" in html(client.get("/finance/periods"))
    response = post_form(
        client, "/finance/periods", "/finance/periods/close", {"period": "2026-12", "confirm": "y"}, now=LATER
    )
    assert response.status_code == 302
    with app.app_context():
        assert db.session.get(AccountingPeriod, "2026-12") is not None


# --- payouts ---------------------------------------------------------------------------------------------


def test_mark_a_payee_paid_with_a_reference(client, login, world, settled, app):
    officer = world["municipal_officer"]
    provider = world["provider"]
    login(officer)
    page = f"/finance/payouts?period={PERIOD}"
    prefix = f"payout-provider-{provider.id}"
    action = f"/finance/payouts/provider/{provider.id}"
    fields = {
        f"{prefix}-period": PERIOD,
        f"{prefix}-payee_kind": "provider",
        f"{prefix}-payee_id": str(provider.id),
    }

    empty = post_form(client, page, action, {**fields, f"{prefix}-reference": ""})
    assert empty.status_code == 422 and "Enter the bank transfer" in html(empty)
    assert f'id="{prefix}-reference-errors"' in html(empty)
    with app.app_context():
        assert db.session.scalar(select(func.count()).where(JournalTransaction.kind == "payout")) == 0

    done = post_form(client, page, action, {**fields, f"{prefix}-reference": "BANK-2027-001"})
    assert done.status_code == 302
    with app.app_context():
        payouts = list(
            db.session.scalars(select(JournalTransaction).where(JournalTransaction.kind == "payout"))
        )
        assert len(payouts) == 1 and "BANK-2027-001" in payouts[0].memo
    body = html(client.get(page))
    assert "Paid" in body and "BANK-2027-001" in body
    again = post_form(client, page, action, {**fields, f"{prefix}-reference": "BANK-2027-002"})
    assert again.status_code == 302
    assert "Nothing more to pay" in html(client.get(again.headers["Location"]))
    with app.app_context():
        assert db.session.scalar(select(func.count()).where(JournalTransaction.kind == "payout")) == 1
    assert client.post("/finance/payouts/bank/1", data={}).status_code in (400, 404)


def test_payout_of_an_unknown_payee_shows_an_error_and_pays_nothing(client, login, world, settled, app):
    login(world["municipal_officer"])
    prefix = "payout-lab-999999"
    response = post_form(
        client,
        f"/finance/payouts?period={PERIOD}",
        "/finance/payouts/lab/999999",
        {
            f"{prefix}-period": PERIOD,
            f"{prefix}-payee_kind": "lab",
            f"{prefix}-payee_id": "999999",
            f"{prefix}-reference": "X",
        },
    )
    assert response.status_code == 422
    with app.app_context():
        assert db.session.scalar(select(func.count()).where(JournalTransaction.kind == "payout")) == 0


# --- audit log -------------------------------------------------------------------------------------------


def test_audit_log_filters_and_pages_newest_first(client, login, make, app):
    officer = make.finance("500106")
    other = make.finance("500103")
    with app.app_context():
        for i in range(55):
            audit.record(
                officer,
                "close_period",
                None,
                object_type="accounting_periods",
                object_id=f"o-{i:02d}",
                district_code="500106",
            )
        audit.record(other, "payout", None, object_type="payee", object_id="theirs", district_code="500103")
        db.session.commit()
    login(officer)
    first = html(client.get("/finance/audit"))
    assert "Entries: 55" in first and "theirs" not in first
    objects = re.findall(r"Period (o-\d+)", first)
    assert len(objects) == 50 and objects[0] == "o-54" and objects[-1] == "o-05"
    second = html(client.get("/finance/audit?page=2"))
    assert re.findall(r"Period (o-\d+)", second) == ["o-04", "o-03", "o-02", "o-01", "o-00"]
    assert "Entries: 0" in html(client.get("/finance/audit?action=payout"))
    assert "Entries: 55" in html(client.get(f"/finance/audit?actor_id={officer.id}"))
    assert "Entries: 0" in html(client.get("/finance/audit?until=2000-01-01"))
    bad = client.get("/finance/audit?since=2026-12-31&until=2026-12-01")
    assert bad.status_code == 422 and "Must not be before the first day." in html(bad)
    assert client.get("/finance/audit?since=yesterday").status_code == 422

    login(make.finance(None))
    assert "Entries: 56" in html(client.get("/finance/audit"))


# --- lab report ------------------------------------------------------------------------------------------


def test_lab_report_table_chart_and_csv(client, login, make):
    lab = make.lab("500106", name="Spectroscopy Lab")
    make.instrument(lab, name="Raman 1")
    make.lab("500103", name="Other District Lab")
    officer = make.finance("500106")
    login(officer)
    body = html(client.get(f"/finance/lab-report?period={PERIOD}"))
    assert "Raman 1" in body and "Other District Lab" not in body
    assert '<svg class="finance-chart"' in body and "Utilisation of opening hours per instrument" in body
    download = client.get(f"/finance/lab-report/download?period={PERIOD}")
    assert download.status_code == 200
    assert download.headers["Content-Disposition"] == f'attachment; filename="lab-report-{PERIOD}.csv"'
    (row, _total) = list(csv.DictReader(io.StringIO(download.get_data(as_text=True).lstrip("\ufeff"))))
    assert row["Instrument"] == "Raman 1" and row["Number of bookings"] == "0"
    assert client.get("/finance/lab-report?period=12-2026").status_code == 422


# --- Chinese ---------------------------------------------------------------------------------------------


def test_pages_in_chinese(client, login, world, settled):
    login(world["municipal_officer"])
    client.get("/language/zh_CN")
    reconciliation = html(client.get("/finance/reconciliation"))
    assert '<button type="submit" class="button">运行对账</button>' in reconciliation
    statements = html(client.get(f"/finance/statements?period={PERIOD}"))
    assert ">下载 CSV</a>" in statements and ">下载 XLSX</a>" in statements
    assert ">下载 CSV</a>" in html(client.get(f"/finance/lab-report?period={PERIOD}"))
    for path in PAGES:
        assert client.get(path).status_code == 200, path
