"""The /finance page: programme figures and a server-rendered SVG chart, for finance and admins only."""

from __future__ import annotations

from tests.vouchers.finance.conftest import PERIOD


def test_finance_page_shows_programmes_and_an_svg_chart(client, login, world, settled):
    login(world["municipal_officer"])
    page = client.get("/finance")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert world["municipal"].name in html
    assert "<svg" in html and "<rect" in html and PERIOD in html
    assert "¥75.00" in html  # the municipal programme spent 7,500 fen in the month
    assert "<script" not in html


def test_finance_page_is_for_finance(client, login, world):
    login(world["owner"])
    assert client.get("/finance").status_code == 403


def test_finance_page_without_settlements(client, login, make):
    login(make.finance("500106"))
    assert client.get("/finance").status_code == 200
