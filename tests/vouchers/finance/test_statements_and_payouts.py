"""Monthly statements per payee (JSON, CSV, XLSX) that tie to the ledger; payouts; the dashboard."""

from __future__ import annotations

import csv
import io

from openpyxl import load_workbook

from tests.vouchers.finance.conftest import END, PERIOD, START, post_usage, run
from vouchers import periods
from vouchers.reports import statements
from vouchers.verify import ledger_breaches


def statement(api, user, **query):
    return api.as_(user).get("/api/v1/finance/statements", query_string={"period": PERIOD, **query})


def test_statement_has_one_row_per_payee(api, make, world, settled, app):
    response = statement(api, world["municipal_officer"])
    assert response.status_code == 200, response.json
    assert response.json["period"] == PERIOD
    (row,) = response.json["rows"]
    # actual 15,000 and 10,000: municipal 30% = 4,500 + 3,000; district min(50%, 70% − 30%) = 6,000 + 4,000
    assert row == {
        "payee_kind": "provider",
        "payee_id": world["provider"].id,
        "payee_name": world["provider"].name,
        "organization": row["organization"],
        "bookings": 2,
        "total_fen": 25_000,
        "municipal_fen": 7_500,
        "district_fen": 10_000,
        "subsidy_fen": 17_500,
        "team_fen": 7_500,
        "fee_fen": 0,
    }
    with app.app_context():
        ledger_payable = periods.payable_settled_fen(PERIOD)
    rows = response.json["rows"]
    assert sum(r["municipal_fen"] + r["district_fen"] for r in rows) == ledger_payable
    # another month: header only / no rows
    assert statement(api, world["municipal_officer"], period="2026-11").json["rows"] == []


def test_statement_scope_by_district(api, make, world, settled, app):
    other_team = make.team(owner=make.user("founder"), verified=True, district_code="500103")
    make.voucher(other_team, world["municipal"], 100_000)
    booking = make.compute_booking(other_team, world["offer"], START, END)
    post_usage(api, world, booking, "1")
    assert run(app).settled == 1
    everyone = statement(api, world["municipal_officer"]).json["rows"]
    assert [r["bookings"] for r in everyone] == [3]
    ours = statement(api, world["district_officer"]).json["rows"]
    assert [r["bookings"] for r in ours] == [2]
    theirs = statement(api, world["municipal_officer"], district_code="500103").json["rows"]
    assert [(r["bookings"], r["total_fen"], r["municipal_fen"]) for r in theirs] == [(1, 10_000, 3_000)]
    assert statement(api, world["district_officer"], district_code="500103").status_code == 404
    assert statement(api, world["municipal_officer"], district_code="999999").status_code == 422
    with app.app_context():
        payable = periods.payable_settled_fen(PERIOD)
    assert sum(r["municipal_fen"] + r["district_fen"] for r in everyone) == payable


def test_statement_validation_and_access(api, make, world):
    officer = world["municipal_officer"]
    assert api.as_(officer).get("/api/v1/finance/statements").status_code == 422
    assert statement(api, officer, period="2026-13").status_code == 422
    assert statement(api, officer, format="pdf").status_code == 422
    assert statement(api, world["owner"]).status_code == 403
    assert api.get("/api/v1/finance/statements?period=2026-12").status_code == 401


def test_statement_as_csv_and_xlsx(api, make, world, settled):
    officer = world["municipal_officer"]
    response = statement(api, officer, format="csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    body = response.get_data()
    assert body.startswith("\ufeff".encode())
    rows = list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"))))
    assert [
        (r["payee_kind"], r["bookings"], r["total_fen"], r["municipal_fen"], r["district_fen"]) for r in rows
    ] == [("provider", "2", "25000", "7500", "10000")]
    empty = statement(api, officer, format="csv", period="2026-11").get_data().decode("utf-8-sig")
    assert empty.splitlines() == [",".join(statements.STATEMENT_COLUMNS)]

    response = statement(api, officer, format="xlsx")
    assert response.status_code == 200
    assert response.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    sheet = load_workbook(io.BytesIO(response.get_data()), read_only=True).active
    values = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert values[0] == list(statements.STATEMENT_COLUMNS)
    assert values[1][0] == "provider" and values[1][4:8] == [2, 25_000, 7_500, 10_000]


def summary(api, officer, program):
    return api.as_(officer).get(f"/api/v1/programs/{program.id}/summary").json


def test_payout_moves_payable_to_paid_once(api, make, world, settled, app):
    officer = world["municipal_officer"]
    body = {
        "period": PERIOD,
        "payee_kind": "provider",
        "payee_id": world["provider"].id,
        "reference": "BANK-001",
    }
    before = summary(api, officer, world["municipal"])
    assert (before["spent_fen"], before["paid_fen"]) == (7_500, 0)
    first = api.as_(officer).post("/api/v1/finance/payouts", json=body)
    assert first.status_code == 201, first.json
    assert first.json["paid_fen"] == 7_500
    assert first.json["programs"] == [{"program_id": world["municipal"].id, "amount_fen": 7_500}]
    after = summary(api, officer, world["municipal"])
    assert (after["spent_fen"], after["paid_fen"]) == (7_500, 7_500)
    again = api.as_(officer).post("/api/v1/finance/payouts", json={**body, "reference": "BANK-002"})
    assert again.status_code == 200 and again.json["paid_fen"] == 7_500
    assert summary(api, officer, world["municipal"])["paid_fen"] == 7_500
    # the district pays its own programme's share; the municipal payout did not touch it
    district_officer = world["district_officer"]
    assert summary(api, district_officer, world["district"])["paid_fen"] == 0
    paid = api.as_(district_officer).post("/api/v1/finance/payouts", json=body)
    assert paid.status_code == 201 and paid.json["paid_fen"] == 10_000
    assert summary(api, district_officer, world["district"])["paid_fen"] == 10_000
    with app.app_context():
        assert ledger_breaches() == []
    audit = api.as_(make.user("admin")).get("/api/v1/finance/audit?action=payout").json["items"]
    assert [(e["object_id"], e["after"]["paid_fen"]) for e in audit] == [
        (f"provider:{world['provider'].id}", 7_500),
        (f"provider:{world['provider'].id}", 10_000),
    ]


def test_payout_validation(api, make, world):
    officer = world["municipal_officer"]
    body = {"period": PERIOD, "payee_kind": "provider", "payee_id": world["provider"].id, "reference": "X"}
    assert (
        api.as_(officer).post("/api/v1/finance/payouts", json={**body, "period": "12-2026"}).status_code
        == 422
    )
    assert (
        api.as_(officer).post("/api/v1/finance/payouts", json={**body, "payee_kind": "team"}).status_code
        == 422
    )
    unknown = api.as_(officer).post("/api/v1/finance/payouts", json={**body, "payee_id": 99_999})
    assert unknown.status_code == 422 and "payee_id" in unknown.json["error"]["details"]
    assert api.as_(world["owner"]).post("/api/v1/finance/payouts", json=body).status_code == 403
    nothing = api.as_(officer).post("/api/v1/finance/payouts", json=body)
    assert nothing.status_code == 200 and nothing.json["paid_fen"] == 0


def test_dashboard(api, make, world, settled):
    officer = world["municipal_officer"]
    response = api.as_(officer).get("/api/v1/finance/dashboard")
    assert response.status_code == 200, response.json
    data = response.json
    (program,) = data["programs"]  # municipal finance runs the municipal programme
    assert program["id"] == world["municipal"].id
    assert (program["budget_fen"], program["spent_fen"]) == (10_000_000, 7_500)
    assert program["by_month"] == [{"period": PERIOD, "spent_fen": 7_500}]
    assert data["share"] == {"municipal_fen": 7_500, "district_fen": 10_000}
    assert data["top_teams"] == [
        {"team_id": world["team"].id, "name": world["team"].name, "subsidy_fen": 17_500}
    ]
    assert [p["payee_id"] for p in data["top_payees"]] == [world["provider"].id]
    district = api.as_(world["district_officer"]).get("/api/v1/finance/dashboard").json
    assert [p["id"] for p in district["programs"]] == [world["district"].id]
    assert api.as_(make.finance("500103")).get("/api/v1/finance/dashboard").json["share"] == {
        "municipal_fen": 0,
        "district_fen": 0,
    }
    assert api.as_(world["owner"]).get("/api/v1/finance/dashboard").status_code == 403
