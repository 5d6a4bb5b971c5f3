"""``ledger verify`` is the trust anchor: every invariant it checks is broken here, directly in the
database and in exactly one way, and verify must name that breach and exit non-zero."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select, update

from booking.core.db import db
from tests.vouchers.finance.conftest import END, START, post_usage, run
from vouchers import ledger
from vouchers.models import (
    Application,
    JournalTransaction,
    LedgerAccount,
    PeriodTotal,
    Posting,
    Program,
    SettlementTotal,
    SubsidyLine,
    Voucher,
)
from vouchers.verify import ledger_breaches, ledger_size

# these tests break the ledger behind its back to see verify name it
pytestmark = pytest.mark.ledger_tampered


def verify_cli(app):
    return app.test_cli_runner().invoke(args=["ledger", "verify"])


def assert_breach(app, *expected: str) -> list[str]:
    """verify names each expected breach (and nothing else) and the command exits 1 naming them."""
    with app.app_context():
        breaches = ledger_breaches()
    assert breaches == list(expected)
    result = verify_cli(app)
    assert result.exit_code == 1, result.output
    for breach in expected:
        assert f"BREACH: {breach}" in result.output
    assert "ledger OK" not in result.output
    return breaches


def forge(kind: str, entries, *, period: str, program_id: int | None) -> JournalTransaction:
    """A journal entry written straight into the tables, bypassing ``ledger.post``'s checks, with the
    accounts' balances and the period totals kept in step (so only what the entry itself breaks shows)."""
    transaction = JournalTransaction(
        kind=kind, occurred_at=datetime(2026, 12, 1, tzinfo=UTC), period=period, program_id=program_id
    )
    db.session.add(transaction)
    db.session.flush()
    for account, amount in entries:
        db.session.add(Posting(transaction_id=transaction.id, account_id=account.id, amount_fen=amount))
    db.session.flush()
    for account, amount in entries:
        db.session.execute(
            update(LedgerAccount)
            .where(LedgerAccount.id == account.id)
            .values(balance_fen=LedgerAccount.balance_fen + amount)
        )
    ledger.add_period_totals({(account.id, period, kind): amount for account, amount in entries})
    db.session.flush()
    return transaction


def account_of(kind: str, program: Program) -> LedgerAccount:
    return db.session.scalars(
        select(LedgerAccount).where(LedgerAccount.kind == kind, LedgerAccount.program_id == program.id)
    ).first()


def voucher_of(program: Program) -> Voucher:
    return db.session.scalars(select(Voucher).where(Voucher.program_id == program.id)).one()


def test_a_sound_ledger_passes(app, world):
    with app.app_context():
        assert ledger_breaches() == []
        transactions, postings, accounts = ledger_size()
        assert transactions > 0 and postings >= 2 * transactions and accounts > 0
    result = verify_cli(app)
    assert result.exit_code == 0, result.output
    assert (
        f"ledger OK: {transactions} transactions, {postings} postings, {accounts} accounts" in result.output
    )


def test_a_transaction_that_does_not_sum_to_zero(app, world):
    with app.app_context():
        program = world["municipal"]
        # 5 fen appear from nowhere on the unissued account and are moved to funding's side
        unissued, funding = account_of("unissued", program), account_of("funding", program)
        transaction = forge("adjust", [(unissued, 5), (funding, 3)], period="2026-12", program_id=program.id)
        db.session.commit()
        tid, pid, budget = transaction.id, program.id, program.budget_fen
        funded = -(funding.balance_fen)
        held = budget + 5
    assert_breach(
        app,
        f"transaction {tid} does not sum to zero (sum 8)",
        f"programme {pid}: funded {funded}, budget {budget}",
        f"programme {pid}: unissued + available + committed + spent + paid = {held} != budget {budget}",
    )


def test_a_transaction_with_no_postings(app, world):
    with app.app_context():
        transaction = forge("adjust", [], period="2026-12", program_id=world["municipal"].id)
        db.session.commit()
        tid = transaction.id
    assert_breach(app, f"transaction {tid} has no postings")


def test_a_negative_account_other_than_funding(app, world):
    with app.app_context():
        program = world["municipal"]
        unissued = account_of("unissued", program)
        paid = ledger.account("paid", program.id, payee=("provider", world["provider"].id))
        db.session.flush()
        # a balanced entry that drives "paid" below zero; its maintained balance stays at 0 (the
        # database's CHECK refuses a negative one), so only the postings show the hole
        transaction = JournalTransaction(kind="adjust", period="2026-12", program_id=program.id)
        db.session.add(transaction)
        db.session.flush()
        db.session.add_all(
            [
                Posting(transaction_id=transaction.id, account_id=paid.id, amount_fen=-7),
                Posting(transaction_id=transaction.id, account_id=unissued.id, amount_fen=7),
            ]
        )
        db.session.execute(
            update(LedgerAccount)
            .where(LedgerAccount.id == unissued.id)
            .values(balance_fen=LedgerAccount.balance_fen + 7)
        )
        ledger.add_period_totals({(paid.id, "2026-12", "adjust"): -7, (unissued.id, "2026-12", "adjust"): 7})
        db.session.commit()
        key, pid, budget = paid.key, program.id, program.budget_fen
    assert_breach(
        app,
        f"account {key}: maintained balance 0 != postings -7",
        f"account {key} is negative (-7)",
        f"programme {pid}: unissued + available + committed + spent + paid = {budget + 7} != budget {budget}",
    )


def test_funding_that_is_not_minus_the_budget(app, world):
    """Budget moved between two programmes' funding accounts: every entry balances, every account
    matches its postings and each programme's accounts still hold its budget, but the funding is wrong."""
    with app.app_context():
        municipal, district = world["municipal"], world["district"]
        ledger.post(
            "adjust",
            [(account_of("funding", municipal), -100), (account_of("funding", district), 100)],
            program_id=municipal.id,
        )
        db.session.commit()
        expected = {
            municipal.id: f"programme {municipal.id}: funded {municipal.budget_fen + 100}, "
            f"budget {municipal.budget_fen}",
            district.id: f"programme {district.id}: funded {district.budget_fen - 100}, budget {district.budget_fen}",
        }
    assert_breach(app, *(expected[pid] for pid in sorted(expected)))


def test_a_budget_changed_behind_the_ledgers_back(app, world):
    with app.app_context():
        program = world["municipal"]
        db.session.execute(
            update(Program).where(Program.id == program.id).values(budget_fen=Program.budget_fen + 1)
        )
        db.session.commit()
        pid, budget = program.id, program.budget_fen
    assert_breach(
        app,
        f"programme {pid}: funded {budget}, budget {budget + 1}",
        f"programme {pid}: unissued + available + committed + spent + paid = {budget} != budget {budget + 1}",
    )


def test_a_voucher_holding_more_than_its_face_value(app, api, make, world):
    with app.app_context():
        booking = make.compute_booking(world["team"], world["offer"], START, END)
        post_usage(api, world, booking, "1.5")
    run(app)  # some of the voucher is spent, some still available
    with app.app_context():
        voucher = voucher_of(world["municipal"])
        line = db.session.scalars(select(SubsidyLine).where(SubsidyLine.voucher_id == voucher.id)).one()
        spent = line.settled_fen
        available = ledger.account("available", voucher.program_id, voucher_id=voucher.id).balance_fen
        assert spent > 0 and available > 0 and available + spent == voucher.face_value_fen
        db.session.execute(
            update(Voucher).where(Voucher.id == voucher.id).values(face_value_fen=Voucher.face_value_fen - 1)
        )
        db.session.commit()
        vid, face = (
            voucher.id,
            db.session.scalar(select(Voucher.face_value_fen).where(Voucher.id == voucher.id)),
        )
        assert face == available + spent - 1
    assert_breach(app, f"voucher {vid}: available {available} + committed 0 + spent {spent} > face {face}")


def test_a_voucher_with_open_holds_beyond_its_face_value(app, api, make, world):
    with app.app_context():
        make.compute_booking(world["team"], world["offer"], START, END)  # commits part of both vouchers
        voucher = voucher_of(world["municipal"])
        committed = ledger.account("committed", voucher.program_id, voucher_id=voucher.id).balance_fen
        available = ledger.account("available", voucher.program_id, voucher_id=voucher.id).balance_fen
        face = voucher.face_value_fen
        assert committed > 0 and available + committed == face
        assert ledger_breaches() == []
        # a voucher now worth less than it was issued for (revoked in part, say) is not a breach
        db.session.execute(update(Voucher).where(Voucher.id == voucher.id).values(face_value_fen=face + 1))
        assert ledger_breaches() == []
        db.session.execute(update(Voucher).where(Voucher.id == voucher.id).values(face_value_fen=face - 1))
        db.session.commit()
        vid = voucher.id
    assert_breach(
        app, f"voucher {vid}: available {available} + committed {committed} + spent 0 > face {face - 1}"
    )


@pytest.mark.parametrize("column", ["committed_fen", "released_fen"])
def test_committed_that_is_not_the_open_holds(app, make, world, column):
    with app.app_context():
        make.compute_booking(world["team"], world["offer"], START, END)
        voucher = voucher_of(world["municipal"])
        line = db.session.scalars(select(SubsidyLine).where(SubsidyLine.voucher_id == voucher.id)).one()
        committed = line.committed_fen
        assert committed > 0 and line.released_fen == line.settled_fen == 0
        db.session.execute(
            update(SubsidyLine)
            .where(SubsidyLine.id == line.id)
            .values({column: getattr(SubsidyLine, column) + 1})
        )
        db.session.commit()
        outstanding = committed + 1 if column == "committed_fen" else committed - 1
        vid = voucher.id
    assert_breach(app, f"voucher {vid}: committed {committed} != bookings' outstanding holds {outstanding}")


def test_period_totals_are_checked_in_every_period(app, world):
    """Entries in two months; moving an amount from one month's total to the other's keeps the sum
    over all periods right, but each month's total is wrong, and verify names both."""
    with app.app_context():
        program = world["municipal"]
        unissued, funding = account_of("unissued", program), account_of("funding", program)
        for period in ("2026-11", "2026-12"):
            ledger.post(
                "adjust",
                [(funding, -10), (unissued, 10)],
                program_id=program.id,
                at=datetime.fromisoformat(f"{period}-15T12:00:00+08:00"),
            )
        ledger.post("adjust", [(funding, 20), (unissued, -20)], program_id=program.id)  # budget holds again
        db.session.flush()
        assert ledger_breaches() == []
        totals = {
            t.period: t
            for t in db.session.scalars(
                select(PeriodTotal).where(PeriodTotal.account_id == unissued.id, PeriodTotal.kind == "adjust")
            )
        }
        assert {"2026-11", "2026-12"} <= set(totals)
        november, december = totals["2026-11"].amount_fen, totals["2026-12"].amount_fen
        totals["2026-11"].amount_fen += 10
        totals["2026-12"].amount_fen -= 10
        db.session.commit()
        aid = unissued.id
    assert_breach(
        app,
        f"account {aid}: adjust total for 2026-11 is {november + 10}, postings say {november}",
        f"account {aid}: adjust total for 2026-12 is {december - 10}, postings say {december}",
    )


def test_a_period_total_for_a_month_with_no_postings(app, world):
    with app.app_context():
        unissued = account_of("unissued", world["municipal"])
        db.session.add(PeriodTotal(account_id=unissued.id, period="2025-01", kind="fund", amount_fen=1))
        db.session.commit()
        aid = unissued.id
    assert_breach(app, f"account {aid}: fund total for 2025-01 is 1, postings say 0")


def test_verify_names_every_breach_at_once(app, world):
    with app.app_context():
        first = forge("adjust", [], period="2026-12", program_id=world["municipal"].id)
        second = forge("adjust", [], period="2026-12", program_id=world["district"].id)
        db.session.commit()
        ids = sorted([first.id, second.id])
    assert_breach(app, *(f"transaction {tid} has no postings" for tid in ids))


def test_a_programme_that_was_never_funded(app, world):
    """A programme row written without its funding entry (no ledger accounts at all)."""
    with app.app_context():
        template = world["municipal"]
        program = Program(
            name="unfunded",
            level="municipal",
            covers_compute=True,
            covers_instrument=True,
            rate_bp=3000,
            budget_fen=5_000,
            per_team_cap_fen=1_000,
            valid_from=template.valid_from,
            valid_to=template.valid_to,
            voucher_validity_days=30,
            created_by_id=template.created_by_id,
        )
        db.session.add(program)
        db.session.commit()
        pid = program.id
    assert_breach(
        app,
        f"programme {pid}: funded 0, budget 5000",
        f"programme {pid}: unissued + available + committed + spent + paid = 0 != budget 5000",
    )


def test_a_voucher_with_no_ledger_accounts_holds_nothing(app, world):
    """A voucher row with no money behind it (issued by hand, say) breaks no invariant: it holds 0 of
    its face value, like a wholly revoked one; verify counts it as empty instead of failing on it."""
    with app.app_context():
        program, team = world["municipal"], world["team"]
        application = Application(
            program_id=program.id,
            team_id=team.id,
            amount_fen=1_000,
            purpose="by hand",
            status="approved",
            created_by_id=team.owner_id,
        )
        db.session.add(application)
        db.session.flush()
        voucher = Voucher(
            program_id=program.id,
            team_id=team.id,
            application_id=application.id,
            face_value_fen=1_000,
            expires_at=datetime(2027, 12, 1, tzinfo=UTC),
        )
        db.session.add(voucher)
        db.session.commit()
        assert ledger_breaches() == []


def test_settlements_with_no_maintained_total(app, world, settled):
    with app.app_context():
        (total,) = db.session.scalars(select(SettlementTotal)).all()
        key = (total.period, total.team_id, total.payee_kind, total.payee_id)
        actual = (total.bookings, total.municipal_fen, total.district_fen, total.subsidy_fen)
        db.session.delete(total)
        db.session.commit()
    assert_breach(app, f"settlement totals {key} are (0, 0, 0, 0), settlements say {actual}")


def test_a_maintained_settlement_total_with_no_settlements(app, world):
    with app.app_context():
        key = ("2026-12", world["team"].id, "provider", world["provider"].id)
        db.session.add(
            SettlementTotal(
                period=key[0],
                team_id=key[1],
                payee_kind=key[2],
                payee_id=key[3],
                bookings=1,
                municipal_fen=0,
                district_fen=0,
                subsidy_fen=0,
            )
        )
        db.session.commit()
    assert_breach(app, f"settlement totals {key} are (1, 0, 0, 0), settlements say (0, 0, 0, 0)")


def test_totals_of_nothing_are_no_breach(app, world):
    """A kept total of zero with nothing behind it, and postings adding up to zero with no kept total,
    agree: a missing row counts as zero on either side."""
    with app.app_context():
        program = world["municipal"]
        unissued, funding = account_of("unissued", program), account_of("funding", program)
        at = datetime.fromisoformat("2026-10-15T12:00:00+08:00")
        ledger.post("refund", [(funding, -10), (unissued, 10)], program_id=program.id, at=at)
        ledger.post("refund", [(funding, 10), (unissued, -10)], program_id=program.id, at=at)
        db.session.flush()
        assert ledger_breaches() == []
        kept = db.session.scalars(select(PeriodTotal).where(PeriodTotal.period == "2026-10")).all()
        assert {t.amount_fen for t in kept} == {0}
        for total in kept:
            db.session.delete(total)
        db.session.add(PeriodTotal(account_id=unissued.id, period="2025-02", kind="fund", amount_fen=0))
        key = ("2026-11", world["team"].id, "provider", world["provider"].id)
        db.session.add(
            SettlementTotal(
                period=key[0],
                team_id=key[1],
                payee_kind=key[2],
                payee_id=key[3],
                bookings=0,
                municipal_fen=0,
                district_fen=0,
                subsidy_fen=0,
            )
        )
        db.session.commit()
        assert ledger_breaches() == []
    result = verify_cli(app)
    assert result.exit_code == 0 and "ledger OK" in result.output, result.output
