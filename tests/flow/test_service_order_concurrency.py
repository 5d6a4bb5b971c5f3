"""Concurrent orders of one team on one voucher never overdraw it (real concurrent connections, on the
test database's engine): each order's commitment sees what the others left, and the team pays the rest."""

from __future__ import annotations

from collections import Counter

import pytest

from booking.core.db import db
from tests.support.concurrency import run_concurrently
from tests.support.service_orders import ANSWERS, order_world
from vouchers.verify import ledger_breaches

pytestmark = pytest.mark.concurrency
N = 16


def test_concurrent_orders_never_overdraw_one_voucher(app, make):
    world = order_world(make, price=10_000)
    program = make.program(resource_kinds=["service"], rate_bp=5000)
    # each order: 1 sample at ¥100 → 5,000 fen of subsidy wanted; the voucher covers 5 of 16 fully
    make.voucher(world.team, program, 27_500)
    token = make.token_for(world.owner)
    body = {"team_id": world.team.id, "service_id": world.service.id, "samples": 1, "answers": ANSWERS}

    def attempt(client):
        return client.post("/api/v1/service-orders", json=body, headers={"Authorization": f"Bearer {token}"})

    responses = run_concurrently(app, [attempt] * N)
    assert Counter(r.status_code for r in responses) == {201: N}, [r.json for r in responses]
    subsidies = [sum(s["amount_fen"] for s in r.json["quote"]["subsidies"]) for r in responses]
    assert sum(subsidies) == 27_500  # drawn to the last fen, never beyond
    assert sorted(subsidies, reverse=True)[:6] == [5_000] * 5 + [2_500]
    for response in responses:
        quote = response.json["quote"]
        assert quote["team_pays_fen"] == quote["total_fen"] - sum(s["amount_fen"] for s in quote["subsidies"])
    with app.app_context():
        assert ledger_breaches() == []
        db.session.rollback()
