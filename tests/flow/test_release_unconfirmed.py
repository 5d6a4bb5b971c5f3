"""Pending requests the lab never decided are released at their start: slot and voucher money."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from booking.core import clock
from booking.core.db import db
from booking.flow.holds import release_unconfirmed

CST = timezone(timedelta(hours=8))
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=CST)
START = datetime(2026, 12, 2, 10, 0, tzinfo=CST)


def test_undecided_requests_are_released_at_their_start(api, make, app):
    owner = make.user("founder")
    team = make.team(owner=owner, verified=True)
    make.voucher(team, make.program(rate_bp=3000), 100_000)
    instrument = make.instrument(make.lab(), requires_approval=True)
    pending = make.booking(team, instrument, START, START + timedelta(hours=1), now=NOW)
    assert pending.status == "pending_approval"
    with app.app_context():
        assert release_unconfirmed(START - timedelta(minutes=1)) == 0
        assert release_unconfirmed(START) == 1
        db.session.commit()
        assert release_unconfirmed(START + timedelta(hours=1)) == 0  # never twice
    released = api.as_(owner).get(f"/api/v1/bookings/{pending.id}").json
    assert released["status"] == "rejected" and "released automatically" in released["reason"]
    wallet = api.as_(owner).get(f"/api/v1/teams/{team.id}/vouchers").json[0]
    assert (wallet["balance_fen"], wallet["committed_fen"]) == (100_000, 0)
    with clock.frozen_at(NOW):
        # the slot is free again for a new request
        body = {
            "team_id": team.id,
            "instrument_id": instrument.id,
            "starts_at": (START + timedelta(days=1)).isoformat(),
            "ends_at": (START + timedelta(days=1, hours=1)).isoformat(),
        }
        assert api.as_(owner).post("/api/v1/bookings", json=body).status_code == 201
