"""Payouts per office: the municipal and the district office each see and pay only their own
programmes' share of what a payee is owed; once paid, that office's form is gone and the payout is
shown in words (not the ledger memo); the ledger moves only that share.

The world: a provider owed 17,500 fen of subsidy for 2026-12: 7,500 by the municipal programme and
10,000 by district 500106's programme."""

from __future__ import annotations

import re

from sqlalchemy import select

from booking.core.db import db
from tests.conftest import csrf_token, sign_in
from tests.vouchers.finance.conftest import PERIOD
from vouchers.models import LedgerAccount
from vouchers.verify import ledger_breaches

PAGE = f"/finance/payouts?period={PERIOD}"


def login(client, user, language="en"):
    sign_in(client, user)
    client.get(f"/language/{language}")


def card(client, provider) -> str:
    """The payee's card on the payouts page ('' when the page has none)."""
    body = client.get(PAGE).get_data(as_text=True)
    found = re.search(rf'<li class="card" id="payee-provider-{provider.id}">(.*?)</li>', body, re.S)
    return found.group(1) if found else ""


def pay(client, provider, reference: str):
    prefix = f"payout-provider-{provider.id}"
    return client.post(
        f"/finance/payouts/provider/{provider.id}",
        data={
            "csrf_token": csrf_token(client, PAGE),
            f"{prefix}-period": PERIOD,
            f"{prefix}-payee_kind": "provider",
            f"{prefix}-payee_id": str(provider.id),
            f"{prefix}-reference": reference,
        },
    )


def paid_by_program(app) -> dict[int, int]:
    with app.app_context():
        rows = db.session.execute(
            select(LedgerAccount.program_id, LedgerAccount.balance_fen).where(LedgerAccount.kind == "paid")
        )
        return {program_id: balance for program_id, balance in rows if balance}


def test_each_office_sees_and_pays_only_its_share(client, api, make, world, settled, app):
    provider = world["provider"]
    municipal, district = world["municipal"], world["district"]

    login(client, world["district_officer"])
    mine = card(client, provider)
    assert "¥100.00" in mine and "¥75.00" not in mine and "¥175.00" not in mine
    assert "Mark paid" in mine
    assert pay(client, provider, "QX-2027-7").status_code == 302
    assert paid_by_program(app) == {district.id: 10_000}  # only the district's share moved
    mine = card(client, provider)
    assert "Mark paid" not in mine and "<form" not in mine  # paid: the form is gone
    assert "Paid" in mine and "QX-2027-7" in mine and "¥100.00" in mine
    assert f"payout {PERIOD}" not in mine  # the ledger memo is not shown as such

    login(client, world["municipal_officer"])
    theirs = card(client, provider)
    assert "¥75.00" in theirs and "¥100.00" not in theirs and "QX-2027-7" not in theirs
    assert "Mark paid" in theirs  # the municipal share is still unpaid
    assert pay(client, provider, "SZ-2027-1").status_code == 302
    assert paid_by_program(app) == {district.id: 10_000, municipal.id: 7_500}
    assert "<form" not in card(client, provider)
    # a repeat pays nothing more
    assert pay(client, provider, "SZ-2027-2").status_code == 302
    assert paid_by_program(app) == {district.id: 10_000, municipal.id: 7_500}

    with app.app_context():
        assert ledger_breaches() == []
    summaries = {
        program.id: api.as_(officer).get(f"/api/v1/programs/{program.id}/summary").json["paid_fen"]
        for program, officer in (
            (municipal, world["municipal_officer"]),
            (district, world["district_officer"]),
        )
    }
    assert summaries == {municipal.id: 7_500, district.id: 10_000}

    login(client, make.user("admin"))  # every share, paid, and no form (admins pay nothing)
    everything = card(client, provider)
    assert "¥75.00" in everything and "¥100.00" in everything and "SZ-2027-1" in everything
    assert "<form" not in everything


def test_another_districts_office_has_nothing_to_pay_for_these_teams(client, make, world, settled, app):
    provider = world["provider"]
    login(client, make.finance("500103"))
    assert card(client, provider) == ""
    response = pay(client, provider, "X-1")
    assert response.status_code == 302
    assert "owe this payee nothing" in client.get(response.headers["Location"]).get_data(as_text=True)
    assert paid_by_program(app) == {}


def test_the_paid_share_reads_in_chinese(client, world, settled):
    provider = world["provider"]
    login(client, world["district_officer"], "zh_CN")
    assert pay(client, provider, "QX-9").status_code == 302
    mine = card(client, provider)
    assert "QX-9" in mine and "payout" not in mine and "参考号" in mine
