"""How many SQL statements one booking request runs (issue 19: the booking path against the stack's
floor). A lazy load or a read-back creeping back onto the hot path fails here.

``POST /api/v1/bookings`` for an instrument that needs approval, by a team holding a municipal
and a district voucher (the stacked split commits both), runs on PostgreSQL (BEGIN/COMMIT and the
first request's warm-up not counted):

 1. the API token with its user (one join)
 2. the team with its members and their users (joined: the booking's mails go to them)
 3. the instrument with its opening hours, the instrument's row locked (FOR NO KEY UPDATE OF
    instruments: bookings of one instrument take turns; quotas and closures rely on it)
 4. the instrument's blackouts in the booked range and the overlap check (a holding booking in the
    range), UNION ALL
 5. SAVEPOINT, 6. INSERT the booking, 7. RELEASE SAVEPOINT (a deadlock on the exclusion constraint
    retries the insert)
 8. the team's active vouchers with their programmes
 9. their available and committed ledger accounts, locked (FOR UPDATE, id order)
10. the closed accounting periods (once for both commit transactions)
11. INSERT both journal transactions, 12. INSERT their four postings
13. UPDATE the four accounts' balances (one statement: unnest)
14. the period running totals (one INSERT … ON CONFLICT)
15. INSERT both subsidy lines
16. the lab's managers (the request waits for their approval)
17. INSERT the mails into the outbox (to the team's members and the lab's managers: one statement)

The response's quote comes from the subsidy lines the request itself wrote; a new booking has no
settlement, so neither is read back. SQLite runs the same statements, but inserts one row per
statement where PostgreSQL batches them — see ``EXPECTED``.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import event

from booking.core import clock
from booking.core.db import db

CST = timezone(timedelta(hours=8))
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=CST)
# SQLite's driver cannot batch INSERT … RETURNING rows (SQLAlchemy sends one per row: the two journal
# transactions, whose ids the postings need), so it counts 18 where PostgreSQL counts 17
EXPECTED = {"postgresql": 17, "sqlite": 18}


@pytest.fixture
def world(make):
    manager = make.user("lab_manager")
    lab = make.lab(manager=manager, organization="重庆大学")
    owner = make.user("founder")
    team = make.team(owner=owner, verified=True, district_code="500106", organization="山城智算科技有限公司")
    municipal = make.program(rate_bp=3000)
    district = make.program(level="district", district_code="500106", rate_bp=5000, stack_ceiling_bp=7000)
    m = make.voucher(team, municipal, 100_000)
    d = make.voucher(team, district, 100_000)
    instrument = make.instrument(lab, hourly_rate_fen=10_001, requires_approval=True)
    return {"owner": owner, "team": team, "instrument": instrument, "m": m, "d": d,
            "municipal": municipal, "district": district}  # fmt: skip


def _book(api, world, hour: int):
    body = {
        "team_id": world["team"].id,
        "instrument_id": world["instrument"].id,
        "starts_at": datetime(2026, 12, 2, hour, tzinfo=CST).isoformat(),
        "ends_at": datetime(2026, 12, 2, hour + 1, tzinfo=CST).isoformat(),
    }
    with clock.frozen_at(NOW):
        return api.as_(world["owner"]).post("/api/v1/bookings", json=body)


def test_one_booking_runs_a_fixed_number_of_statements(api, world, app):
    _book(api, world, 10)  # warm-up: first-use caches, the accounts' period totals rows
    seen: list[str] = []

    def count(conn, cursor, statement, *args):
        seen.append(" ".join(statement.split())[:90])

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        response = _book(api, world, 14)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert response.status_code == 201, response.json
    # the test's own transaction runs the request in a SAVEPOINT: its two statements are not counted
    outer = seen[0].split()[-1] if seen and seen[0].startswith("SAVEPOINT") else None
    counted = [s for s in seen if s.split()[-1] != outer and s not in ("BEGIN", "COMMIT", "BEGIN IMMEDIATE")]
    assert len(counted) == EXPECTED[engine.dialect.name], "\n".join(counted)


def test_the_response_quotes_what_was_committed(api, world, app):
    """The quote built from the lines just written equals the one read back from the database."""
    created = _book(api, world, 10)
    assert created.status_code == 201, created.json
    # C = 10,001; m = floor(30%) = 3,000; d = min(floor(50%) = 5,000, floor(70%) − m = 4,000) = 4,000
    assert created.json["quote"] == {
        "total_fen": 10_001,
        "subsidies": [
            {"voucher_id": world["m"].id, "program_id": world["municipal"].id, "level": "municipal",
             "amount_fen": 3_000},
            {"voucher_id": world["d"].id, "program_id": world["district"].id, "level": "district",
             "amount_fen": 4_000},
        ],
        "team_pays_fen": 3_001,
    }  # fmt: skip
    assert created.json["settlement"] is None
    fetched = api.as_(world["owner"]).get(f"/api/v1/bookings/{created.json['id']}")
    assert fetched.status_code == 200 and fetched.get_data() == created.get_data()
