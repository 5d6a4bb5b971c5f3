"""Lab closures and blackouts that hit bookings: the bookings holding time in them are cancelled by
the lab — exactly those, free, vouchers released, each team mailed the reason — and new bookings in
them are refused like any blackout."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from booking.core import clock
from booking.core.db import db
from booking.models import OutboxMessage
from tests.support.rows import add_member
from vouchers.verify import ledger_breaches

CST = timezone(timedelta(hours=8))
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=CST)  # a Tuesday morning in Chongqing


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 12, day, hour, minute, tzinfo=CST)


@pytest.fixture
def world(app, make):
    manager = make.user("lab_manager")
    lab = make.lab(manager=manager)
    other_manager = make.user("lab_manager")
    other_lab = make.lab(manager=other_manager)
    owner = make.user("founder")
    member = make.user("founder")
    team = make.team(owner=owner, verified=True)
    add_member(app, team, member)
    rival = make.user("founder")
    rival_team = make.team(owner=rival, verified=True)
    return {
        "manager": manager,
        "lab": lab,
        "other_manager": other_manager,
        "other_lab": other_lab,
        "owner": owner,
        "member": member,
        "team": team,
        "rival": rival,
        "rival_team": rival_team,
        "admin": make.user("admin"),
        "sem": make.instrument(lab, hourly_rate_fen=10_000),
        "xrd": make.instrument(lab, hourly_rate_fen=10_000, requires_approval=True),
        "elsewhere": make.instrument(other_lab, hourly_rate_fen=10_000),
    }


def book(api, user, team, instrument, starts_at, ends_at, now=NOW):
    body = {
        "team_id": team.id,
        "instrument_id": instrument.id,
        "starts_at": starts_at.isoformat(),
        "ends_at": ends_at.isoformat(),
    }
    with clock.frozen_at(now):
        response = api.as_(user).post("/api/v1/bookings", json=body)
    return response


def close(api, user, lab, starts_at, ends_at, reason="停电检修", now=NOW):
    body = {"starts_at": starts_at.isoformat(), "ends_at": ends_at.isoformat(), "reason": reason}
    with clock.frozen_at(now):
        return api.as_(user).post(f"/api/v1/labs/{lab.id}/closures", json=body)


def status_of(api, world, booking_id):
    return api.as_(world["admin"]).get(f"/api/v1/bookings/{booking_id}").json


def mails(app, kind):
    with app.app_context():
        rows = db.session.scalars(
            select(OutboxMessage).where(OutboxMessage.kind == kind).order_by(OutboxMessage.id)
        ).all()
        return [(m.recipient, m.booking_id, m.subject, m.body) for m in rows]


def test_closure_cancels_exactly_the_bookings_holding_time_in_it(api, app, world):
    w = world
    hit_sem = book(api, w["owner"], w["team"], w["sem"], at(2, 10), at(2, 12)).json
    hit_xrd = book(api, w["rival"], w["rival_team"], w["xrd"], at(2, 13), at(2, 14)).json
    assert hit_xrd["status"] == "pending_approval"
    touching = book(api, w["owner"], w["team"], w["sem"], at(2, 8), at(2, 10)).json  # ends as it starts
    later = book(api, w["owner"], w["team"], w["sem"], at(3, 10), at(3, 11)).json
    other_lab = book(api, w["owner"], w["team"], w["elsewhere"], at(2, 10), at(2, 12)).json

    response = close(api, w["manager"], w["lab"], at(2, 10), at(2, 18), reason="停电检修")
    assert response.status_code == 201, response.json
    closure = response.json
    assert closure["lab_id"] == w["lab"].id and closure["reason"] == "停电检修"
    assert closure["starts_at"] and closure["ends_at"] and closure["id"]
    assert sorted(closure["cancelled_booking_ids"]) == sorted([hit_sem["id"], hit_xrd["id"]])

    for booking in (hit_sem, hit_xrd):
        now = status_of(api, w, booking["id"])
        assert now["status"] == "cancelled" and now["fee_fen"] == 0
    for booking in (touching, later, other_lab):
        assert status_of(api, w, booking["id"])["status"] == booking["status"]

    sent = mails(app, "booking_cancelled_by_lab")
    # every member of each team hears of each of its cancelled bookings, with the reason, in both languages
    assert sorted((to, booking) for to, booking, _, _ in sent) == sorted(
        [
            (w["owner"].email, hit_sem["id"]),
            (w["member"].email, hit_sem["id"]),
            (w["rival"].email, hit_xrd["id"]),
        ]
    )
    for _, _, subject, body in sent:
        assert "实验室关闭" in subject and "lab is closed" in subject
        assert "原因：停电检修" in body and "Reason: 停电检修" in body
        assert "不收取任何费用" in body and "No fee is charged" in body


def test_closure_releases_the_vouchers_and_keeps_the_ledger_whole(api, app, make, world):
    w = world
    program = make.program(rate_bp=3000)
    make.voucher(w["team"], program, 100_000)

    def wallet():
        listed = api.as_(w["owner"]).get(f"/api/v1/teams/{w['team'].id}/vouchers").json
        return [(v["balance_fen"], v["committed_fen"]) for v in listed]

    booking = book(api, w["owner"], w["team"], w["sem"], at(2, 10), at(2, 12)).json
    assert booking["quote"]["subsidies"], booking
    assert wallet() == [(94_000, 6_000)]
    assert close(api, w["manager"], w["lab"], at(2, 0), at(3, 0)).json["cancelled_booking_ids"] == [
        booking["id"]
    ]
    assert wallet() == [(100_000, 0)]
    with app.app_context():
        assert ledger_breaches() == []


def test_a_closure_refuses_new_bookings_like_a_blackout_and_reopens_when_removed(api, make, world):
    w = world
    closure = close(api, w["manager"], w["lab"], at(2, 12), at(2, 14)).json
    with clock.frozen_at(NOW):
        published_since = make.instrument(w["lab"])
    for instrument in (w["sem"], w["xrd"], published_since):
        refused = book(api, w["owner"], w["team"], instrument, at(2, 13), at(2, 15))
        assert refused.status_code == 422 and refused.json["error"]["code"] == "blackout"
    assert book(api, w["owner"], w["team"], w["elsewhere"], at(2, 13), at(2, 15)).status_code == 201
    blackouts = api.as_(w["owner"]).get(f"/api/v1/instruments/{w['sem'].id}/blackouts").json
    assert [b["closure_id"] for b in blackouts] == [closure["id"]]

    listed = api.as_(w["manager"]).get(f"/api/v1/labs/{w['lab'].id}/closures").json
    assert [c["id"] for c in listed["items"]] == [closure["id"]] and listed["next_cursor"] is None
    assert api.as_(w["other_manager"]).get(f"/api/v1/labs/{w['lab'].id}/closures").status_code == 404

    assert api.as_(w["other_manager"]).delete(f"/api/v1/closures/{closure['id']}").status_code == 404
    assert api.as_(w["owner"]).delete(f"/api/v1/closures/{closure['id']}").status_code == 403
    assert api.as_(w["manager"]).delete(f"/api/v1/closures/{closure['id']}").status_code == 204
    assert api.as_(w["manager"]).delete(f"/api/v1/closures/{closure['id']}").status_code == 404
    assert book(api, w["owner"], w["team"], w["sem"], at(2, 13), at(2, 15)).status_code == 201
    assert api.as_(w["owner"]).get(f"/api/v1/instruments/{w['sem'].id}/blackouts").json == []


def test_removing_a_closure_leaves_its_cancellations_cancelled(api, world):
    w = world
    booking = book(api, w["owner"], w["team"], w["sem"], at(2, 10), at(2, 12)).json
    closure = close(api, w["manager"], w["lab"], at(2, 10), at(2, 11)).json
    assert api.as_(w["manager"]).delete(f"/api/v1/closures/{closure['id']}").status_code == 204
    assert status_of(api, w, booking["id"])["status"] == "cancelled"


def test_a_checked_in_booking_in_progress_is_left_alone(api, world):
    w = world
    booking = book(api, w["owner"], w["team"], w["sem"], at(2, 10), at(2, 12)).json
    with clock.frozen_at(at(2, 10, 5)):
        checked = api.as_(w["manager"]).post(f"/api/v1/bookings/{booking['id']}/check-in", json={})
    assert checked.status_code == 200, checked.json
    response = close(api, w["manager"], w["lab"], at(2, 11), at(2, 18), now=at(2, 10, 30))
    assert response.status_code == 201 and response.json["cancelled_booking_ids"] == []
    assert status_of(api, w, booking["id"])["status"] == "checked_in"


@pytest.mark.parametrize(
    ("who", "status"), [("other_manager", 404), ("owner", 403), ("admin", 201), ("manager", 201)]
)
def test_who_may_close_a_lab(api, make, world, who, status):
    user = world[who]
    assert close(api, user, world["lab"], at(2, 10), at(2, 12)).status_code == status


@pytest.mark.parametrize(
    "body",
    [
        {"starts_at": "2026-12-02T12:00:00+08:00", "ends_at": "2026-12-02T10:00:00+08:00", "reason": "x"},
        {"starts_at": "2026-12-02T10:00:00", "ends_at": "2026-12-02T12:00:00+08:00", "reason": "x"},
        {"starts_at": "2026-12-02T10:00:00+08:00", "ends_at": "2026-12-02T12:00:00+08:00"},
        {"starts_at": "2026-12-02T10:00:00+08:00", "ends_at": "2026-12-02T12:00:00+08:00", "reason": ""},
    ],
)
def test_a_bad_closure_is_refused_and_changes_nothing(api, world, body):
    w = world
    booking = book(api, w["owner"], w["team"], w["sem"], at(2, 10), at(2, 12)).json
    with clock.frozen_at(NOW):
        response = api.as_(w["manager"]).post(f"/api/v1/labs/{w['lab'].id}/closures", json=body)
    assert response.status_code == 422, response.json
    assert status_of(api, w, booking["id"])["status"] == "confirmed"
    assert api.as_(w["manager"]).get(f"/api/v1/labs/{w['lab'].id}/closures").json["items"] == []


def test_a_blackout_over_bookings_cancels_them_the_same_way(api, app, world):
    w = world
    hit = book(api, w["owner"], w["team"], w["sem"], at(2, 10), at(2, 12)).json
    beside = book(api, w["rival"], w["rival_team"], w["sem"], at(2, 14), at(2, 15)).json
    same_time_other_instrument = book(api, w["rival"], w["rival_team"], w["xrd"], at(2, 10), at(2, 12)).json
    body = {"starts_at": at(2, 11).isoformat(), "ends_at": at(2, 13).isoformat(), "reason": "更换灯丝"}
    with clock.frozen_at(NOW):
        response = api.as_(w["manager"]).post(f"/api/v1/instruments/{w['sem'].id}/blackouts", json=body)
    assert response.status_code == 201, response.json
    created = response.json
    # the fields a blackout always had are all there, plus the cancellations
    assert created["instrument_id"] == w["sem"].id and created["reason"] == "更换灯丝"
    assert created["starts_at"] and created["ends_at"] and created["id"] and created["closure_id"] is None
    assert created["cancelled_booking_ids"] == [hit["id"]]
    assert status_of(api, w, hit["id"])["status"] == "cancelled"
    assert status_of(api, w, hit["id"])["fee_fen"] == 0
    assert status_of(api, w, beside["id"])["status"] == "confirmed"
    assert status_of(api, w, same_time_other_instrument["id"])["status"] == "pending_approval"
    sent = mails(app, "booking_cancelled_by_lab")
    assert sorted(to for to, *_ in sent) == sorted([w["owner"].email, w["member"].email])
    assert all("更换灯丝" in body for *_, body in sent)
    refused = book(api, w["owner"], w["team"], w["sem"], at(2, 12), at(2, 13))
    assert refused.status_code == 422 and refused.json["error"]["code"] == "blackout"


def test_a_booking_that_has_already_ended_is_left_to_the_no_show_job(api, world):
    w = world
    ended = book(api, w["owner"], w["team"], w["sem"], at(2, 10), at(2, 11)).json
    running = book(api, w["owner"], w["team"], w["sem"], at(2, 11), at(2, 13)).json  # not checked in yet
    response = close(api, w["manager"], w["lab"], at(2, 8), at(2, 18), now=at(2, 12))
    assert response.json["cancelled_booking_ids"] == [running["id"]]
    assert status_of(api, w, ended["id"])["status"] == "confirmed"
