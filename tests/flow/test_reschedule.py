"""Moving a booking (reschedule): same id, every rule of a new booking, re-quoted; refused → unchanged."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from booking.core import clock
from booking.core.db import db
from booking.models import Booking
from vouchers.models import SubsidyLine
from vouchers.verify import ledger_breaches

CST = timezone(timedelta(hours=8))
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=CST)  # a Tuesday morning in Chongqing


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 12, day, hour, minute, tzinfo=CST)


@pytest.fixture
def world(make):
    manager = make.user("lab_manager")
    lab = make.lab(manager=manager)
    owner = make.user("founder")
    team = make.team(owner=owner, verified=True, district_code="500106")
    other = make.user("founder")
    other_team = make.team(owner=other, verified=True)
    instrument = make.instrument(lab, hourly_rate_fen=10_000, max_minutes=240)
    return {
        "manager": manager,
        "lab": lab,
        "owner": owner,
        "team": team,
        "other": other,
        "other_team": other_team,
        "instrument": instrument,
    }


def book(api, world, starts_at, ends_at, team="team", by="owner"):
    body = {
        "team_id": world[team].id,
        "instrument_id": world["instrument"].id,
        "starts_at": starts_at.isoformat(),
        "ends_at": ends_at.isoformat(),
    }
    with clock.frozen_at(NOW):
        response = api.as_(world[by]).post("/api/v1/bookings", json=body)
    assert response.status_code == 201, response.json
    return response.json


def move(api, world, booking_id, starts_at, ends_at, now=NOW, by="owner", **extra):
    body = {"starts_at": starts_at.isoformat(), "ends_at": ends_at.isoformat(), **extra}
    with clock.frozen_at(now):
        return api.as_(world[by]).post(f"/api/v1/bookings/{booking_id}/reschedule", json=body)


def wallet(api, world):
    return api.as_(world["owner"]).get(f"/api/v1/teams/{world['team'].id}/vouchers").json


def verify(app):
    with app.app_context():
        assert ledger_breaches() == []


def test_move_keeps_the_id_and_re_quotes_to_the_fen(api, make, world, app):
    municipal = make.program(rate_bp=3000)
    district = make.program(level="district", district_code="500106", rate_bp=5000, stack_ceiling_bp=7000)
    m = make.voucher(world["team"], municipal, 100_000)
    d = make.voucher(world["team"], district, 100_000)
    booking = book(api, world, at(2, 10), at(2, 11))
    # 10,000: municipal 3,000, district min(5,000, 7,000 − 3,000) = 4,000
    assert [s["amount_fen"] for s in booking["quote"]["subsidies"]] == [3_000, 4_000]
    moved = move(api, world, booking["id"], at(3, 14), at(3, 16, 30))
    assert moved.status_code == 200, moved.json
    assert moved.json["id"] == booking["id"]
    assert (moved.json["starts_at"], moved.json["ends_at"]) == (
        "2026-12-03T14:00:00+08:00",
        "2026-12-03T16:30:00+08:00",
    )
    assert moved.json["status"] == "confirmed"
    # 25,000: municipal 7,500, district min(12,500, 17,500 − 7,500) = 10,000, team 7,500
    assert moved.json["quote"] == {
        "total_fen": 25_000,
        "subsidies": [
            {"voucher_id": m.id, "program_id": municipal.id, "level": "municipal", "amount_fen": 7_500},
            {"voucher_id": d.id, "program_id": district.id, "level": "district", "amount_fen": 10_000},
        ],
        "team_pays_fen": 7_500,
    }
    figures = {v["level"]: (v["committed_fen"], v["balance_fen"]) for v in wallet(api, world)}
    assert figures == {"municipal": (7_500, 92_500), "district": (10_000, 90_000)}
    with app.app_context():  # one line per voucher, holding exactly the new commitment
        lines = db.session.query(SubsidyLine).filter_by(booking_id=booking["id"]).all()
        assert sorted(line.outstanding_fen for line in lines) == [7_500, 10_000]
    verify(app)
    # the old time is free, the new one taken
    assert book(api, world, at(2, 10), at(2, 11), team="other_team", by="other")["status"] == "confirmed"


def test_move_may_overlap_its_own_old_time(api, world):
    booking = book(api, world, at(2, 10), at(2, 11))
    moved = move(api, world, booking["id"], at(2, 10, 30), at(2, 11, 30))
    assert moved.status_code == 200, moved.json
    assert moved.json["quote"]["total_fen"] == 10_000


def test_a_cheaper_move_returns_money_to_the_voucher(api, make, world, app):
    program = make.program(rate_bp=3000)
    make.voucher(world["team"], program, 100_000)
    booking = book(api, world, at(2, 10), at(2, 13))
    assert wallet(api, world)[0]["committed_fen"] == 9_000
    moved = move(api, world, booking["id"], at(2, 15), at(2, 15, 30))
    assert moved.json["quote"]["team_pays_fen"] == 3_500
    assert (wallet(api, world)[0]["committed_fen"], wallet(api, world)[0]["balance_fen"]) == (1_500, 98_500)
    with clock.frozen_at(NOW):
        cancelled = api.as_(world["owner"]).post(f"/api/v1/bookings/{booking['id']}/cancel")
    assert cancelled.status_code == 200
    assert (wallet(api, world)[0]["committed_fen"], wallet(api, world)[0]["balance_fen"]) == (0, 100_000)
    verify(app)


@pytest.mark.parametrize(
    ("starts_at", "ends_at", "code", "status"),
    [
        (at(2, 12), at(2, 13), "slot_taken", 409),
        (at(2, 7), at(2, 8), "outside_opening_hours", 422),
        (at(5, 10), at(5, 11), "outside_opening_hours", 422),
        (at(2, 10, 15), at(2, 11, 15), "off_grid", 422),
        (at(2, 9), at(2, 14), "too_long", 422),
        (at(1, 9, 30), at(1, 10, 30), "inside_lead_time", 422),
        (at(4, 9), at(4, 10), "blackout", 422),
    ],
)
def test_refused_move_leaves_everything_as_it_was(api, make, world, app, starts_at, ends_at, code, status):
    program = make.program(rate_bp=3000)
    make.voucher(world["team"], program, 100_000)
    make.blackout(world["instrument"], at(4, 8), at(4, 12))
    book(api, world, at(2, 12), at(2, 13), team="other_team", by="other")
    booking = book(api, world, at(2, 10), at(2, 11))
    before = api.as_(world["owner"]).get(f"/api/v1/bookings/{booking['id']}").json
    money_before = wallet(api, world)
    response = move(api, world, booking["id"], starts_at, ends_at)
    assert response.status_code == status, response.json
    assert response.json["error"]["code"] == code
    assert api.as_(world["owner"]).get(f"/api/v1/bookings/{booking['id']}").json == before
    assert wallet(api, world) == money_before
    verify(app)


def test_approval_instrument_asks_again(api, make, world):
    world["instrument"] = make.instrument(world["lab"], requires_approval=True)
    booking = book(api, world, at(2, 10), at(2, 11))
    approved = api.as_(world["manager"]).post(f"/api/v1/bookings/{booking['id']}/approve")
    assert approved.json["status"] == "confirmed"
    moved = move(api, world, booking["id"], at(3, 10), at(3, 11))
    assert moved.status_code == 200 and moved.json["status"] == "pending_approval"


def test_no_move_after_start_or_when_cancelled(api, world):
    booking = book(api, world, at(2, 10), at(2, 11))
    started = move(api, world, booking["id"], at(3, 10), at(3, 11), now=at(2, 10))
    assert started.status_code == 409 and started.json["error"]["code"] == "invalid_status"
    with clock.frozen_at(NOW):
        api.as_(world["owner"]).post(f"/api/v1/bookings/{booking['id']}/cancel")
    cancelled = move(api, world, booking["id"], at(3, 10), at(3, 11))
    assert cancelled.status_code == 409 and cancelled.json["error"]["code"] == "invalid_status"


def test_who_moves_a_booking(api, world):
    booking = book(api, world, at(2, 10), at(2, 11))
    assert move(api, world, booking["id"], at(3, 10), at(3, 11), by="other").status_code == 404
    assert move(api, world, booking["id"], at(3, 10), at(3, 11), by="manager").status_code == 403


def test_malformed_move_is_422(api, world):
    booking = book(api, world, at(2, 10), at(2, 11))
    with clock.frozen_at(NOW):
        response = api.as_(world["owner"]).post(
            f"/api/v1/bookings/{booking['id']}/reschedule",
            json={"starts_at": at(3, 11).isoformat(), "ends_at": at(3, 10).isoformat()},
        )
        missing = api.as_(world["owner"]).post(f"/api/v1/bookings/{booking['id']}/reschedule", json={})
    assert response.status_code == 422 and "ends_at" in response.json["error"]["details"]
    assert missing.status_code == 422 and "starts_at" in missing.json["error"]["details"]


def test_moved_occurrence_stays_in_its_series(api, world, app):
    body = {
        "team_id": world["team"].id,
        "instrument_id": world["instrument"].id,
        "starts_at": at(2, 10).isoformat(),
        "ends_at": at(2, 11).isoformat(),
        "repeat": {"every": "week", "count": 2},
        "on_conflict": "skip",
    }
    with clock.frozen_at(NOW):
        series = api.as_(world["owner"]).post("/api/v1/booking-series", json=body).json
    first = series["bookings"][0]
    moved = move(api, world, first["id"], at(3, 10), at(3, 11))
    assert moved.json["series_id"] == series["id"]
    with app.app_context():
        assert db.session.get(Booking, first["id"]).series_id == series["id"]
