"""A small finance world: a provider, a district team with a municipal and a district voucher, and
helpers to post usage and reconcile (as in tests/vouchers/test_reconciliation.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from booking.core import clock
from booking.core.db import db
from vouchers.reconciliation import reconcile
from vouchers.verify import ledger_breaches

NOW = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)
START = NOW + timedelta(hours=1)
END = START + timedelta(hours=2)
AFTER = END + timedelta(hours=2)  # past the usage grace period
PERIOD = "2026-12"


@pytest.fixture
def world(make):
    provider = make.provider()
    provider_user = make.user("provider", provider_id=provider.id)
    owner = make.user("founder")
    team = make.team(owner=owner, verified=True, district_code="500106")
    offer = make.offer(provider, gpus_total=8, price_per_gpu_hour_fen=10_000)
    municipal_officer = make.finance(None)
    district_officer = make.finance("500106")
    municipal = make.program(officer=municipal_officer, rate_bp=3000)
    district = make.program(
        officer=district_officer,
        level="district",
        district_code="500106",
        rate_bp=5000,
        stack_ceiling_bp=7000,
    )
    make.voucher(team, municipal, 100_000)
    make.voucher(team, district, 100_000)
    return {
        "provider": provider,
        "provider_user": provider_user,
        "owner": owner,
        "team": team,
        "offer": offer,
        "municipal": municipal,
        "district": district,
        "municipal_officer": municipal_officer,
        "district_officer": district_officer,
    }


def post_usage(api, world, booking, gpu_hours: str, start=START, end=END):
    body = {
        "records": [
            {
                "external_id": f"{booking.id}-0",
                "booking_id": booking.id,
                "started_at": start.isoformat(),
                "ended_at": end.isoformat(),
                "gpu_hours": gpu_hours,
            }
        ]
    }
    response = api.as_(world["provider_user"]).post("/api/v1/usage-records", json=body)
    assert response.status_code == 200 and not response.json["rejected"], response.json
    return response


def run(app, now=AFTER):
    with app.app_context(), clock.frozen_at(now):
        result = reconcile(now)
        db.session.commit()
        assert ledger_breaches() == []
        return result


@pytest.fixture
def settled(api, make, world, app):
    """Two compute bookings of the team settled in 2026-12 (actual 15,000 and 10,000 fen)."""
    first = make.compute_booking(world["team"], world["offer"], START, END)
    second = make.compute_booking(world["team"], world["offer"], START, END)
    post_usage(api, world, first, "1.5")
    post_usage(api, world, second, "1")
    assert run(app).settled == 2
    return [first, second]
