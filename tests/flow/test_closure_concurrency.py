"""A lab closure and bookings of its time made at the same instant, with real concurrent connections:
whatever the order the database serialises them in, no booking is left holding closed time. A
booking that commits first is cancelled by the closure; one that waits finds the time closed
(422 ``blackout``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from booking.core.db import db
from booking.models import HOLDING_STATUSES, Booking
from tests.support.concurrency import run_concurrently

pytestmark = pytest.mark.concurrency

ALWAYS_OPEN = tuple((day, 0, 1440) for day in range(7))
ROUNDS = 3
BOOKERS = 6


@pytest.fixture
def scene(make):
    manager = make.user("lab_manager")
    lab = make.lab(manager=manager)
    instruments = [
        make.instrument(
            lab, hours=ALWAYS_OPEN, lead_minutes=0, slot_minutes=30, min_minutes=30, max_minutes=600
        )
        for _ in range(2)
    ]
    founders = []
    for _ in range(BOOKERS):
        owner = make.user("founder")
        founders.append((make.team(owner=owner, verified=True), make.token_for(owner)))
    start = (datetime.now(UTC) + timedelta(days=3)).replace(hour=2, minute=0, second=0, microsecond=0)
    return lab, instruments, make.token_for(manager), founders, start


def _post(path, token, body):
    return lambda client: client.post(path, json=body, headers={"Authorization": f"Bearer {token}"})


def test_no_booking_holds_time_a_concurrent_closure_closed(app, scene):
    lab, instruments, manager_token, founders, start = scene
    for round_ in range(ROUNDS):
        s = start + timedelta(days=round_)
        closure_body = {
            "starts_at": s.isoformat(),
            "ends_at": (s + timedelta(hours=6)).isoformat(),
            "reason": "停电检修",
        }
        calls = [_post(f"/api/v1/labs/{lab.id}/closures", manager_token, closure_body)]
        for i, (team, token) in enumerate(founders):
            slot = s + timedelta(hours=i % 3)
            calls.append(
                _post(
                    "/api/v1/bookings",
                    token,
                    {
                        "team_id": team.id,
                        "instrument_id": instruments[i % 2].id,
                        "starts_at": slot.isoformat(),
                        "ends_at": (slot + timedelta(hours=1)).isoformat(),
                    },
                )
            )
        closure, *bookings = run_concurrently(app, calls)
        assert closure.status_code == 201, closure.json
        codes = {r.status_code for r in bookings}
        assert codes <= {201, 409, 422}, [r.json for r in bookings]
        refused = {r.json["error"]["code"] for r in bookings if r.status_code == 422}
        assert refused <= {"blackout"}, refused
        booked = {r.json["id"] for r in bookings if r.status_code == 201}
        assert booked <= set(closure.json["cancelled_booking_ids"]), f"round {round_}"
        with app.app_context():
            holding = db.session.scalars(
                select(Booking.id).where(
                    Booking.instrument_id.in_([i.id for i in instruments]),
                    Booking.status.in_(HOLDING_STATUSES),
                    Booking.starts_at < s + timedelta(hours=6),
                    Booking.ends_at > s,
                )
            ).all()
            assert holding == [], f"round {round_}: bookings {holding} hold closed time"
