"""The running totals per (account, period, transaction kind) that the dashboard reads: maintained
with every posting — by ``ledger.post`` and by reconciliation's batch writer — equal to the postings,
and checked by ``ledger verify``."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, update

from booking.core.db import db
from tests.vouchers.finance.conftest import END, PERIOD, START, post_usage, run
from vouchers import ledger
from vouchers.models import JournalTransaction, LedgerAccount, PeriodTotal, Posting, SettlementTotal
from vouchers.verify import ledger_breaches


def posted_totals() -> dict:
    rows = db.session.execute(
        select(
            Posting.account_id,
            JournalTransaction.period,
            JournalTransaction.kind,
            func.sum(Posting.amount_fen),
        )
        .join(JournalTransaction, JournalTransaction.id == Posting.transaction_id)
        .group_by(Posting.account_id, JournalTransaction.period, JournalTransaction.kind)
    )
    return {(a, p, k): int(total) for a, p, k, total in rows if total}


def maintained_totals() -> dict:
    rows = db.session.execute(
        select(PeriodTotal.account_id, PeriodTotal.period, PeriodTotal.kind, PeriodTotal.amount_fen)
    )
    return {(a, p, k): amount for a, p, k, amount in rows if amount}


def test_every_movement_keeps_the_totals_equal_to_the_postings(api, app, make, world):
    """fund, issue (fixture), commit (bookings) through ledger.post; settle through reconciliation."""
    with app.app_context():
        first = make.compute_booking(world["team"], world["offer"], START, END)
        second = make.compute_booking(world["team"], world["offer"], START, END)
        post_usage(api, world, first, "1.5")  # second reports nothing: settled at zero, commitment released
        assert run(app).settled == 2
        kinds = {kind for _, _, kind in maintained_totals()}
        assert {"fund", "issue", "commit", "settle"} <= kinds
        assert maintained_totals() == posted_totals()
        assert ledger_breaches() == []
        assert second.id


@pytest.mark.ledger_tampered  # changes a total behind the ledger's back, to see it caught
def test_the_dashboard_spend_by_month_comes_from_the_totals(app, api, make, world, settled):
    with app.app_context():
        officer = world["municipal_officer"]
        payable = db.session.scalars(
            select(LedgerAccount.id).where(
                LedgerAccount.program_id == world["municipal"].id, LedgerAccount.kind == "payable"
            )
        ).all()
        spent = sum(
            amount
            for (account, period, kind), amount in posted_totals().items()
            if account in payable and kind == "settle"
        )
        program = api.as_(officer).get("/api/v1/finance/dashboard").json["programs"][0]
        assert program["by_month"] == [{"period": PERIOD, "spent_fen": spent}] and spent == 7_500
        # the dashboard really reads the maintained totals: change them and it follows
        db.session.execute(
            update(PeriodTotal)
            .where(PeriodTotal.account_id.in_(payable), PeriodTotal.kind == "settle")
            .values(amount_fen=PeriodTotal.amount_fen + 1)
        )
        program = api.as_(officer).get("/api/v1/finance/dashboard").json["programs"][0]
        assert program["by_month"] == [{"period": PERIOD, "spent_fen": 7_500 + len(payable)}]


def test_verify_reports_a_total_that_disagrees_with_the_postings(app, make, world):
    with app.app_context():
        account = ledger.account("unissued", world["municipal"].id)
        total = db.session.scalars(select(PeriodTotal).where(PeriodTotal.account_id == account.id)).first()
        assert ledger_breaches() == []
        total.amount_fen += 100
        db.session.flush()
        breaches = ledger_breaches()
        assert (
            len(breaches) == 1
            and f"account {account.id}: {total.kind} total for {total.period}" in breaches[0]
        )
        db.session.delete(total)
        db.session.flush()
        assert any(f"account {account.id}" in b and "is 0" in b for b in ledger_breaches())


def test_postings_to_one_account_in_one_transaction_are_added_up(app, make, world):
    with app.app_context():
        program = world["municipal"]
        unissued = ledger.account("unissued", program.id)
        funding = ledger.account("funding", program.id)
        before = maintained_totals()
        ledger.post("adjust", [(funding, -30), (unissued, 10), (unissued, 20)], program_id=program.id)
        db.session.flush()
        after = maintained_totals()
        period = ledger.open_period_for(db.session.scalar(select(func.max(JournalTransaction.occurred_at))))
        assert after[(unissued.id, period, "adjust")] - before.get((unissued.id, period, "adjust"), 0) == 30
        assert after == posted_totals()
        ledger.post(
            "adjust", [(funding, 30), (unissued, -30)], program_id=program.id
        )  # undo: budget holds again
        db.session.flush()
        assert maintained_totals() == posted_totals() and ledger_breaches() == []


@pytest.mark.ledger_tampered  # changes a total behind the ledger's back, to see it caught
def test_settlements_are_summed_per_period_team_and_payee(app, api, make, world, settled):
    with app.app_context():
        (total,) = db.session.scalars(select(SettlementTotal)).all()
        assert (total.period, total.team_id, total.payee_kind, total.payee_id) == (
            PERIOD,
            world["team"].id,
            "provider",
            world["provider"].id,
        )
        assert (total.bookings, total.municipal_fen, total.district_fen, total.subsidy_fen) == (
            2,
            7_500,
            10_000,
            17_500,
        )
        assert ledger_breaches() == []
        # the dashboard's top teams, payees and shares read these totals
        total.subsidy_fen += 1
        total.municipal_fen += 1
        db.session.flush()
        data = api.as_(world["municipal_officer"]).get("/api/v1/finance/dashboard").json
        assert (
            data["top_teams"][0]["subsidy_fen"] == 17_501 and data["top_payees"][0]["subsidy_fen"] == 17_501
        )
        assert data["share"] == {"municipal_fen": 7_501, "district_fen": 10_000}
        assert ledger_breaches() == [
            f"settlement totals ('{PERIOD}', {world['team'].id}, 'provider', {world['provider'].id}) are "
            "(2, 7501, 10000, 17501), settlements say (2, 7500, 10000, 17500)"
        ]
