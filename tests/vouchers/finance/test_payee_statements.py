"""The payee's own statement (GET /api/v1/payee/statements): lab managers see their labs, provider
users their provider, admins everyone; totals equal the settlements to the fen; the files have one row
per settled booking and always a header, in Chinese, in yuan, and no cell can run as a formula."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import func, select

from booking.core.db import db
from tests.support.sheets import assert_csv_is_inert, assert_xlsx_is_inert, csv_rows
from tests.vouchers.finance.conftest import END, PERIOD, START, post_usage, run
from vouchers.models import Settlement
from vouchers.reports import payee_statements

URL = "/api/v1/payee/statements"


def statement(api, user, **query):
    return api.as_(user).get(URL, query_string={"period": PERIOD, **query})


def test_a_lab_manager_sees_only_their_labs(api, make, world, payees, app):
    manager, lab = payees["managers"][0], payees["labs"][0]
    response = statement(api, manager)
    assert response.status_code == 200, response.json
    body = response.json
    assert body["period"] == PERIOD
    (row,) = body["payees"]
    assert (row["payee_kind"], row["payee_id"], row["payee_name"]) == ("lab", lab.id, lab.name)
    assert row["bookings"] == 1 and row["total_fen"] == 12_000  # two hours at ¥60
    (line,) = body["lines"]
    assert line["booking_id"] == payees["bookings"][0].id
    assert (line["kind"], line["team_name"], line["resource_name"]) == (
        "instrument",
        "=cmd",
        payees["instruments"][0].name,
    )
    assert line["starts_at"].startswith(START.isoformat()[:16])
    assert line["settled_at"] is not None
    # the other lab's manager sees the other lab only; asking for this lab → 404
    other = statement(api, payees["managers"][1]).json
    assert [p["payee_id"] for p in other["payees"]] == [payees["labs"][1].id]
    assert statement(api, payees["managers"][1], payee_kind="lab", payee_id=lab.id).status_code == 404
    # a manager of no lab: an empty statement
    nobody = statement(api, make.user("lab_manager")).json
    assert (nobody["payees"], nobody["lines"]) == ([], [])


def test_a_provider_sees_only_its_provider_and_admin_sees_all(api, make, world, payees, app):
    mine = statement(api, world["provider_user"]).json
    assert [(p["payee_kind"], p["payee_id"]) for p in mine["payees"]] == [("provider", world["provider"].id)]
    assert len(mine["lines"]) == 2 and {line["kind"] for line in mine["lines"]} == {"compute"}
    assert statement(api, make.user("provider")).json["lines"] == []
    everyone = statement(api, make.user("admin")).json
    assert len(everyone["payees"]) == 3 and len(everyone["lines"]) == 4
    one = statement(api, make.user("admin"), payee_kind="lab", payee_id=payees["labs"][1].id).json
    assert [line["booking_id"] for line in one["lines"]] == [payees["bookings"][1].id]


def test_who_may_not_and_bad_input(api, make, world, payees):
    for user in (world["owner"], world["municipal_officer"], world["district_officer"]):
        assert statement(api, user).status_code == 403
    assert api.get(URL, query_string={"period": PERIOD}).status_code == 401
    manager = payees["managers"][0]
    for period in ("2026-13", "12-2026", "2026-1", ""):
        response = statement(api, manager, period=period)
        assert response.status_code == 422 and "period" in response.json["error"]["details"]
    assert api.as_(manager).get(URL).status_code == 422
    assert statement(api, manager, format="pdf").status_code == 422


def test_totals_equal_the_settlements_to_the_fen(api, make, world, payees, app):
    body = statement(api, make.user("admin")).json
    amounts = ("municipal_fen", "district_fen", "subsidy_fen", "team_fen", "fee_fen")
    for row in body["payees"]:
        mine = [
            line
            for line in body["lines"]
            if (line["payee_kind"], line["payee_id"]) == (row["payee_kind"], row["payee_id"])
        ]
        assert row["bookings"] == len(mine)
        assert row["total_fen"] == sum(line["actual_cost_fen"] for line in mine)
        for key in amounts:
            assert row[key] == sum(line[key] for line in mine)
        assert row["total_fen"] == row["subsidy_fen"] + row["team_fen"]
    with app.app_context():
        settled = db.session.execute(
            select(
                func.count(),
                func.sum(Settlement.actual_cost_fen),
                func.sum(Settlement.municipal_fen),
                func.sum(Settlement.district_fen),
                func.sum(Settlement.team_fen),
            ).where(Settlement.period == PERIOD)
        ).one()
    totals = payee_statements.totals(body["payees"])
    assert (
        totals["bookings"],
        totals["total_fen"],
        totals["municipal_fen"],
        totals["district_fen"],
        totals["team_fen"],
    ) == tuple(settled)


def test_csv_one_row_per_line_in_chinese_and_yuan(api, make, world, payees):
    response = statement(api, make.user("admin"), format="csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    data = response.get_data()
    assert data.startswith("\ufeff".encode())
    rows = assert_csv_is_inert(data)
    header, lines = rows[0], rows[1:]
    assert "预约编号" in header and "实际费用（元）" in header
    assert len(lines) == 4  # one per settled booking, no totals row
    by_booking = {int(r[0]): r for r in lines}
    instrument_line = by_booking[payees["bookings"][0].id]
    cost = header.index("实际费用（元）")
    assert instrument_line[cost] == "120.00"
    team = header.index("团队")
    assert instrument_line[team] == "'=cmd"  # text, never a formula
    total = sum(Decimal(r[cost]) for r in lines)
    json_total = sum(p["total_fen"] for p in statement(api, make.user("admin")).json["payees"])
    assert total == Decimal(json_total) / 100


def test_machine_layout_has_the_json_columns(api, make, world, payees):
    rows = csv_rows(statement(api, world["provider_user"], format="csv", layout="machine").get_data())
    assert tuple(rows[0]) == payee_statements.FILE_COLUMNS
    costs = sorted(int(r[rows[0].index("actual_cost_fen")]) for r in rows[1:])
    assert costs == [10_000, 15_000]


def test_files_always_have_a_header(api, make, world):
    manager = make.user("lab_manager")
    text = statement(api, manager, format="csv").get_data().decode("utf-8-sig")
    assert len(text.splitlines()) == 1 and "预约编号" in text
    machine = statement(api, manager, format="csv", layout="machine").get_data().decode("utf-8-sig")
    assert machine.splitlines() == [",".join(payee_statements.FILE_COLUMNS)]
    response = statement(api, manager, format="xlsx")
    assert response.status_code == 200
    cells = assert_xlsx_is_inert(response.get_data())
    assert len(cells) == len(payee_statements.FILE_COLUMNS)  # the header row alone


def test_xlsx_is_inert_and_in_yuan(api, make, world, payees):
    response = statement(api, payees["managers"][0], format="xlsx")
    assert response.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    cells = assert_xlsx_is_inert(response.get_data())
    values = [c.value for c in cells]
    assert "'=cmd" in values
    assert Decimal("120.00") in [Decimal(str(v)) for v in values if isinstance(v, int | float | Decimal)]


def test_many_lines_stream_in_pages(api, make, world, app, monkeypatch):
    """More lines than a page: every one comes out once, in order."""
    monkeypatch.setattr(payee_statements, "PAGE_ROWS", 3)
    bookings = [make.compute_booking(world["team"], world["offer"], START, END) for _ in range(7)]
    for booking in bookings:
        post_usage(api, world, booking, "0.5")
    assert run(app).settled == 7
    response = statement(api, world["provider_user"], format="csv", layout="machine")
    assert response.is_streamed
    rows = csv_rows(response.get_data())
    assert [int(r[0]) for r in rows[1:]] == [b.id for b in bookings]
    assert len(statement(api, world["provider_user"]).json["lines"]) == 7


def test_another_month_is_empty(api, world, payees):
    body = statement(api, world["provider_user"], period="2026-11").json
    assert (body["payees"], body["lines"]) == ([], [])
