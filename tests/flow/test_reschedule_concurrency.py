"""Moves racing for the same free time, proven with real concurrent connections on the test database's
engine: exactly one wins, the others get 409 ``slot_taken``, and no two holding bookings overlap after.
PostgreSQL: the exclusion constraint decides for the UPDATE as for an insert; SQLite: writers are
serialised (BEGIN IMMEDIATE) and the overlap check runs on the committed state."""

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
N = 8


@pytest.fixture
def racing(make):
    lab = make.lab()
    instrument = make.instrument(
        lab, hours=ALWAYS_OPEN, lead_minutes=0, slot_minutes=30, min_minutes=30, max_minutes=600
    )
    start = (datetime.now(UTC) + timedelta(days=2)).replace(hour=2, minute=0, second=0, microsecond=0)
    teams = []
    for i in range(N):
        owner = make.user("founder")
        team = make.team(owner=owner, verified=True)
        # each team holds its own hour, far from the contested slot
        booking = make.booking(
            team,
            instrument,
            start + timedelta(hours=3 + i),
            start + timedelta(hours=4 + i),
            now=datetime.now(UTC),
        )
        teams.append((team, make.token_for(owner), booking.id))
    return instrument, teams, start


def _move(token, booking_id, starts_at, ends_at):
    body = {"starts_at": starts_at.isoformat(), "ends_at": ends_at.isoformat()}
    return lambda client: client.post(
        f"/api/v1/bookings/{booking_id}/reschedule", json=body, headers={"Authorization": f"Bearer {token}"}
    )


def _book(instrument, team, token, starts_at, ends_at):
    body = {
        "team_id": team.id,
        "instrument_id": instrument.id,
        "starts_at": starts_at.isoformat(),
        "ends_at": ends_at.isoformat(),
    }
    return lambda client: client.post(
        "/api/v1/bookings", json=body, headers={"Authorization": f"Bearer {token}"}
    )


def _holding(app, instrument) -> list[tuple[datetime, datetime]]:
    with app.app_context():
        return sorted(
            db.session.execute(
                select(Booking.starts_at, Booking.ends_at).where(
                    Booking.instrument_id == instrument.id, Booking.status.in_(HOLDING_STATUSES)
                )
            ).all()
        )


def _assert_one_winner(responses, win_statuses=(200, 201)):
    statuses = Counter(r.status_code for r in responses)
    assert sum(statuses[s] for s in win_statuses) == 1 and statuses[409] == len(responses) - 1, statuses
    assert {r.json["error"]["code"] for r in responses if r.status_code == 409} == {"slot_taken"}


def _assert_no_overlap(held):
    assert all(first[1] <= second[0] for first, second in pairwise(held)), held


def test_moves_into_the_same_slot_exactly_one_wins(app, racing):
    instrument, teams, start = racing
    calls = [
        _move(token, booking_id, start, start + timedelta(hours=1)) for _team, token, booking_id in teams
    ]
    _assert_one_winner(run_concurrently(app, calls))
    held = _holding(app, instrument)
    assert len(held) == N  # every booking still holds once: the winner moved, the others stayed
    assert sum(1 for s, _e in held if s == start) == 1
    _assert_no_overlap(held)


def test_a_move_and_new_bookings_of_the_same_slot_exactly_one_wins(app, racing):
    instrument, teams, start = racing
    target = (start + timedelta(minutes=30), start + timedelta(hours=1, minutes=30))
    calls = [_move(teams[0][1], teams[0][2], *target)]
    calls += [
        _book(instrument, team, token, start, start + timedelta(hours=1)) for team, token, _id in teams[1:]
    ]
    _assert_one_winner(run_concurrently(app, calls))
    held = _holding(app, instrument)
    assert sum(1 for s, e in held if s < target[1] and e > start) == 1
    _assert_no_overlap(held)


def test_the_database_alone_refuses_an_overlapping_move(app, racing, monkeypatch):
    """With the Python overlap check switched off, PostgreSQL's exclusion constraint must still refuse
    the UPDATE of every loser (SQLite's guarantee is that check inside the serialised transaction)."""
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("the exclusion constraint exists on PostgreSQL only")
    check = slots.blackouts_and_holder  # blackouts still count; a holding booking no longer does
    monkeypatch.setattr(slots, "blackouts_and_holder", lambda *args: (check(*args)[0], False))
    instrument, teams, start = racing
    calls = [
        _move(token, booking_id, start, start + timedelta(hours=1)) for _team, token, booking_id in teams
    ]
    _assert_one_winner(run_concurrently(app, calls))
    _assert_no_overlap(_holding(app, instrument))
