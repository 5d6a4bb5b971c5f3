"""The files finance downloads: readable by people (headers in the user's language, yuan with two
decimals as numbers, local times, payee kinds as words, a totals row) and inert (no cell of any CSV or
XLSX the platform writes can run as a formula). The API keeps its machine columns."""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from booking import jobs
from booking.core.db import db
from booking.models import ComputeOffer, Provider, Team
from tests.conftest import sign_in
from tests.support.sheets import assert_csv_is_inert, assert_xlsx_is_inert, csv_rows, xlsx_cells
from tests.vouchers.finance.conftest import AFTER, PERIOD
from tests.vouchers.finance.test_exports import request_export
from vouchers.models import Settlement

HOSTILE = {
    "team": '=HYPERLINK("http://x","y")',
    "provider": "+SUM(1,2)",
    "organization": "@cmd|' /C calc'!A0",
    "offer": "-2+3",
    "lab": "\t=1+1",
    "instrument": "\uff1d1+1",
    "lab_organization": "\r=2+2",
}
SHANGHAI = ZoneInfo("Asia/Shanghai")


def yuan_text(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


@pytest.fixture
def login(client):
    def _login(user, language="en"):
        sign_in(client, user)
        client.get(f"/language/{language}")

    return _login


@pytest.fixture
def hostile(app, make, world, settled):
    """The settled finance world with names a spreadsheet would run as formulas, and a lab whose
    instrument shows in the lab report."""
    lab = make.lab("500106")
    make.instrument(lab, name=HOSTILE["instrument"])
    with app.app_context():
        db.session.get(Team, world["team"].id).name = HOSTILE["team"]
        provider = db.session.get(Provider, world["provider"].id)
        provider.name = HOSTILE["provider"]
        provider.organization.name = HOSTILE["organization"]
        db.session.get(ComputeOffer, world["offer"].id).name = HOSTILE["offer"]
        from instruments.models import Lab

        stored = db.session.get(Lab, lab.id)
        stored.name = HOSTILE["lab"]
        stored.organization.name = HOSTILE["lab_organization"]
        db.session.commit()
    return world


def _all_files(app, client, api, officer) -> dict[str, bytes]:
    """Every statement and report file, from the pages (direct and background) and the API."""
    files = {}
    for kind in ("statement", "statement_lines"):
        for fmt in ("csv", "xlsx"):
            files[f"page {kind}.{fmt}"] = client.get(
                f"/finance/statements/download?period={PERIOD}&format={fmt}&kind={kind}"
            ).get_data()
            export_id = request_export(client, kind=kind, fmt=fmt)
            with app.app_context():
                jobs.run_job("exports", AFTER)
            files[f"export {kind}.{fmt}"] = client.get(f"/finance/exports/{export_id}/download").get_data()
    for fmt in ("csv", "xlsx"):
        files[f"page lab-report.{fmt}"] = client.get(
            f"/finance/lab-report/download?period={PERIOD}&format={fmt}"
        ).get_data()
    for layout in ("machine", "human"):
        for fmt in ("csv", "xlsx"):
            response = api.as_(officer).get(
                f"/api/v1/finance/statements?period={PERIOD}&format={fmt}&layout={layout}"
            )
            assert response.status_code == 200, response.get_data()[:300]
            files[f"api statement {layout}.{fmt}"] = response.get_data()
        response = api.as_(officer).get(
            f"/api/v1/finance/lab-report?period={PERIOD}&format=csv&layout={layout}"
        )
        assert response.status_code == 200, response.get_data()[:300]
        files[f"api lab-report {layout}.csv"] = response.get_data()
    return files


def test_no_file_carries_a_formula(app, client, login, api, hostile):
    officer = hostile["municipal_officer"]
    login(officer)
    files = _all_files(app, client, api, officer)
    seen = set()
    for name, data in files.items():
        if name.endswith(".csv"):
            text = [value for row in assert_csv_is_inert(data) for value in row]
        else:
            cells = assert_xlsx_is_inert(data)
            text = [c.value for c in cells if isinstance(c.value, str)]
            numbers = [c.value for c in cells if isinstance(c.value, int | float)]
            assert numbers, name  # amounts and counts stay numbers
        for key, hostile_name in HOSTILE.items():
            if "'" + hostile_name in text:  # kept, behind the quote that makes it text
                seen.add((name, key))
    for name in files:
        if "lab-report" in name:
            assert {(name, "lab"), (name, "instrument")} <= seen, name
        elif "statement_lines" in name:
            assert {(name, "team"), (name, "offer")} <= seen, name
        else:
            assert {(name, "provider"), (name, "organization")} <= seen, name


def test_a_team_named_like_a_formula_is_text_in_the_statement_lines(client, login, hostile):
    """The reported case: ``=HYPERLINK(...)`` as a team name was a live formula in the XLSX."""
    login(hostile["municipal_officer"])
    data = client.get(
        f"/finance/statements/download?period={PERIOD}&format=xlsx&kind=statement_lines"
    ).get_data()
    teams = [c for c in xlsx_cells(data) if isinstance(c.value, str) and "HYPERLINK" in c.value]
    assert len(teams) == 2  # one per settled booking
    assert all((c.data_type, c.value) == ("s", "'" + HOSTILE["team"]) for c in teams)


def test_a_negative_amount_stays_a_number():
    from booking.core import sheets

    assert sheets.csv_value(-500) == -500 and sheets.csv_value(Decimal("-5.00")) == "-5.00"
    assert sheets.csv_value("-5") == "'-5" and sheets.csv_value(" =1") == "' =1"
    assert sheets.csv_value("\uff20x") == "'\uff20x" and sheets.csv_value("\nx") == "'\nx"
    assert sheets.csv_value("\u3000=1") == "'\u3000=1"  # after a full-width space too
    assert sheets.csv_value("a=b") == "a=b" and sheets.csv_value("") == "" and sheets.csv_value(None) == ""
    data = b"".join(
        sheets.xlsx_pieces(["a", "b", "c", "d"], [[-500, Decimal("-5.25"), "#N/A", "x\x00y"]], "t")
    )
    a, b, c, d = (cell for cell in assert_xlsx_is_inert(data) if cell.row == 2)
    assert (a.value, a.data_type) == (-500, "n") and (b.value, b.data_type) == (-5.25, "n")
    assert (c.value, c.data_type) == ("#N/A", "s")  # text, not an error cell
    assert d.value == "xy"  # a control character XLSX cannot hold is dropped, not a failed export


def _settlements(app):
    with app.app_context():
        return list(db.session.scalars(select(Settlement).order_by(Settlement.id)))


def test_page_downloads_are_for_people(client, login, api, world, settled, app):
    officer = world["municipal_officer"]
    (payee,) = api.as_(officer).get(f"/api/v1/finance/statements?period={PERIOD}").json["rows"]
    login(officer, "zh_CN")
    header, row, total = csv_rows(
        client.get(f"/finance/statements/download?period={PERIOD}&format=csv").get_data()
    )
    assert header[:3] == ["收款方类型", "收款方编号", "收款方"] and "实际费用（元）" in header
    assert row[0] == "算力服务商" and row[2] == world["provider"].name
    assert row[header.index("实际费用（元）")] == yuan_text(payee["total_fen"]) == "250.00"
    assert row[header.index("区级补贴（元）")] == yuan_text(payee["district_fen"])
    assert total[0] == "合计" and total[header.index("实际费用（元）")] == "250.00"
    assert total[header.index("预约数")] == "2"

    cells = xlsx_cells(client.get(f"/finance/statements/download?period={PERIOD}&format=xlsx").get_data())
    by_row = {}
    for cell in cells:
        by_row.setdefault(cell.row, []).append(cell)
    head, first, last = by_row[1], by_row[2], by_row[3]
    cost = [c.value for c in head].index("实际费用（元）")
    assert first[cost].value == 250 and first[cost].number_format == "#,##0.00"
    assert first[0].value == "算力服务商" and last[0].value == "合计" and last[cost].value == 250

    stored = _settlements(app)
    lines = csv_rows(
        client.get(f"/finance/statements/download?period={PERIOD}&format=csv&kind=statement_lines").get_data()
    )
    header, body, total = lines[0], lines[1:-1], lines[-1]
    when = header.index("结算时间（北京时间）")
    expected = {
        s.booking_id: s.settled_at.replace(tzinfo=s.settled_at.tzinfo or ZoneInfo("UTC"))
        .astimezone(SHANGHAI)
        .strftime("%Y-%m-%d %H:%M:%S")
        for s in stored
    }
    assert {int(r[0]): r[when] for r in body} == expected
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", r[when]) for r in body)
    assert {r[header.index("资源类型")] for r in body} == {"算力"}
    subsidy = header.index("补贴合计（元）")
    assert total[0] == "合计"
    assert (
        Decimal(total[subsidy])
        == sum(Decimal(r[subsidy]) for r in body)
        == Decimal(sum(s.subsidy_fen for s in stored)) / 100
    )

    sheet = xlsx_cells(
        client.get(
            f"/finance/statements/download?period={PERIOD}&format=xlsx&kind=statement_lines"
        ).get_data()
    )
    dates = [c for c in sheet if c.row > 1 and c.column == when + 1 and c.value is not None]
    assert len(dates) == len(stored) and all(isinstance(c.value, datetime) and c.is_date for c in dates)
    assert all(c.value.microsecond == 0 and c.value.tzinfo is None for c in dates)

    login(officer, "en")
    header = csv_rows(client.get(f"/finance/statements/download?period={PERIOD}&format=csv").get_data())[0]
    assert header[:3] == ["Payee type", "Payee ID", "Payee"] and "Actual cost (¥)" in header


def test_the_api_keeps_its_columns_and_offers_the_people_layout(client, login, api, world, settled):
    officer = world["municipal_officer"]
    machine = csv_rows(
        api.as_(officer).get(f"/api/v1/finance/statements?period={PERIOD}&format=csv").get_data()
    )
    assert machine[0][:4] == ["payee_kind", "payee_id", "payee_name", "organization"]
    assert machine[1][0] == "provider" and machine[1][machine[0].index("total_fen")] == "25000"
    assert len(machine) == 2  # no totals row in the machine layout
    human = api.as_(officer).get(f"/api/v1/finance/statements?period={PERIOD}&format=csv&layout=human")
    login(officer, "zh_CN")
    page = client.get(f"/finance/statements/download?period={PERIOD}&format=csv").get_data()
    assert human.get_data() == page  # one function builds the people's layout for both
    bad = api.as_(officer).get(f"/api/v1/finance/statements?period={PERIOD}&format=csv&layout=pretty")
    assert bad.status_code == 422 and set(bad.json["error"]) == {"code", "message", "details"}


def test_lab_report_download_is_for_people(client, login, api, make):
    lab = make.lab("500106", name="光谱实验室")
    make.instrument(lab, name="拉曼光谱仪")
    officer = make.finance("500106")
    login(officer, "zh_CN")
    header, row, total = csv_rows(client.get(f"/finance/lab-report/download?period={PERIOD}").get_data())
    assert header[1] == "实验室" and "利用率（%）" in header and "收入（元）" in header
    assert row[1] == "光谱实验室" and row[header.index("运营模式")] == "市场化"
    assert row[header.index("开放小时数")] == "230.00" and row[header.index("收入（元）")] == "0.00"
    assert total[0] == "合计" and total[header.index("开放小时数")] == "230.00"
    machine = csv_rows(
        api.as_(officer).get(f"/api/v1/finance/lab-report?period={PERIOD}&format=csv").get_data()
    )
    assert machine[0][:2] == ["lab_id", "lab_name"] and len(machine) == 2


def test_every_file_writer_is_the_formula_safe_one():
    """No CSV or XLSX is written anywhere but ``booking/core/sheets.py`` (a new writer would skip the guard)."""
    root = Path(__file__).resolve().parents[3]
    writers = re.compile(r"csv\.(writer|DictWriter)\(|\bWorkbook\(|xlsxwriter")
    found = [
        str(path.relative_to(root))
        for package in ("booking", "vouchers", "instruments", "bench")
        for path in (root / package).rglob("*.py")
        if writers.search(path.read_text(encoding="utf-8"))
    ]
    assert found == ["booking/core/sheets.py"]


def test_a_background_export_reads_in_the_language_of_who_asked(app, client, login, world, settled):
    login(world["municipal_officer"], "zh_CN")
    export_id = request_export(client, kind="statement_lines")
    with app.app_context():  # the job has no request: the export remembers the language
        jobs.run_job("exports", AFTER)
    header, *lines, total = csv_rows(client.get(f"/finance/exports/{export_id}/download").get_data())
    assert header[:2] == ["预约编号", "结算时间（北京时间）"] and total[0] == "合计" and len(lines) == 2
    assert {line[header.index("收款方类型")] for line in lines} == {"算力服务商"}
