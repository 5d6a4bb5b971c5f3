"""No double booking, proven with real concurrent connections on the test database's engine.

PostgreSQL: the exclusion constraint decides (the test that bypasses the Python pre-check would
fail without it). SQLite: writers are serialised by BEGIN IMMEDIATE; without it concurrent
transactions collide (SQLITE_BUSY) instead of each getting a clean 201 or 409.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest
from sqlalchemy import select

from booking.core.db import db
from booking.flow import slots
from booking.models import HOLDING_STATUSES, Booking
from tests.support.concurrency import run_concurrently

pytestmark = pytest.mark.concurrency

ALWAYS_OPEN = tuple((day, 0, 1440) for day in range(7))
N = 32


@pytest.fixture
def bookable(make):
    lab = make.lab()
    instrument = make.instrument(
        lab, hours=ALWAYS_OPEN, lead_minutes=0, slot_minutes=30, min_minutes=30, max_minutes=600
    )
    teams = []
    for _ in range(4):
        owner = make.user("founder")
        teams.append((make.team(owner=owner, verified=True), make.token_for(owner)))
    start = (datetime.now(UTC) + timedelta(days=2)).replace(hour=2, minute=0, second=0, microsecond=0)
    return instrument, teams, start


def _attempt(instrument, team, token, starts_at, ends_at):
    body = {
        "team_id": team.id,
        "instrument_id": instrument.id,
        "starts_at": starts_at.isoformat(),
        "ends_at": ends_at.isoformat(),
    }
    return lambda client: client.post(
        "/api/v1/bookings", json=body, headers={"Authorization": f"Bearer {token}"}
    )


def _holding(app, instrument) -> list[Booking]:
    with app.app_context():
        return list(
            db.session.scalars(
                select(Booking).where(
                    Booking.instrument_id == instrument.id, Booking.status.in_(HOLDING_STATUSES)
                )
            )
        )


def _assert_exactly_one_winner(responses):
    statuses = Counter(r.status_code for r in responses)
    assert statuses == {201: 1, 409: N - 1}, statuses
    assert {r.json["error"]["code"] for r in responses if r.status_code == 409} == {"slot_taken"}


def test_same_slot_exactly_one_wins(app, bookable):
    instrument, teams, start = bookable
    calls = [_attempt(instrument, *teams[i % 4], start, start + timedelta(hours=2)) for i in range(N)]
    _assert_exactly_one_winner(run_concurrently(app, calls))
    assert len(_holding(app, instrument)) == 1


def test_partially_overlapping_ranges_exactly_one_wins(app, bookable):
    """Every range contains 03:30–04:00, so at most one can hold; shifted starts and lengths."""
    instrument, teams, start = bookable
    calls = []
    for i in range(N):
        starts_at = start + timedelta(minutes=30 * (i % 4))
        ends_at = start + timedelta(hours=2, minutes=30 * (i % 3))
        calls.append(_attempt(instrument, *teams[i % 4], starts_at, ends_at))
    _assert_exactly_one_winner(run_concurrently(app, calls))
    assert len(_holding(app, instrument)) == 1


def test_non_conflicting_requests_all_succeed(app, bookable):
    instrument, teams, start = bookable
    calls = [
        _attempt(instrument, *teams[i % 4], start + timedelta(hours=i), start + timedelta(hours=i + 1))
        for i in range(N)
    ]
    responses = run_concurrently(app, calls)
    assert Counter(r.status_code for r in responses) == {201: N}
    held = sorted((b.starts_at, b.ends_at) for b in _holding(app, instrument))
    assert len(held) == N
    assert all(a[1] <= b[0] for a, b in pairwise(held))


def test_the_database_alone_prevents_overlap(app, bookable, monkeypatch):
    """Switch the Python overlap check off: PostgreSQL's exclusion constraint must still refuse
    every overlapping insert; on SQLite the same check re-runs inside the serialised transaction,
    so there it cannot be switched off (it is the guarantee) and the test only runs on PostgreSQL."""
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("the exclusion constraint exists on PostgreSQL only")
    check = slots.blackouts_and_holder  # blackouts still count; a holding booking no longer does
    monkeypatch.setattr(slots, "blackouts_and_holder", lambda *args: (check(*args)[0], False))
    instrument, teams, start = bookable
    calls = [_attempt(instrument, *teams[i % 4], start, start + timedelta(hours=2)) for i in range(N)]
    _assert_exactly_one_winner(run_concurrently(app, calls))
    assert len(_holding(app, instrument)) == 1
