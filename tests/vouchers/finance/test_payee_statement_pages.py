"""The payee statement pages of the lab console and the provider console: pick a month, see the totals
per payee and the lines, download CSV/XLSX (one row per line, Chinese headers, yuan, inert cells)."""

from __future__ import annotations

from tests.conftest import sign_in
from tests.support.sheets import assert_csv_is_inert, assert_xlsx_is_inert, duplicate_ids
from tests.vouchers.finance.conftest import PERIOD


def page(client, path, **query):
    response = client.get(path, query_string=query)
    return response, response.get_data(as_text=True)


def test_a_lab_manager_sees_their_labs_statement(client, world, payees):
    manager, lab = payees["managers"][0], payees["labs"][0]
    sign_in(client, manager)
    response, html = page(client, "/lab/statements", period=PERIOD)
    assert response.status_code == 200
    assert "结算对账单" in html and "已结算的预约和订单" in html
    assert lab.name in html and payees["labs"][1].name not in html
    assert "¥120.00" in html  # two hours at ¥60
    assert f"#{payees['bookings'][0].id}" in html and f"#{payees['bookings'][1].id}" not in html
    assert "=cmd" in html  # the team's name, shown as text
    assert world["provider"].name not in html
    assert duplicate_ids(html) == []
    # the console links to it
    assert "/lab/statements" in page(client, "/lab")[1]


def test_the_lab_downloads_are_one_row_per_line(client, world, payees):
    sign_in(client, payees["managers"][0])
    response = client.get("/lab/statements/download", query_string={"period": PERIOD, "format": "csv"})
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = assert_csv_is_inert(response.get_data())
    assert "预约编号" in rows[0] and len(rows) == 2
    assert "'=cmd" in rows[1] and "120.00" in rows[1]
    response = client.get("/lab/statements/download", query_string={"period": PERIOD, "format": "xlsx"})
    assert response.status_code == 200
    values = [c.value for c in assert_xlsx_is_inert(response.get_data())]
    assert "'=cmd" in values


def test_a_provider_sees_its_statement_and_an_empty_month(client, world, payees):
    sign_in(client, world["provider_user"])
    response, html = page(client, "/provider/statements", period=PERIOD)
    assert response.status_code == 200
    assert world["provider"].name in html and payees["labs"][0].name not in html
    assert "¥250.00" in html  # 15,000 + 10,000 fen
    assert "/provider/statements" in page(client, "/provider")[1]
    response, html = page(client, "/provider/statements", period="2026-11")
    assert response.status_code == 200 and "/provider/statements/download" in html
    empty = client.get("/provider/statements/download", query_string={"period": "2026-11", "format": "csv"})
    rows = assert_csv_is_inert(empty.get_data())
    assert len(rows) == 1 and "预约编号" in rows[0]


def test_a_bad_month_is_refused_on_the_page(client, world, payees):
    sign_in(client, payees["managers"][0])
    response, html = page(client, "/lab/statements", period="2026-13")
    assert response.status_code == 422 and "YYYY-MM" in html
    bad = client.get("/lab/statements/download", query_string={"period": "2026-13", "format": "csv"})
    assert bad.status_code == 422


def test_an_admin_picks_the_provider(client, make, world, payees):
    sign_in(client, make.user("admin"))
    response, html = page(client, "/provider/statements", period=PERIOD, provider_id=world["provider"].id)
    assert response.status_code == 200 and "¥250.00" in html
    assert f"provider_id={world['provider'].id}" in html  # the downloads stay on this provider
    response, html = page(client, "/lab/statements", period=PERIOD)
    assert payees["labs"][0].name in html and payees["labs"][1].name in html


def test_others_may_not(client, world):
    sign_in(client, world["owner"])
    assert client.get("/lab/statements").status_code == 403
    assert client.get("/provider/statements").status_code == 403
