"""A claims world: a provider whose compute was used in 2026-12 by two teams of two districts, each
subsidised by the municipal programme and its own district's programme; the period then closed."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from booking.core import clock
from booking.core.db import db
from booking.models import Booking, Team
from tests.vouchers.finance.conftest import END, START, post_usage, run
from vouchers import periods
from vouchers.models import Settlement

PERIOD = "2026-12"
LATER = datetime(2027, 1, 3, 2, 0, tzinfo=UTC)  # 2026-12 has ended
DISTRICTS = ("500106", "500103")


@pytest.fixture
def world(make):
    provider = make.provider()
    offer = make.offer(provider, gpus_total=8, price_per_gpu_hour_fen=10_000)
    municipal_officer = make.finance(None)
    municipal = make.program(officer=municipal_officer, rate_bp=3000)
    officers, teams, district_programs = {}, {}, {}
    for code, rate in zip(DISTRICTS, (5000, 2500), strict=True):
        officers[code] = make.finance(code)
        district_programs[code] = make.program(
            officer=officers[code], level="district", district_code=code, rate_bp=rate, stack_ceiling_bp=7000
        )
        teams[code] = make.team(owner=make.user("founder"), verified=True, district_code=code)
        make.voucher(teams[code], municipal, 100_000)
        make.voucher(teams[code], district_programs[code], 100_000)
    return {
        "provider": provider,
        "provider_user": make.user("provider", provider_id=provider.id),
        "other_provider_user": make.user("provider"),
        "offer": offer,
        "municipal": municipal,
        "municipal_officer": municipal_officer,
        "officers": officers,
        "teams": teams,
        "district_programs": district_programs,
    }


def settle_and_close(api, make, world, app, hours=("1.5", "1")) -> None:
    """Each team used the provider once (1.5 and 1 GPU-hours at ¥100), settled in 2026-12, which the
    municipal office then closed."""
    for team, used in zip(world["teams"].values(), hours, strict=True):
        booking = make.compute_booking(team, world["offer"], START, END)
        post_usage(api, {"provider_user": world["provider_user"]}, booking, used)
    assert run(app).settled == len(hours)
    close(app, world)


def close(app, world, period=PERIOD, at=LATER) -> None:
    with app.app_context(), clock.frozen_at(at):
        periods.close_period(db.session.merge(world["municipal_officer"]), period)
        db.session.commit()


@pytest.fixture
def settled(api, make, world, app):
    settle_and_close(api, make, world, app)
    return world


def settled_by_district(app, provider) -> tuple[int, dict[str, int], int]:
    """Independently of the claims code: municipal fen, district fen per team district, bookings."""
    with app.app_context():
        rows = db.session.execute(
            select(
                Team.district_code,
                func.sum(Settlement.municipal_fen),
                func.sum(Settlement.district_fen),
                func.count(),
            )
            .join(Booking, Booking.id == Settlement.booking_id)
            .join(Team, Team.id == Booking.team_id)
            .where(
                Settlement.payee_kind == "provider",
                Settlement.payee_id == provider.id,
                Settlement.period == PERIOD,
            )
            .group_by(Team.district_code)
        ).all()
    municipal = sum(int(m) for _, m, _, _ in rows)
    return municipal, {code: int(d) for code, _, d, _ in rows}, sum(n for *_, n in rows)


def file(api, world, user=None, **overrides):
    body = {
        "payee_kind": "provider",
        "payee_id": world["provider"].id,
        "period": PERIOD,
        "invoice_number": "No. 50012345",
        **overrides,
    }
    return api.as_(user or world["provider_user"]).post("/api/v1/claims", json=body)
