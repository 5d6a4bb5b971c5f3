"""Instruments and bookings for the notification and calendar tests, inserted straight through the ORM.

They bypass the booking flow on purpose: these tests need bookings in any status and at any time
(past ones, cancelled ones) without the policy checks in the way.
"""

from __future__ import annotations

import itertools
from datetime import datetime

from booking.core.db import db
from booking.core.money import time_cost_fen
from booking.models import Booking, Team, TeamMember, User
from instruments.models import Instrument, Lab, OpeningHours

_seq = itertools.count(1)


def add_instrument(app, lab: Lab, **fields) -> Instrument:
    n = next(_seq)
    values = {
        "name": f"扫描电镜 SEM-{n}",
        "category": "microscopy",
        "location": "A栋 101",
        "hourly_rate_fen": 12_345,
        "operation_mode": "market",
        "timezone": "Asia/Shanghai",
        **fields,
    }
    with app.app_context():
        instrument = Instrument(lab_id=lab.id, **values)
        instrument.opening_hours = [
            OpeningHours(weekday=day, opens_minute=0, closes_minute=1440) for day in range(7)
        ]
        db.session.add(instrument)
        db.session.commit()
        return instrument


def add_booking(
    app, team: Team, instrument: Instrument, starts_at: datetime, ends_at: datetime, **fields
) -> Booking:
    values = {
        "status": "confirmed",
        "estimated_cost_fen": time_cost_fen(instrument.hourly_rate_fen, ends_at - starts_at),
        "fee_fen": 0,
        **fields,
    }
    with app.app_context():
        booking = Booking(
            team_id=team.id,
            kind="instrument",
            instrument_id=instrument.id,
            starts_at=starts_at,
            ends_at=ends_at,
            created_by_id=team.owner_id,
            **values,
        )
        db.session.add(booking)
        db.session.commit()
        return booking


def add_member(app, team: Team, user: User) -> None:
    with app.app_context():
        db.session.add(TeamMember(team_id=team.id, user_id=user.id, role="member"))
        db.session.commit()


def load(app, model, id_):
    """A fresh copy of a row, with its relationships loaded, for use outside an app context."""
    with app.app_context():
        return db.session.get(model, id_)
