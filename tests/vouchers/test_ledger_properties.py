"""Property: after any sequence of issue / book (commit) / cancel (release) / expire / revoke,
every ledger invariant holds and no voucher pays more than its face value."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from booking.core import clock
from booking.core.db import db
from booking.core.errors import DomainError
from booking.flow import bookings
from booking.models import User
from vouchers import programs, wallet
from vouchers.verify import ledger_breaches

START = datetime(2026, 12, 7, 0, tzinfo=UTC)
ALWAYS_OPEN = tuple((day, 0, 1440) for day in range(7))

operation = st.one_of(
    st.tuples(st.just("issue"), st.integers(0, 1), st.integers(1, 60_000)),
    st.tuples(st.just("book"), st.integers(0, 47), st.integers(1, 4)),
    st.tuples(st.just("book"), st.integers(0, 47), st.integers(1, 4)),
    st.tuples(st.just("cancel"), st.integers(0, 20), st.just(0)),
    st.tuples(st.just("expire"), st.integers(0, 30), st.just(0)),
    st.tuples(st.just("revoke"), st.integers(0, 20), st.just(0)),
)

_WORLDS: dict[int, dict] = {}


def _world(make):
    if id(make) not in _WORLDS:
        owner = make.user("founder")
        _WORLDS.clear()
        _WORLDS[id(make)] = {
            "team": make.team(owner=owner, verified=True),
            "instrument": make.instrument(
                make.lab(), hours=ALWAYS_OPEN, lead_minutes=0, hourly_rate_fen=9_999
            ),
            "programs": [
                make.program(
                    rate_bp=3000, budget_fen=100_000, per_team_cap_fen=100_000, voucher_validity_days=20
                ),
                make.program(
                    level="district",
                    rate_bp=6000,
                    stack_ceiling_bp=8000,
                    budget_fen=100_000,
                    per_team_cap_fen=100_000,
                ),
            ],
        }
    return _WORLDS[id(make)]


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(operations=st.lists(operation, min_size=1, max_size=25))
def test_any_sequence_keeps_the_ledger_sound(app, make, operations):
    world = _world(make)
    with app.app_context(), clock.frozen_at(START - timedelta(days=1)):
        savepoint = db.session.begin_nested()
        try:
            owner = db.session.get(User, world["team"].owner_id)
            booked: list[int] = []
            vouchers: list[int] = []
            for kind, a, b in operations:
                try:
                    if kind == "issue":
                        program = world["programs"][a]
                        officer = db.session.get(User, program.created_by_id)
                        application = programs.apply(
                            owner, program.id, team_id=world["team"].id, amount_fen=b, purpose="p"
                        )
                        vouchers.append(programs.approve(officer, application.id).id)
                    elif kind == "book":
                        starts_at = START + timedelta(hours=a)
                        booking, _ = bookings.create_instrument_booking(
                            owner,
                            team_id=world["team"].id,
                            instrument_id=world["instrument"].id,
                            starts_at=starts_at,
                            ends_at=starts_at + timedelta(minutes=30 * b),
                        )
                        booked.append(booking.id)
                    elif kind == "cancel" and booked:
                        bookings.cancel(owner, booked[a % len(booked)])
                    elif kind == "expire":
                        wallet.expire_vouchers(START + timedelta(days=a))
                    elif kind == "revoke" and vouchers:
                        voucher_id = vouchers[a % len(vouchers)]
                        officer_id = db.session.get(wallet.Voucher, voucher_id).program.created_by_id
                        wallet.revoke(db.session.get(User, officer_id), voucher_id, "clawback")
                except DomainError as error:
                    assert error.code in {
                        "slot_taken",
                        "invalid_status",
                        "team_cap_exceeded",
                        "budget_exhausted",
                    }
                assert ledger_breaches() == [], (kind, a, b)
        finally:
            savepoint.rollback()
