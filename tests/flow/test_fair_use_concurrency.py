"""Quotas hold under concurrency, proven with real concurrent connections on the test database's
engine: one team books distinct free slots of one instrument all at once.

PostgreSQL: ``slots.lock_instrument`` (the instrument's row lock, taken before any rule is checked)
makes each request count after the previous one committed — without it every request counts the same
committed state and all of them win. SQLite: writers are serialised by BEGIN IMMEDIATE.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from booking.core.db import db
from booking.flow import fair_use
from booking.models import Booking
from tests.support.concurrency import run_concurrently

pytestmark = pytest.mark.concurrency

ALWAYS_OPEN = tuple((day, 0, 1440) for day in range(7))
N = 6
SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def team_and_token(make):
    owner = make.user("founder")
    return make.team(owner=owner, verified=True), make.token_for(owner)


def _tuesday_after_next() -> datetime:
    """10:00 local on a Tuesday at least a week ahead (so six hourly slots share one week)."""
    today = datetime.now(SHANGHAI).date()
    monday = today - timedelta(days=today.weekday()) + timedelta(days=14)
    return datetime.combine(monday + timedelta(days=1), time(10), tzinfo=SHANGHAI).astimezone(UTC)


def _attempts(instrument, team, token, start: datetime) -> list:
    calls = []
    for i in range(N):
        body = {
            "team_id": team.id,
            "instrument_id": instrument.id,
            "starts_at": (start + timedelta(hours=i)).isoformat(),
            "ends_at": (start + timedelta(hours=i + 1)).isoformat(),
        }
        calls.append(
            lambda client, body=body: client.post(
                "/api/v1/bookings", json=body, headers={"Authorization": f"Bearer {token}"}
            )
        )
    return calls


def _held(app, instrument) -> int:
    with app.app_context():
        return len(
            list(
                db.session.scalars(
                    select(Booking).where(
                        Booking.instrument_id == instrument.id, Booking.status.in_(fair_use.FUTURE_COUNTED)
                    )
                )
            )
        )


def _exactly(responses, winners: int, limit: str) -> None:
    statuses = Counter(r.status_code for r in responses)
    assert statuses == {201: winners, 422: N - winners}, [r.json for r in responses]
    refusals = [r.json["error"] for r in responses if r.status_code == 422]
    assert {e["code"] for e in refusals} == {"quota_exceeded"}
    assert {e["details"]["limit"] for e in refusals} == {limit}


def test_future_bookings_limit_holds_under_concurrency(app, make, team_and_token):
    instrument = make.instrument(
        hours=ALWAYS_OPEN, lead_minutes=0, max_minutes=600, max_future_bookings_per_team=2
    )
    responses = run_concurrently(app, _attempts(instrument, *team_and_token, _tuesday_after_next()))
    _exactly(responses, 2, "max_future_bookings_per_team")
    assert _held(app, instrument) == 2


def test_weekly_hours_limit_holds_under_concurrency(app, make, team_and_token):
    instrument = make.instrument(
        hours=ALWAYS_OPEN, lead_minutes=0, max_minutes=600, max_hours_per_team_per_week=3
    )
    responses = run_concurrently(app, _attempts(instrument, *team_and_token, _tuesday_after_next()))
    _exactly(responses, 3, "max_hours_per_team_per_week")
    assert _held(app, instrument) == 3
