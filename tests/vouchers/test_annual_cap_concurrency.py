"""The annual cap per team holds under real concurrency: 32 bookings of one team at once, each
wanting 5,000 fen from a programme that may give the team 52,500 a year, never get more in total."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from booking.core.db import db
from tests.support.concurrency import book_hours_at_once, subsidy_fen
from vouchers.models import SubsidyLine
from vouchers.verify import ledger_breaches

pytestmark = pytest.mark.concurrency

N = 32


def test_concurrent_bookings_never_exceed_the_annual_cap_per_team(app, make):
    owner = make.user("founder")
    team = make.team(owner=owner, verified=True)
    program = make.program(rate_bp=5000, annual_team_cap_fen=52_500)
    make.voucher(team, program, 1_000_000)  # the voucher itself never binds: only the annual cap
    responses = book_hours_at_once(app, make, owner, team, N)
    subsidies = [subsidy_fen(r) for r in responses]
    assert sum(subsidies) == 52_500  # the cap, to the fen, never beyond
    assert sorted(subsidies, reverse=True)[:11] == [5_000] * 10 + [2_500]
    with app.app_context():
        committed = db.session.scalar(
            select(func.sum(SubsidyLine.committed_fen - SubsidyLine.released_fen)).where(
                SubsidyLine.program_id == program.id
            )
        )
        assert committed == 52_500
        assert ledger_breaches() == []
