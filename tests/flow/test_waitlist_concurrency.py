"""Freeing time concurrently, with real concurrent connections: an entry spanning two bookings that are
cancelled at the same moment is mailed exactly once (not never, not twice)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from booking.core.db import db
from booking.models import OutboxMessage
from instruments.models import WaitlistEntry
from tests.support.concurrency import run_concurrently

pytestmark = pytest.mark.concurrency

ALWAYS_OPEN = tuple((day, 0, 1440) for day in range(7))
ROUNDS = 4


@pytest.fixture
def scene(make):
    lab = make.lab()
    instrument = make.instrument(
        lab, hours=ALWAYS_OPEN, lead_minutes=0, slot_minutes=30, min_minutes=30, max_minutes=600
    )
    holder = make.user("founder")
    holding_team = make.team(owner=holder, verified=True)
    waiter = make.user("founder")
    waiting_team = make.team(owner=waiter, verified=True)
    start = (datetime.now(UTC) + timedelta(days=2)).replace(hour=2, minute=0, second=0, microsecond=0)
    return instrument, holding_team, make.token_for(holder), waiting_team, make.token_for(waiter), start


def _cancel(booking_id, token):
    return lambda client: client.post(
        f"/api/v1/bookings/{booking_id}/cancel", json={}, headers={"Authorization": f"Bearer {token}"}
    )


def test_two_bookings_cancelled_at_once_mail_the_entry_spanning_both_once(app, client, make, scene):
    instrument, holding_team, holder_token, waiting_team, waiter_token, start = scene
    for round_ in range(ROUNDS):
        s = start + timedelta(hours=3 * round_)
        first = make.booking(holding_team, instrument, s, s + timedelta(hours=1), now=s - timedelta(days=1))
        second = make.booking(
            holding_team,
            instrument,
            s + timedelta(hours=1),
            s + timedelta(hours=2),
            now=s - timedelta(days=1),
        )
        joined = client.post(
            f"/api/v1/instruments/{instrument.id}/waitlist",
            json={
                "team_id": waiting_team.id,
                "starts_at": s.isoformat(),
                "ends_at": (s + timedelta(hours=2)).isoformat(),
            },
            headers={"Authorization": f"Bearer {waiter_token}"},
        )
        assert joined.status_code == 201, joined.json
        responses = run_concurrently(app, [_cancel(first.id, holder_token), _cancel(second.id, holder_token)])
        assert [r.status_code for r in responses] == [200, 200]
        with app.app_context():
            entry = db.session.get(WaitlistEntry, joined.json["id"])
            assert entry.status == "notified", f"round {round_}: never mailed"
            mails = db.session.scalars(
                select(OutboxMessage).where(OutboxMessage.kind == "waitlist_freed")
            ).all()
            assert len(mails) == round_ + 1, f"round {round_}: {len(mails)} mails"
