"""Instrument bookings through the API: every validation code and every policy branch."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from booking.core import clock
from booking.core.db import db
from booking.flow.attendance import billed_cost_fen, mark_no_shows

CST = timezone(timedelta(hours=8))
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=CST)  # a Tuesday morning in Chongqing


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 12, day, hour, minute, tzinfo=CST)


@pytest.fixture
def lab_world(make):
    manager = make.user("lab_manager")
    lab = make.lab(manager=manager)
    owner = make.user("founder")
    team = make.team(owner=owner, verified=True)
    return {"manager": manager, "lab": lab, "owner": owner, "team": team}


def book(api, user, team, instrument, starts_at, ends_at, now=NOW, headers=None, **extra):
    body = {
        "team_id": team.id,
        "instrument_id": instrument.id,
        "starts_at": starts_at.isoformat(),
        "ends_at": ends_at.isoformat(),
        **extra,
    }
    with clock.frozen_at(now):
        return api.as_(user).post("/api/v1/bookings", json=body, headers=headers)


def test_booking_is_confirmed_with_its_cost_and_local_times(api, make, lab_world):
    instrument = make.instrument(lab_world["lab"], hourly_rate_fen=12_345)
    response = book(api, lab_world["owner"], lab_world["team"], instrument, at(2, 10), at(2, 11, 30))
    assert response.status_code == 201, response.json
    booking = response.json
    assert booking["status"] == "confirmed"
    assert booking["kind"] == "instrument" and booking["instrument_id"] == instrument.id
    assert booking["starts_at"] == "2026-12-02T10:00:00+08:00"
    assert booking["ends_at"] == "2026-12-02T11:30:00+08:00"
    # 12,345 fen/h × 90 min = 18,517.5 → half up → 18,518
    assert booking["quote"] == {"total_fen": 18_518, "subsidies": [], "team_pays_fen": 18_518}
    assert booking["fee_fen"] == 0
    assert booking["payment"] == {"status": "invoice", "intent_id": None}
    fetched = api.as_(lab_world["manager"]).get(f"/api/v1/bookings/{booking['id']}")
    assert fetched.status_code == 200 and fetched.json == booking


def test_free_instrument_needs_no_payment(api, make, lab_world):
    instrument = make.instrument(lab_world["lab"], hourly_rate_fen=0, operation_mode="public_interest")
    response = book(api, lab_world["owner"], lab_world["team"], instrument, at(2, 10), at(2, 11))
    assert response.status_code == 201
    assert response.json["quote"]["total_fen"] == 0
    assert response.json["payment"]["status"] == "none"


@pytest.mark.parametrize(
    ("starts_at", "ends_at", "code"),
    [
        (at(2, 7, 30), at(2, 8, 30), "outside_opening_hours"),
        (at(2, 17, 30), at(2, 18, 30), "outside_opening_hours"),
        (at(5, 10), at(5, 11), "outside_opening_hours"),  # Saturday: closed
        (at(2, 10, 15), at(2, 11, 15), "off_grid"),
        (at(2, 10), at(2, 10, 45), "off_grid"),
        (at(2, 10, 0), at(2, 10, 0) + timedelta(seconds=1800, microseconds=1), "off_grid"),
        (at(2, 10), at(2, 10, 30), "too_short"),
        (at(2, 8), at(2, 17), "too_long"),
        (at(1, 9, 30), at(1, 10, 30), "inside_lead_time"),
    ],
)
def test_time_rules_refuse_with_their_code(api, make, lab_world, starts_at, ends_at, code):
    instrument = make.instrument(lab_world["lab"], min_minutes=60, max_minutes=240)
    response = book(api, lab_world["owner"], lab_world["team"], instrument, starts_at, ends_at)
    assert response.status_code == 422, response.json
    assert response.json["error"]["code"] == code
    listed = api.as_(lab_world["owner"]).get("/api/v1/bookings").json["items"]
    assert listed == []


def test_beyond_horizon(api, make, lab_world):
    instrument = make.instrument(lab_world["lab"], horizon_days=7)
    inside = book(api, lab_world["owner"], lab_world["team"], instrument, at(7, 10), at(7, 11))
    assert inside.status_code == 201
    beyond = book(api, lab_world["owner"], lab_world["team"], instrument, at(8, 10), at(8, 11))
    assert beyond.status_code == 422 and beyond.json["error"]["code"] == "beyond_horizon"


def test_lead_time_boundary_is_inclusive(api, make, lab_world):
    instrument = make.instrument(lab_world["lab"], lead_minutes=60)
    assert (
        book(api, lab_world["owner"], lab_world["team"], instrument, at(1, 10), at(1, 11)).status_code == 201
    )


def test_blackout_refuses_overlapping_bookings_only(api, make, lab_world):
    instrument = make.instrument(lab_world["lab"])
    make.blackout(instrument, at(2, 12), at(2, 14))
    overlapping = book(api, lab_world["owner"], lab_world["team"], instrument, at(2, 13, 30), at(2, 14, 30))
    assert overlapping.status_code == 422 and overlapping.json["error"]["code"] == "blackout"
    touching = book(api, lab_world["owner"], lab_world["team"], instrument, at(2, 14), at(2, 15))
    assert touching.status_code == 201


def test_unverified_team_cannot_book(api, make, lab_world):
    owner = make.user("founder")
    team = make.team(owner=owner, verified=False)
    instrument = make.instrument(lab_world["lab"])
    response = book(api, owner, team, instrument, at(2, 10), at(2, 11))
    assert response.status_code == 422 and response.json["error"]["code"] == "team_not_verified"


def test_training_gate(api, make, lab_world):
    instrument = make.instrument(lab_world["lab"], requires_training=True)
    refused = book(api, lab_world["owner"], lab_world["team"], instrument, at(2, 10), at(2, 11))
    assert refused.status_code == 422 and refused.json["error"]["code"] == "not_qualified"
    granted = api.as_(lab_world["manager"]).post(
        f"/api/v1/instruments/{instrument.id}/qualifications", json={"user_id": lab_world["owner"].id}
    )
    assert granted.status_code == 204
    assert (
        book(api, lab_world["owner"], lab_world["team"], instrument, at(2, 10), at(2, 11)).status_code == 201
    )
    # qualification is personal: another member of the same team is still refused
    member = make.user("founder")
    api.as_(lab_world["owner"]).post(
        f"/api/v1/teams/{lab_world['team'].id}/members", json={"user_id": member.id}
    )
    other = book(api, member, lab_world["team"], instrument, at(2, 14), at(2, 15))
    assert other.status_code == 422 and other.json["error"]["code"] == "not_qualified"
    revoked = api.as_(lab_world["manager"]).delete(
        f"/api/v1/instruments/{instrument.id}/qualifications/{lab_world['owner'].id}"
    )
    assert revoked.status_code == 204
    again = book(api, lab_world["owner"], lab_world["team"], instrument, at(3, 10), at(3, 11))
    assert again.json["error"]["code"] == "not_qualified"


def test_unknown_or_withdrawn_instrument_is_422(api, make, lab_world):
    missing = book(
        api, lab_world["owner"], lab_world["team"], type("I", (), {"id": 999_999}), at(2, 10), at(2, 11)
    )
    assert missing.status_code == 422 and missing.json["error"]["code"] == "unknown_reference"
    instrument = make.instrument(lab_world["lab"])
    withdrawn = api.as_(lab_world["manager"]).patch(
        f"/api/v1/instruments/{instrument.id}", json={"active": False}
    )
    assert withdrawn.status_code == 200 and withdrawn.json["active"] is False
    refused = book(api, lab_world["owner"], lab_world["team"], instrument, at(2, 10), at(2, 11))
    assert refused.status_code == 422 and refused.json["error"]["code"] == "unknown_reference"


def test_overlap_is_409_slot_taken_and_touching_is_fine(api, make, lab_world):
    instrument = make.instrument(lab_world["lab"])
    other = make.team(verified=True)
    assert (
        book(api, lab_world["owner"], lab_world["team"], instrument, at(2, 10), at(2, 12)).status_code == 201
    )
    for starts_at, ends_at in [(at(2, 10), at(2, 12)), (at(2, 9), at(2, 10, 30)), (at(2, 11, 30), at(2, 13))]:
        clash = book(api, other.owner_id and _owner(make, other), other, instrument, starts_at, ends_at)
        assert clash.status_code == 409 and clash.json["error"]["code"] == "slot_taken"
    assert book(api, _owner(make, other), other, instrument, at(2, 12), at(2, 13)).status_code == 201
    assert book(api, _owner(make, other), other, instrument, at(2, 9), at(2, 10)).status_code == 201


def _owner(make, team):
    from booking.models import User

    with make.app.app_context():
        return db.session.get(User, team.owner_id)


def test_approval_flow(api, make, lab_world):
    instrument = make.instrument(lab_world["lab"], requires_approval=True)
    created = book(api, lab_world["owner"], lab_world["team"], instrument, at(2, 10), at(2, 11))
    assert created.status_code == 201 and created.json["status"] == "pending_approval"
    booking_id = created.json["id"]
    # a pending request already holds the slot
    other = make.team(verified=True)
    assert book(api, _owner(make, other), other, instrument, at(2, 10), at(2, 11)).status_code == 409
    assert api.as_(lab_world["owner"]).post(f"/api/v1/bookings/{booking_id}/approve").status_code == 403
    other_manager = make.user("lab_manager")
    make.lab(manager=other_manager)
    assert api.as_(other_manager).post(f"/api/v1/bookings/{booking_id}/approve").status_code == 404
    approved = api.as_(lab_world["manager"]).post(f"/api/v1/bookings/{booking_id}/approve")
    assert approved.status_code == 200 and approved.json["status"] == "confirmed"
    again = api.as_(lab_world["manager"]).post(f"/api/v1/bookings/{booking_id}/approve")
    assert again.status_code == 409 and again.json["error"]["code"] == "invalid_status"


def test_rejection_frees_the_slot(api, make, lab_world):
    instrument = make.instrument(lab_world["lab"], requires_approval=True)
    created = book(api, lab_world["owner"], lab_world["team"], instrument, at(2, 10), at(2, 11)).json
    rejected = api.as_(lab_world["manager"]).post(
        f"/api/v1/bookings/{created['id']}/reject", json={"reason": "instrument reserved for a course"}
    )
    assert rejected.status_code == 200
    assert (
        rejected.json["status"] == "rejected"
        and rejected.json["reason"] == "instrument reserved for a course"
    )
    assert (
        book(api, lab_world["owner"], lab_world["team"], instrument, at(2, 10), at(2, 11)).status_code == 201
    )


def test_free_cancellation_before_the_deadline(api, make, lab_world):
    instrument = make.instrument(lab_world["lab"], free_cancel_hours=24, late_cancel_fee_bp=5000)
    created = book(api, lab_world["owner"], lab_world["team"], instrument, at(3, 10), at(3, 12)).json
    with clock.frozen_at(at(2, 9, 59)):
        cancelled = api.as_(lab_world["owner"]).post(f"/api/v1/bookings/{created['id']}/cancel")
    assert cancelled.status_code == 200
    assert cancelled.json["status"] == "cancelled" and cancelled.json["fee_fen"] == 0
    # the slot is free again
    assert (
        book(api, lab_world["owner"], lab_world["team"], instrument, at(3, 10), at(3, 12)).status_code == 201
    )


def test_late_cancellation_pays_the_fee(api, make, lab_world):
    instrument = make.instrument(
        lab_world["lab"], hourly_rate_fen=10_001, free_cancel_hours=24, late_cancel_fee_bp=2500
    )
    created = book(api, lab_world["owner"], lab_world["team"], instrument, at(3, 10), at(3, 12)).json
    assert created["quote"]["total_fen"] == 20_002
    with clock.frozen_at(at(2, 10)):
        cancelled = api.as_(lab_world["owner"]).post(f"/api/v1/bookings/{created['id']}/cancel")
    assert cancelled.status_code == 200
    assert cancelled.json["fee_fen"] == 5_001  # 25% of 20,002 = 5,000.5 → half up
    again = api.as_(lab_world["owner"]).post(f"/api/v1/bookings/{created['id']}/cancel")
    assert again.status_code == 409


def test_lab_cancelling_charges_no_fee(api, make, lab_world):
    instrument = make.instrument(lab_world["lab"], late_cancel_fee_bp=10000)
    created = book(api, lab_world["owner"], lab_world["team"], instrument, at(2, 10), at(2, 12)).json
    with clock.frozen_at(at(2, 9, 30)):
        cancelled = api.as_(lab_world["manager"]).post(
            f"/api/v1/bookings/{created['id']}/cancel", json={"reason": "power outage"}
        )
    assert cancelled.status_code == 200 and cancelled.json["fee_fen"] == 0


def test_no_show_after_grace_frees_the_slot_and_charges_the_fee(api, make, lab_world, app):
    instrument = make.instrument(lab_world["lab"], no_show_grace_minutes=15, no_show_fee_bp=5000)
    created = book(api, lab_world["owner"], lab_world["team"], instrument, at(2, 10), at(2, 12)).json
    with app.app_context():
        assert mark_no_shows(at(2, 10, 14)) == 0
        db.session.commit()
    assert api.as_(lab_world["owner"]).get(f"/api/v1/bookings/{created['id']}").json["status"] == "confirmed"
    with app.app_context():
        assert mark_no_shows(at(2, 10, 15)) == 1
        db.session.commit()
    no_show = api.as_(lab_world["owner"]).get(f"/api/v1/bookings/{created['id']}").json
    assert no_show["status"] == "no_show" and no_show["fee_fen"] == 10_000
    with app.app_context():
        assert mark_no_shows(at(2, 11)) == 0  # never marked twice
    # the rest of the slot is bookable again (lead time 60 min from 10:15 → from 11:30)
    later = book(
        api, lab_world["owner"], lab_world["team"], instrument, at(2, 11, 30), at(2, 12), now=at(2, 10, 20)
    )
    assert later.status_code == 201


def test_check_in_prevents_no_show_and_billing_takes_the_longer_time(api, make, lab_world, app):
    from booking.models import Booking

    instrument = make.instrument(lab_world["lab"], hourly_rate_fen=6_000)
    early = book(api, lab_world["owner"], lab_world["team"], instrument, at(2, 10), at(2, 12)).json
    late = book(api, lab_world["owner"], lab_world["team"], instrument, at(3, 10), at(3, 12)).json
    manager = api.as_(lab_world["manager"])
    checked_in = manager.post(
        f"/api/v1/bookings/{early['id']}/check-in", json={"at": at(2, 10, 5).isoformat()}
    )
    assert checked_in.status_code == 200 and checked_in.json["status"] == "checked_in"
    with app.app_context():
        assert mark_no_shows(at(2, 11)) == 0
    out = manager.post(f"/api/v1/bookings/{early['id']}/check-out", json={"at": at(2, 11).isoformat()})
    assert out.status_code == 200 and out.json["status"] == "completed"
    assert out.json["actual_starts_at"] == "2026-12-02T10:05:00+08:00"
    manager.post(f"/api/v1/bookings/{late['id']}/check-in", json={"at": at(3, 9, 50).isoformat()})
    manager.post(f"/api/v1/bookings/{late['id']}/check-out", json={"at": at(3, 12, 40).isoformat()})
    with app.app_context():
        short = db.session.get(Booking, early["id"])
        long = db.session.get(Booking, late["id"])
        assert short.billed_duration == timedelta(hours=2)  # booked 2 h, used 55 min
        assert billed_cost_fen(short) == 12_000
        assert long.billed_duration == timedelta(hours=2, minutes=50)  # overran
        assert billed_cost_fen(long) == 17_000


def test_check_in_and_out_rules(api, make, lab_world):
    instrument = make.instrument(lab_world["lab"])
    created = book(api, lab_world["owner"], lab_world["team"], instrument, at(2, 10), at(2, 11)).json
    manager = api.as_(lab_world["manager"])
    assert api.as_(lab_world["owner"]).post(f"/api/v1/bookings/{created['id']}/check-in").status_code == 403
    assert manager.post(f"/api/v1/bookings/{created['id']}/check-out").status_code == 409
    after_end = manager.post(f"/api/v1/bookings/{created['id']}/check-in", json={"at": at(2, 11).isoformat()})
    assert after_end.status_code == 422
    manager.post(f"/api/v1/bookings/{created['id']}/check-in", json={"at": at(2, 10).isoformat()})
    before_in = manager.post(f"/api/v1/bookings/{created['id']}/check-out", json={"at": at(2, 9).isoformat()})
    assert before_in.status_code == 422


def test_idempotency_key_replays_and_refuses_reuse(api, make, lab_world):
    instrument = make.instrument(lab_world["lab"])
    args = (api, lab_world["owner"], lab_world["team"], instrument, at(2, 10), at(2, 11))
    first = book(*args, headers={"Idempotency-Key": "k-1"})
    again = book(*args, headers={"Idempotency-Key": "k-1"})
    assert first.status_code == again.status_code == 201
    assert again.json == first.json
    reused = book(
        api,
        lab_world["owner"],
        lab_world["team"],
        instrument,
        at(2, 14),
        at(2, 15),
        headers={"Idempotency-Key": "k-1"},
    )
    assert reused.status_code == 422 and reused.json["error"]["code"] == "idempotency_key_reused"
    assert len(api.as_(lab_world["owner"]).get("/api/v1/bookings").json["items"]) == 1


def test_booking_visibility(api, make, lab_world):
    instrument = make.instrument(lab_world["lab"])
    created = book(api, lab_world["owner"], lab_world["team"], instrument, at(2, 10), at(2, 11)).json
    path = f"/api/v1/bookings/{created['id']}"
    assert api.as_(make.user("founder")).get(path).status_code == 404
    other_manager = make.user("lab_manager")
    make.lab(manager=other_manager)
    assert api.as_(other_manager).get(path).status_code == 404
    assert api.as_(make.finance("500106")).get(path).status_code == 200
    assert api.as_(make.finance("500103")).get(path).status_code == 404
    assert api.as_(make.finance(None)).get(path).status_code == 200
    assert api.as_(make.user("provider")).get(path).status_code == 404
    # another team's founder cannot book for this team either
    stranger = make.user("founder")
    assert book(api, stranger, lab_world["team"], instrument, at(2, 14), at(2, 15)).status_code == 404


def test_list_filters(api, make, lab_world):
    instrument = make.instrument(lab_world["lab"])
    second = make.instrument(lab_world["lab"])
    a = book(api, lab_world["owner"], lab_world["team"], instrument, at(2, 10), at(2, 11)).json
    b = book(api, lab_world["owner"], lab_world["team"], second, at(3, 10), at(3, 11)).json
    owner = api.as_(lab_world["owner"])
    assert [x["id"] for x in owner.get(f"/api/v1/bookings?instrument_id={second.id}").json["items"]] == [
        b["id"]
    ]
    window = owner.get(
        "/api/v1/bookings", query_string={"from": at(2, 0).isoformat(), "to": at(3, 0).isoformat()}
    )
    assert [x["id"] for x in window.json["items"]] == [a["id"]]
    assert owner.get("/api/v1/bookings?status=cancelled").json["items"] == []
    assert owner.get("/api/v1/bookings?status=bogus").status_code == 422


@pytest.mark.parametrize(
    "body",
    [
        {},
        {
            "team_id": "1",
            "instrument_id": 1,
            "starts_at": "2026-12-02T10:00:00+08:00",
            "ends_at": "2026-12-02T11:00:00+08:00",
        },
        {
            "team_id": 1,
            "instrument_id": 1,
            "starts_at": "2026-12-02T10:00:00",
            "ends_at": "2026-12-02T11:00:00+08:00",
        },
        {
            "team_id": 1,
            "instrument_id": 1,
            "starts_at": "2026-12-02T11:00:00+08:00",
            "ends_at": "2026-12-02T10:00:00+08:00",
        },
        {"team_id": 1, "starts_at": "2026-12-02T10:00:00+08:00", "ends_at": "2026-12-02T11:00:00+08:00"},
        {
            "team_id": 1,
            "instrument_id": 1,
            "offer_id": 1,
            "gpus": 1,
            "starts_at": "2026-12-02T10:00:00+08:00",
            "ends_at": "2026-12-02T11:00:00+08:00",
        },
        {"team_id": 1, "instrument_id": 1, "starts_at": "tomorrow", "ends_at": "2026-12-02T11:00:00+08:00"},
        {
            "team_id": 1,
            "instrument_id": 1,
            "use_vouchers": "yes",
            "starts_at": "2026-12-02T10:00:00+08:00",
            "ends_at": "2026-12-02T11:00:00+08:00",
        },
    ],
)
def test_malformed_booking_requests_are_422(api, make, body):
    response = api.as_(make.user("founder")).post("/api/v1/bookings", json=body)
    assert response.status_code == 422
    assert response.json["error"]["details"]


def test_dst_zone_instrument_uses_local_wall_clock(api, make, lab_world):
    """New York: opening 09:00–17:00 local on the Monday after the March DST change."""
    instrument = make.instrument(
        lab_world["lab"], timezone="America/New_York", hours=[(0, 9 * 60, 17 * 60)], horizon_days=400
    )
    eastern = timezone(timedelta(hours=-4))  # EDT after 2027-03-14
    now = datetime(2027, 3, 10, 12, tzinfo=UTC)
    ok = book(
        api,
        lab_world["owner"],
        lab_world["team"],
        instrument,
        datetime(2027, 3, 15, 9, tzinfo=eastern),
        datetime(2027, 3, 15, 10, tzinfo=eastern),
        now=now,
    )
    assert ok.status_code == 201, ok.json
    assert ok.json["starts_at"] == "2027-03-15T09:00:00-04:00"
    # 08:00 EDT is 07:00 EST-equivalent: outside the (wall-clock) opening hours
    early = book(
        api,
        lab_world["owner"],
        lab_world["team"],
        instrument,
        datetime(2027, 3, 15, 8, tzinfo=eastern),
        datetime(2027, 3, 15, 9, tzinfo=eastern),
        now=now,
    )
    assert early.json["error"]["code"] == "outside_opening_hours"


def test_no_show_job_runs_from_the_cli_as_of_an_instant(api, make, lab_world, app):
    instrument = make.instrument(lab_world["lab"], no_show_grace_minutes=15)
    created = book(api, lab_world["owner"], lab_world["team"], instrument, at(2, 10), at(2, 11)).json
    runner = app.test_cli_runner()
    early = runner.invoke(args=["jobs", "run", "no_shows", "--now", "2026-12-02T10:10:00+08:00"])
    assert early.exit_code == 0 and "no_shows: 0" in early.output
    late = runner.invoke(args=["jobs", "run", "no_shows", "--now", "2026-12-02T10:20:00+08:00"])
    assert late.exit_code == 0 and "no_shows: 1" in late.output
    assert api.as_(lab_world["owner"]).get(f"/api/v1/bookings/{created['id']}").json["status"] == "no_show"
    naive = runner.invoke(args=["jobs", "run", "no_shows", "--now", "2026-12-02T10:20:00"])
    assert naive.exit_code != 0


def _book_through_deadlocks(api, make, lab_world, app, deadlocks: int):
    """Book an hour while the next ``deadlocks`` INSERTs into bookings fail as PostgreSQL fails a
    deadlock's victim; returns the response and the team's bookings afterwards."""
    import sqlalchemy as sa

    class Deadlocked(Exception):
        sqlstate = "40P01"

    left = {"n": deadlocks}

    def before(conn, cursor, statement, parameters, context, executemany):
        if statement.startswith("INSERT INTO bookings") and left["n"] > 0:
            left["n"] -= 1
            raise sa.exc.OperationalError(statement, parameters, Deadlocked("deadlock detected"))

    instrument = make.instrument(lab_world["lab"])
    with app.app_context():
        engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", before)
    try:
        response = book(api, lab_world["owner"], lab_world["team"], instrument, at(2, 10), at(2, 11))
    finally:
        sa.event.remove(engine, "before_cursor_execute", before)
    listed = api.as_(lab_world["owner"]).get(f"/api/v1/bookings?team_id={lab_world['team'].id}").json
    return response, [b["id"] for b in listed["items"]]


def test_a_deadlocked_insert_is_tried_again(api, make, lab_world, app):
    """Two requests inserting overlapping time at once wait for each other's exclusion check and
    PostgreSQL fails one: only its SAVEPOINT is lost, and inserting again settles who holds it."""
    response, held = _book_through_deadlocks(api, make, lab_world, app, deadlocks=1)
    assert response.status_code == 201, response.json
    assert held == [response.json["id"]]


def test_a_booking_that_keeps_deadlocking_is_refused_and_nothing_is_held(api, make, lab_world, app):
    response, held = _book_through_deadlocks(api, make, lab_world, app, deadlocks=3)
    assert response.status_code == 409, response.json
    assert response.json["error"]["code"] == "slot_taken"
    assert held == []
