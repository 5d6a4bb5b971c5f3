"""Caps hold under real concurrency: 32 bookings drawing on one voucher, 32 approvals on one budget."""

from __future__ import annotations

from collections import Counter

import pytest
from sqlalchemy import func, select

from booking.core.db import db
from booking.models import User
from tests.support.concurrency import book_hours_at_once, run_concurrently, subsidy_fen
from vouchers import programs
from vouchers.models import Program, SubsidyLine, Voucher
from vouchers.verify import ledger_breaches

pytestmark = pytest.mark.concurrency

N = 32


def test_concurrent_bookings_never_overspend_one_voucher(app, make):
    owner = make.user("founder")
    team = make.team(owner=owner, verified=True)
    program = make.program(rate_bp=5000)
    # each booking: 1 h at ¥100 → 5,000 fen of subsidy wanted; the voucher covers 10 of 32 fully
    voucher = make.voucher(team, program, 52_500)
    responses = book_hours_at_once(app, make, owner, team, N)
    subsidies = [subsidy_fen(r) for r in responses]
    assert sum(subsidies) == 52_500  # drawn to the last fen, never beyond
    assert sorted(subsidies, reverse=True)[:11] == [5_000] * 10 + [2_500]
    for response in responses:
        quote = response.json["quote"]
        assert quote["team_pays_fen"] == quote["total_fen"] - subsidy_fen(response)
    with app.app_context():
        committed = {
            booking_id: amount
            for booking_id, amount in db.session.execute(
                select(SubsidyLine.booking_id, func.sum(SubsidyLine.committed_fen)).group_by(
                    SubsidyLine.booking_id
                )
            )
        }
        for response in responses:  # every quote is exactly what was committed
            assert committed.get(response.json["id"], 0) == subsidy_fen(response)
        assert db.session.get(Voucher, voucher.id).face_value_fen == 52_500
        assert ledger_breaches() == []


def test_concurrent_approvals_never_exceed_the_budget(app, make):
    program = make.program(budget_fen=100_000, per_team_cap_fen=10_000)
    applications = []
    with app.app_context():
        for _ in range(N):
            owner = make.user("founder")
            team = make.team(owner=owner, verified=True)
            applications.append(
                make._unit(
                    lambda team=team, owner=owner: programs.apply(
                        db.session.get(User, owner.id),
                        program.id,
                        team_id=team.id,
                        amount_fen=7_000,
                        purpose="GPU",
                    )
                ).id
            )
    with app.app_context():
        officer = db.session.get(User, program.created_by_id)
    token = make.token_for(officer)
    calls = [
        (
            lambda client, a=a: client.post(
                f"/api/v1/applications/{a}/approve", headers={"Authorization": f"Bearer {token}"}
            )
        )
        for a in applications
    ]
    responses = run_concurrently(app, calls)
    statuses = Counter(r.status_code for r in responses)
    assert statuses == {200: 14, 409: 18}, statuses  # 14 × 7,000 = 98,000 ≤ 100,000 < 15 × 7,000
    assert {r.json["error"]["code"] for r in responses if r.status_code == 409} == {"budget_exhausted"}
    with app.app_context():
        issued = db.session.scalar(
            select(func.sum(Voucher.face_value_fen)).where(Voucher.program_id == program.id)
        )
        assert issued == 98_000
        assert programs.summary(db.session.get(Program, program.id))["unissued_fen"] == 2_000
        assert ledger_breaches() == []
