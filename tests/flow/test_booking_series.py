"""Booking series through the API: local wall-clock repetition, skip/fail, vouchers, cancelling the rest."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from booking.core import clock
from vouchers.verify import ledger_breaches

CST = timezone(timedelta(hours=8))
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=CST)  # a Tuesday morning in Chongqing
ALWAYS_OPEN = tuple((day, 0, 1440) for day in range(7))


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 12, day, hour, minute, tzinfo=CST)


@pytest.fixture
def world(make):
    manager = make.user("lab_manager")
    lab = make.lab(manager=manager)
    owner = make.user("founder")
    team = make.team(owner=owner, verified=True)
    other = make.user("founder")
    other_team = make.team(owner=other, verified=True)
    instrument = make.instrument(lab, hourly_rate_fen=10_000)
    return {
        "manager": manager,
        "lab": lab,
        "owner": owner,
        "team": team,
        "other": other,
        "other_team": other_team,
        "instrument": instrument,
    }


def book_series(
    api,
    world,
    starts_at,
    ends_at,
    every="week",
    count=4,
    on_conflict="skip",
    now=NOW,
    by=None,
    headers=None,
    **extra,
):
    body = {
        "team_id": world["team"].id,
        "instrument_id": world["instrument"].id,
        "starts_at": starts_at.isoformat(),
        "ends_at": ends_at.isoformat(),
        "repeat": {"every": every, "count": count},
        "on_conflict": on_conflict,
        **extra,
    }
    with clock.frozen_at(now):
        return api.as_(by or world["owner"]).post("/api/v1/booking-series", json=body, headers=headers)


def holding(api, world):
    listing = api.as_(world["manager"]).get(f"/api/v1/bookings?instrument_id={world['instrument'].id}").json
    return [b for b in listing["items"] if b["status"] in ("pending_approval", "confirmed")]


def test_weekly_series_repeats_the_local_time(api, world):
    response = book_series(api, world, at(2, 10), at(2, 11, 30))
    assert response.status_code == 201, response.json
    series = response.json
    assert [(b["starts_at"], b["ends_at"]) for b in series["bookings"]] == [
        (f"2026-12-{d:02d}T10:00:00+08:00", f"2026-12-{d:02d}T11:30:00+08:00") for d in (2, 9, 16, 23)
    ]
    assert series["skipped"] == []
    assert series["repeat"] == {"every": "week", "count": 4} and series["on_conflict"] == "skip"
    assert {b["series_id"] for b in series["bookings"]} == {series["id"]}
    assert all(b["quote"]["total_fen"] == 15_000 for b in series["bookings"])
    fetched = api.as_(world["manager"]).get(f"/api/v1/booking-series/{series['id']}")
    assert fetched.status_code == 200 and fetched.json == series
    single = api.as_(world["owner"]).get(f"/api/v1/bookings/{series['bookings'][0]['id']}").json
    assert single["series_id"] == series["id"]


def test_daily_series_skips_the_weekend_with_its_code(api, world):
    response = book_series(api, world, at(3, 10), at(3, 11), every="day", count=5)  # Thu..Mon
    assert response.status_code == 201, response.json
    assert [b["starts_at"][:10] for b in response.json["bookings"]] == [
        "2026-12-03",
        "2026-12-04",
        "2026-12-07",
    ]
    assert response.json["skipped"] == [
        {
            "starts_at": "2026-12-05T10:00:00+08:00",
            "ends_at": "2026-12-05T11:00:00+08:00",
            "code": "outside_opening_hours",
        },
        {
            "starts_at": "2026-12-06T10:00:00+08:00",
            "ends_at": "2026-12-06T11:00:00+08:00",
            "code": "outside_opening_hours",
        },
    ]


def test_dst_zone_series_keeps_the_wall_clock(api, make, world):
    """Across Europe's DST end (25 Oct 2026) 10:00 stays 10:00 local: the UTC instant moves."""
    world["instrument"] = make.instrument(
        world["lab"], hours=ALWAYS_OPEN, timezone="Europe/Berlin", horizon_days=400
    )
    berlin = timezone(timedelta(hours=2))
    response = book_series(
        api,
        world,
        datetime(2026, 10, 21, 10, tzinfo=berlin),
        datetime(2026, 10, 21, 11, tzinfo=berlin),
        count=2,
        now=datetime(2026, 10, 1, tzinfo=berlin),
    )
    assert response.status_code == 201, response.json
    assert [b["starts_at"] for b in response.json["bookings"]] == [
        "2026-10-21T10:00:00+02:00",
        "2026-10-28T10:00:00+01:00",
    ]


def test_skip_reports_slot_taken_and_blackout(api, make, world):
    make.booking(world["other_team"], world["instrument"], at(9, 10), at(9, 11), now=NOW)
    make.blackout(world["instrument"], at(16, 9), at(16, 12))
    response = book_series(api, world, at(2, 10), at(2, 11))
    assert response.status_code == 201, response.json
    assert [b["starts_at"][:10] for b in response.json["bookings"]] == ["2026-12-02", "2026-12-23"]
    assert [(s["starts_at"][:10], s["code"]) for s in response.json["skipped"]] == [
        ("2026-12-09", "slot_taken"),
        ("2026-12-16", "blackout"),
    ]
    # what was skipped is stored: the series reads the same later
    again = api.as_(world["owner"]).get(f"/api/v1/booking-series/{response.json['id']}").json
    assert again["skipped"] == response.json["skipped"]


def test_fail_books_nothing_and_answers_with_the_first_refusal(api, make, world, app):
    program = make.program(rate_bp=3000)
    make.voucher(world["team"], program, 100_000)
    make.booking(world["other_team"], world["instrument"], at(16, 10), at(16, 11), now=NOW)
    make.blackout(world["instrument"], at(23, 9), at(23, 12))
    before = api.as_(world["owner"]).get(f"/api/v1/teams/{world['team'].id}/vouchers").json
    response = book_series(api, world, at(2, 10), at(2, 11), on_conflict="fail")
    assert response.status_code == 409, response.json
    assert response.json["error"]["code"] == "slot_taken"
    assert response.json["error"]["details"]["starts_at"] == ["2026-12-16T10:00:00+08:00"]
    assert [b["starts_at"][:10] for b in holding(api, world)] == ["2026-12-16"]  # only the other team's
    assert api.as_(world["owner"]).get(f"/api/v1/teams/{world['team'].id}/vouchers").json == before
    with app.app_context():
        assert ledger_breaches() == []


def test_fail_with_a_422_refusal(api, make, world):
    make.blackout(world["instrument"], at(9, 9), at(9, 12))
    response = book_series(api, world, at(2, 10), at(2, 11), on_conflict="fail")
    assert response.status_code == 422
    assert response.json["error"]["code"] == "blackout"
    assert response.json["error"]["details"]["starts_at"] == ["2026-12-09T10:00:00+08:00"]
    assert holding(api, world) == []


def test_each_occurrence_commits_its_own_subsidy(api, make, world, app):
    program = make.program(rate_bp=3000)
    voucher = make.voucher(world["team"], program, 100_000)
    response = book_series(api, world, at(2, 10), at(2, 11), count=3)
    assert response.status_code == 201
    for booking in response.json["bookings"]:
        assert booking["quote"]["subsidies"] == [
            {"voucher_id": voucher.id, "program_id": program.id, "level": "municipal", "amount_fen": 3_000}
        ]
        assert booking["quote"]["team_pays_fen"] == 7_000
    wallet = api.as_(world["owner"]).get(f"/api/v1/teams/{world['team'].id}/vouchers").json[0]
    assert wallet["committed_fen"] == 9_000 and wallet["balance_fen"] == 91_000
    with app.app_context():
        assert ledger_breaches() == []


@pytest.mark.parametrize(
    ("repeat", "on_conflict", "field"),
    [
        ({"every": "week", "count": 1}, "skip", "repeat"),
        ({"every": "week", "count": 53}, "skip", "repeat"),
        ({"every": "month", "count": 3}, "skip", "repeat"),
        ({"every": "week"}, "skip", "repeat"),
        ({"every": "week", "count": 3}, "ignore", "on_conflict"),
        ({"every": "week", "count": "3"}, "skip", "repeat"),
    ],
)
def test_bad_repetition_is_422_with_details(api, world, repeat, on_conflict, field):
    body = {
        "team_id": world["team"].id,
        "instrument_id": world["instrument"].id,
        "starts_at": at(2, 10).isoformat(),
        "ends_at": at(2, 11).isoformat(),
        "repeat": repeat,
        "on_conflict": on_conflict,
    }
    with clock.frozen_at(NOW):
        response = api.as_(world["owner"]).post("/api/v1/booking-series", json=body)
    assert response.status_code == 422
    assert field in response.json["error"]["details"]
    assert holding(api, world) == []


def test_series_of_another_team_is_refused_whole(api, world):
    response = book_series(api, world, at(2, 10), at(2, 11), by=world["other"])
    assert response.status_code == 404
    assert holding(api, world) == []


def test_idempotency_key_replays_the_series(api, world):
    headers = {"Idempotency-Key": "series-1"}
    first = book_series(api, world, at(2, 10), at(2, 11), count=2, headers=headers)
    body = {
        "team_id": world["team"].id,
        "instrument_id": world["instrument"].id,
        "starts_at": at(2, 10).isoformat(),
        "ends_at": at(2, 11).isoformat(),
        "repeat": {"every": "week", "count": 2},
        "on_conflict": "skip",
    }
    with clock.frozen_at(NOW):
        replayed = api.as_(world["owner"]).post("/api/v1/booking-series", json=body, headers=headers)
        reused = api.as_(world["owner"]).post(
            "/api/v1/booking-series", json={**body, "on_conflict": "fail"}, headers=headers
        )
    assert first.status_code == 201 and replayed.status_code == 201
    assert replayed.json == first.json
    assert reused.status_code == 422 and reused.json["error"]["code"] == "idempotency_key_reused"
    assert len(holding(api, world)) == 2


def test_cancel_the_rest_counts_and_charges_late_fees(api, make, world, app):
    world["instrument"] = make.instrument(world["lab"], free_cancel_hours=24, late_cancel_fee_bp=2500)
    series = book_series(api, world, at(2, 10), at(2, 12), every="day", count=3).json  # Wed, Thu, Fri
    assert len(series["bookings"]) == 3
    with clock.frozen_at(at(2, 10, 30)):  # the first has started; the second is within 24 h
        preview_fee = 5_000  # 25 % of 20,000
        response = api.as_(world["owner"]).post(f"/api/v1/booking-series/{series['id']}/cancel")
    assert response.status_code == 200, response.json
    assert response.json == {"cancelled": 2, "fee_fen": preview_fee}
    statuses = [api.as_(world["owner"]).get(f"/api/v1/bookings/{b['id']}").json for b in series["bookings"]]
    assert [(b["status"], b["fee_fen"]) for b in statuses] == [
        ("confirmed", 0),
        ("cancelled", 5_000),
        ("cancelled", 0),
    ]
    with clock.frozen_at(at(2, 10, 31)):
        again = api.as_(world["owner"]).post(f"/api/v1/booking-series/{series['id']}/cancel")
    assert again.json == {"cancelled": 0, "fee_fen": 0}
    with app.app_context():
        assert ledger_breaches() == []


def test_cancel_series_releases_every_commitment(api, make, world, app):
    program = make.program(rate_bp=3000)
    make.voucher(world["team"], program, 100_000)
    series = book_series(api, world, at(9, 10), at(9, 11), count=3).json
    with clock.frozen_at(NOW):
        response = api.as_(world["owner"]).post(f"/api/v1/booking-series/{series['id']}/cancel")
    assert response.json == {"cancelled": 3, "fee_fen": 0}
    wallet = api.as_(world["owner"]).get(f"/api/v1/teams/{world['team'].id}/vouchers").json[0]
    assert wallet["committed_fen"] == 0 and wallet["balance_fen"] == 100_000
    with app.app_context():
        assert ledger_breaches() == []


def test_who_sees_and_cancels_a_series(api, world):
    series = book_series(api, world, at(2, 10), at(2, 11), count=2).json
    path = f"/api/v1/booking-series/{series['id']}"
    assert api.as_(world["other"]).get(path).status_code == 404
    assert api.as_(world["other"]).post(path + "/cancel").status_code == 404
    assert api.as_(world["manager"]).get(path).status_code == 200
    assert api.as_(world["manager"]).post(path + "/cancel").status_code == 403
    assert api.as_(world["owner"]).get("/api/v1/booking-series/999999").status_code == 404
