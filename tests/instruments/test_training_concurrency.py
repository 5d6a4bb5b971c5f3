"""One pending training request per person and instrument, proven with real concurrent connections:
the partial unique index decides the race, every loser gets 409 ``already_requested``."""

from __future__ import annotations

from collections import Counter

import pytest
from sqlalchemy import select

from booking.core.db import db
from instruments.models import TrainingRequest
from tests.support.concurrency import run_concurrently

pytestmark = pytest.mark.concurrency

N = 8


def test_concurrent_requests_leave_exactly_one_open(app, make):
    lab = make.lab(manager=make.user("lab_manager"))
    instrument = make.instrument(lab, requires_training=True)
    founder = make.user("founder")
    token = make.token_for(founder)

    def ask(client):
        return client.post(
            f"/api/v1/instruments/{instrument.id}/training-requests",
            json={"note": "please"},
            headers={"Authorization": f"Bearer {token}"},
        )

    responses = run_concurrently(app, [ask] * N)
    assert Counter(r.status_code for r in responses) == {201: 1, 409: N - 1}
    assert {r.json["error"]["code"] for r in responses if r.status_code == 409} == {"already_requested"}
    with app.app_context():
        rows = list(
            db.session.scalars(select(TrainingRequest).where(TrainingRequest.instrument_id == instrument.id))
        )
    assert [r.status for r in rows] == ["pending"]
