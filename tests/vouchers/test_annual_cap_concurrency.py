"""The annual cap per team holds under real concurrency: 32 bookings of one team at once, each
wanting 5,000 fen from a programme that may give the team 52,500 a year, never get more in total."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from booking.core.db import db
from tests.support.concurrency import run_concurrently
from vouchers.models import SubsidyLine
from vouchers.verify import ledger_breaches

pytestmark = pytest.mark.concurrency

ALWAYS_OPEN = tuple((day, 0, 1440) for day in range(7))
N = 32


def test_concurrent_bookings_never_exceed_the_annual_cap_per_team(app, make):
    owner = make.user("founder")
    team = make.team(owner=owner, verified=True)
    program = make.program(rate_bp=5000, annual_team_cap_fen=52_500)
    make.voucher(team, program, 1_000_000)  # the voucher itself never binds: only the annual cap
    instruments = [make.instrument(make.lab(), hours=ALWAYS_OPEN, lead_minutes=0) for _ in range(4)]
    token = make.token_for(owner)
    start = (datetime.now(UTC) + timedelta(days=2)).replace(hour=1, minute=0, second=0, microsecond=0)

    def attempt(i):
        body = {
            "team_id": team.id,
            "instrument_id": instruments[i % 4].id,
            "starts_at": (start + timedelta(hours=i // 4)).isoformat(),
            "ends_at": (start + timedelta(hours=i // 4 + 1)).isoformat(),
        }
        return lambda client: client.post(
            "/api/v1/bookings", json=body, headers={"Authorization": f"Bearer {token}"}
        )

    responses = run_concurrently(app, [attempt(i) for i in range(N)])
    assert Counter(r.status_code for r in responses) == {201: N}, [
        r.json for r in responses if r.status_code != 201
    ]
    subsidies = [sum(s["amount_fen"] for s in r.json["quote"]["subsidies"]) for r in responses]
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
