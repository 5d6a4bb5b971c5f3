"""The journal for auditors (GET /api/v1/finance/journal, ``ledger export``): every transaction of a
period with its postings (summing to zero), in the finance office's scope, streamed as JSON, CSV or
XLSX; and the same as a beancount file that the real beancount loads cleanly, whose balances are the
ledger's."""

from __future__ import annotations

import json
from collections import defaultdict
from decimal import Decimal

import pytest
from beancount import loader
from beancount.core import data
from sqlalchemy import func, select

from booking.core.db import db
from tests.support.sheets import assert_csv_is_inert, assert_xlsx_is_inert, csv_rows
from vouchers.models import JournalTransaction, LedgerAccount, Posting, Program
from vouchers.reports import beancount, journal
from vouchers.verify import ledger_breaches

URL = "/api/v1/finance/journal"


def get_journal(api, user, period, **query):
    return api.as_(user).get(URL, query_string={"period": period, **query})


def ledger_periods(app) -> list[str]:
    with app.app_context():
        return sorted(set(db.session.scalars(select(JournalTransaction.period))))


def expected_ids(app, period, district=None) -> list[int]:
    """The period's transactions (touching the district's programmes), straight from the tables."""
    with app.app_context():
        query = select(JournalTransaction.id).where(JournalTransaction.period == period)
        if district is not None:
            query = (
                query.join(Posting, Posting.transaction_id == JournalTransaction.id)
                .join(LedgerAccount, LedgerAccount.id == Posting.account_id)
                .join(Program, Program.id == LedgerAccount.program_id)
                .where(Program.level == "district", Program.district_code == district)
            )
        return sorted(set(db.session.scalars(query)))


def test_every_transaction_of_the_period_with_balanced_postings(api, make, world, settled, app):
    officer = world["municipal_officer"]
    periods = ledger_periods(app)
    assert periods  # the programmes' funding, the vouchers, the bookings and their settlement
    kinds = set()
    for period in periods:
        response = get_journal(api, officer, period)
        assert response.status_code == 200 and response.mimetype == "application/json"
        body = json.loads(response.get_data())
        assert body["period"] == period
        assert [t["id"] for t in body["transactions"]] == expected_ids(app, period)
        for t in body["transactions"]:
            assert t["postings"] and sum(p["amount_fen"] for p in t["postings"]) == 0
            assert t["created_at"].endswith("+00:00")
            kinds.add(t["kind"])
            for p in t["postings"]:
                assert p["account"].startswith(f"{p['account_kind']}:program {p['program_id']}")
                if p["voucher_id"] is not None:
                    assert p["account"].endswith(f":voucher {p['voucher_id']}")
                    assert p["team_id"] == world["team"].id
                if p["payee_kind"] is not None:
                    assert p["account"].endswith(f":{p['payee_kind']} {p['payee_id']}")
    assert {"fund", "issue", "commit", "settle"} <= kinds
    settle = [
        t
        for period in periods
        for t in get_journal(api, officer, period).json["transactions"]
        if t["kind"] == "settle"
    ]
    assert {t["booking_id"] for t in settle} == {b.id for b in settled}
    payable = [p for t in settle for p in t["postings"] if p["account_kind"] == "payable"]
    assert {(p["payee_kind"], p["payee_id"]) for p in payable} == {("provider", world["provider"].id)}
    assert sum(p["amount_fen"] for p in payable) == 7_500 + 10_000  # what the statement says was subsidised


def test_a_district_office_sees_its_programmes_transactions(api, make, world, settled, app):
    district, municipal = world["district"], world["municipal"]
    seen_any = False
    for period in ledger_periods(app):
        body = get_journal(api, world["district_officer"], period).json
        ids = [t["id"] for t in body["transactions"]]
        assert ids == expected_ids(app, period, "500106")
        for t in body["transactions"]:
            assert district.id in {p["program_id"] for p in t["postings"]}
        everything = get_journal(api, world["municipal_officer"], period).json["transactions"]
        municipal_only = [
            t["id"] for t in everything if {p["program_id"] for p in t["postings"]} == {municipal.id}
        ]
        assert not set(municipal_only) & set(ids)
        seen_any = seen_any or bool(ids)
        # another district's office: none of these
        assert get_journal(api, make.finance("500103"), period).json["transactions"] == []
    assert seen_any


def test_who_may_not_and_bad_input(api, make, world):
    for user in (world["owner"], world["provider_user"], make.user("lab_manager")):
        assert get_journal(api, user, "2026-12").status_code == 403
    assert api.get(URL, query_string={"period": "2026-12"}).status_code == 401
    assert get_journal(api, make.user("admin"), "2026-12").status_code == 200
    officer = world["municipal_officer"]
    for period in ("2026-13", "2026-1", "x"):
        response = get_journal(api, officer, period)
        assert response.status_code == 422 and "period" in response.json["error"]["details"]
    assert api.as_(officer).get(URL).status_code == 422
    assert get_journal(api, officer, "2026-12", format="ods").status_code == 422


def test_csv_one_row_per_posting_streamed_in_pages(api, make, world, settled, app, monkeypatch):
    officer = world["municipal_officer"]
    for period in ledger_periods(app):
        whole = csv_rows(get_journal(api, officer, period, format="csv").get_data())
        monkeypatch.setattr(journal, "PAGE_TRANSACTIONS", 2)
        response = get_journal(api, officer, period, format="csv")
        monkeypatch.setattr(journal, "PAGE_TRANSACTIONS", 500)
        assert response.is_streamed and response.mimetype == "text/csv"
        paged = assert_csv_is_inert(response.get_data())
        assert paged == whole
        assert tuple(paged[0]) == journal.POSTING_COLUMNS
        with app.app_context():
            postings = db.session.scalar(
                select(func.count())
                .select_from(Posting)
                .join(JournalTransaction)
                .where(JournalTransaction.period == period)
            )
        assert len(paged) - 1 == postings
        sums = defaultdict(int)
        for row in paged[1:]:
            sums[row[0]] += int(row[journal.POSTING_COLUMNS.index("amount_fen")])
        assert set(sums.values()) == {0}


def test_files_have_a_header_when_empty(api, make, world):
    officer = world["municipal_officer"]
    text = get_journal(api, officer, "2019-01", format="csv").get_data().decode("utf-8-sig")
    assert text.splitlines() == [",".join(journal.POSTING_COLUMNS)]
    human = get_journal(api, officer, "2019-01", format="csv", layout="human").get_data().decode("utf-8-sig")
    assert len(human.splitlines()) == 1 and "账户" in human
    cells = assert_xlsx_is_inert(get_journal(api, officer, "2019-01", format="xlsx").get_data())
    assert [c.value for c in cells] == list(journal.POSTING_COLUMNS)
    assert json.loads(get_journal(api, officer, "2019-01").get_data()) == {
        "period": "2019-01",
        "transactions": [],
    }


def test_xlsx_one_row_per_posting(api, make, world, settled, app):
    officer = world["municipal_officer"]
    period = ledger_periods(app)[-1]
    response = get_journal(api, officer, period, format="xlsx", layout="human")
    assert response.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    cells = assert_xlsx_is_inert(response.get_data())
    width = len(journal.POSTING_COLUMNS)
    rows = [cells[i : i + width] for i in range(0, len(cells), width)]
    postings = sum(len(t["postings"]) for t in get_journal(api, officer, period).json["transactions"])
    assert len(rows) == postings + 1
    amount = journal.POSTING_COLUMNS.index("amount_fen")
    assert sum(Decimal(str(r[amount].value)) for r in rows[1:]) == 0


# --- beancount ---------------------------------------------------------------------------------------


def test_cny_is_exact():
    assert beancount.cny(0) == "0.00"
    assert beancount.cny(5) == "0.05"
    assert beancount.cny(-5) == "-0.05"
    assert beancount.cny(-12_345) == "-123.45"
    assert beancount.cny(10_000_000_000_001) == "100000000000.01"


def test_account_names_have_one_root_per_kind():
    assert beancount.account_name("funding", 3) == "Equity:Programs:P3:Funding"
    assert beancount.account_name("unissued", 3) == "Assets:Programs:P3:Unissued"
    assert beancount.account_name("available", 3, 17) == "Assets:Programs:P3:Vouchers:V17:Available"
    assert beancount.account_name("committed", 3, 17) == "Assets:Programs:P3:Vouchers:V17:Committed"
    assert beancount.account_name("payable", 3, None, "lab", 7) == "Expenses:Programs:P3:Payable:Lab7"
    assert beancount.account_name("paid", 3, None, "provider", 2) == "Expenses:Programs:P3:Paid:Provider2"


def export(app, period, tmp_path):
    path = tmp_path / f"ledger-{period}.beancount"
    result = app.test_cli_runner().invoke(
        args=["ledger", "export", "--period", period, "--format", "beancount", "--output", str(path)]
    )
    assert result.exit_code == 0, result.output
    return path


def beancount_balances(path) -> dict[str, Decimal]:
    entries, errors, options = loader.load_file(str(path))
    assert errors == [], [e.message for e in errors]
    assert options["operating_currency"] == ["CNY"]
    balances: dict[str, Decimal] = defaultdict(Decimal)
    transactions = 0
    for entry in entries:
        if isinstance(entry, data.Transaction):
            transactions += 1
            for posting in entry.postings:
                assert posting.units.currency == "CNY"
                balances[posting.account] += posting.units.number
    return balances, transactions


def ledger_balances(app, period=None) -> dict[str, Decimal]:
    """Σ postings per account (of one period, or of all), in the beancount names, from the tables."""
    with app.app_context():
        query = (
            select(
                LedgerAccount.kind,
                LedgerAccount.program_id,
                LedgerAccount.voucher_id,
                LedgerAccount.payee_kind,
                LedgerAccount.payee_id,
                func.sum(Posting.amount_fen),
            )
            .join(Posting, Posting.account_id == LedgerAccount.id)
            .join(JournalTransaction, JournalTransaction.id == Posting.transaction_id)
            .group_by(LedgerAccount.id)
        )
        if period is not None:
            query = query.where(JournalTransaction.period == period)
        return {
            beancount.account_name(*row[:5]): Decimal(int(row[5])) / 100 for row in db.session.execute(query)
        }


def test_beancount_file_loads_cleanly_and_balances_match(api, make, world, settled, app, tmp_path):
    body = {
        "period": "2026-12",
        "payee_kind": "provider",
        "payee_id": world["provider"].id,
        "reference": "B-1",
    }
    assert api.as_(world["municipal_officer"]).post("/api/v1/finance/payouts", json=body).status_code == 201
    with app.app_context():
        assert ledger_breaches() == []
        maintained = {
            beancount.account_name(a.kind, a.program_id, a.voucher_id, a.payee_kind, a.payee_id): Decimal(
                a.balance_fen
            )
            / 100
            for a in db.session.scalars(select(LedgerAccount))
        }
    overall: dict[str, Decimal] = defaultdict(Decimal)
    for period in ledger_periods(app):
        balances, count = beancount_balances(export(app, period, tmp_path))
        assert count == len(expected_ids(app, period))
        ours = ledger_balances(app, period)
        assert {k: v for k, v in balances.items()} == ours
        for account, amount in balances.items():
            overall[account] += amount
    # over every period, the file's balances are the ledger's maintained balances (what verify checks)
    assert {k: v for k, v in overall.items()} == {k: v for k, v in maintained.items() if k in overall}
    assert all(v == 0 for k, v in maintained.items() if k not in overall)
    # Assets + Expenses = −Equity (= the budgets)
    assert sum(overall.values()) == 0
    assert any(k.startswith("Expenses:") and ":Paid:" in k for k in overall)


def test_beancount_catches_a_wrong_balance(app, world, settled, tmp_path):
    """The file's balance assertions are real: a tampered amount makes beancount report errors."""
    period = ledger_periods(app)[-1]
    path = export(app, period, tmp_path)
    text = path.read_text()
    assert " balance " in text
    lines = text.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("  Assets:") and "CNY" in line)
    account, amount, currency = lines[at].split()
    lines[at] = f"  {account}  {Decimal(amount) + 1:.2f} {currency}"
    tampered = tmp_path / "tampered.beancount"
    tampered.write_text("\n".join(lines) + "\n")
    _entries, errors, _options = loader.load_file(str(tampered))
    assert errors


def test_export_to_stdout_and_bad_period(app, world, settled):
    runner = app.test_cli_runner()
    period = ledger_periods(app)[-1]
    out = runner.invoke(args=["ledger", "export", "--period", period, "--format", "beancount"])
    assert out.exit_code == 0 and 'option "operating_currency" "CNY"' in out.output
    entries, errors, _ = loader.load_string(out.output)
    assert errors == [] and entries
    as_csv = runner.invoke(args=["ledger", "export", "--period", period, "--format", "csv"])
    assert as_csv.exit_code == 0 and as_csv.output.splitlines()[0] == ",".join(journal.POSTING_COLUMNS)
    bad = runner.invoke(args=["ledger", "export", "--period", "2026-13"])
    assert bad.exit_code != 0


@pytest.mark.parametrize("period", ["2019-01"])
def test_an_empty_period_is_a_valid_beancount_file(app, tmp_path, period):
    balances, count = beancount_balances(export(app, period, tmp_path))
    assert (balances, count) == ({}, 0)
