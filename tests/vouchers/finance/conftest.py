"""A small finance world: a provider, a district team with a municipal and a district voucher, and
helpers to post usage and reconcile (as in tests/vouchers/test_reconciliation.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from booking.core import clock
from booking.core.db import db
from booking.flow import attendance
from booking.models import User
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


def settle_instrument_booking(app, manager, booking):
    """Check the booking in and out (as its lab's manager), then reconcile it."""
    with app.app_context():
        actor = db.session.get(User, manager.id)
        with clock.frozen_at(booking.starts_at):
            attendance.check_in(actor, booking.id, at=booking.starts_at)
        with clock.frozen_at(booking.ends_at):
            attendance.check_out(actor, booking.id, at=booking.ends_at)
        db.session.commit()


@pytest.fixture
def payees(api, make, world, app):
    """The finance world's provider with two settled compute bookings, two labs (each with its own
    manager) with one settled instrument booking each; one team is named like a formula."""
    managers = [make.user("lab_manager"), make.user("lab_manager")]
    labs = [make.lab(manager=m, district_code="500106") for m in managers]
    instruments = [make.instrument(lab, hourly_rate_fen=6_000) for lab in labs]
    formula_team = make.team(owner=make.user("founder"), verified=True, district_code="500106", name="=cmd")
    make.voucher(formula_team, world["municipal"], 100_000)
    compute = [make.compute_booking(world["team"], world["offer"], START, END) for _ in range(2)]
    post_usage(api, world, compute[0], "1.5")
    post_usage(api, world, compute[1], "1")
    bookings = [
        make.booking(formula_team, instruments[0], START, END),
        make.booking(world["team"], instruments[1], START, END),
    ]
    for manager, booking in zip(managers, bookings, strict=True):
        settle_instrument_booking(app, manager, booking)
    assert run(app, AFTER).settled == 4
    return {"managers": managers, "labs": labs, "instruments": instruments, "bookings": bookings}
