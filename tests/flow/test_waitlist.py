"""The waitlist: a team waits for a taken range; when the whole range becomes bookable again (cancel,
reject, no-show, a closure's cancellations) its members are mailed once, oldest entry first, and the
entry becomes ``notified``. Nothing is booked by itself."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from booking.core import clock
from booking.core.db import db
from booking.flow.attendance import mark_no_shows
from booking.models import OutboxMessage
from tests.support.rows import add_member

CST = timezone(timedelta(hours=8))
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=CST)  # a Tuesday morning in Chongqing


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 12, day, hour, minute, tzinfo=CST)


@pytest.fixture
def world(app, make):
    manager = make.user("lab_manager")
    lab = make.lab(manager=manager)
    holder = make.user("founder")
    holding_team = make.team(owner=holder, verified=True)
    owner = make.user("founder")
    member = make.user("founder")
    team = make.team(owner=owner, verified=True)
    add_member(app, team, member)
    late = make.user("founder")
    late_team = make.team(owner=late, verified=True)
    return {
        "manager": manager,
        "lab": lab,
        "holder": holder,
        "holding_team": holding_team,
        "owner": owner,
        "member": member,
        "team": team,
        "late": late,
        "late_team": late_team,
        "stranger": make.user("founder"),
        "sem": make.instrument(lab),
        "approved_sem": make.instrument(lab, requires_approval=True),
    }


def book(api, world, instrument, starts_at, ends_at, now=NOW):
    body = {
        "team_id": world["holding_team"].id,
        "instrument_id": instrument.id,
        "starts_at": starts_at.isoformat(),
        "ends_at": ends_at.isoformat(),
    }
    with clock.frozen_at(now):
        response = api.as_(world["holder"]).post("/api/v1/bookings", json=body)
    assert response.status_code == 201, response.json
    return response.json


def wait(api, user, team, instrument, starts_at, ends_at, now=NOW):
    body = {"team_id": team.id, "starts_at": starts_at.isoformat(), "ends_at": ends_at.isoformat()}
    with clock.frozen_at(now):
        return api.as_(user).post(f"/api/v1/instruments/{instrument.id}/waitlist", json=body)


def cancel(api, world, booking, now=NOW):
    with clock.frozen_at(now):
        response = api.as_(world["holder"]).post(f"/api/v1/bookings/{booking['id']}/cancel", json={})
    assert response.status_code == 200, response.json


def freed_mails(app):
    with app.app_context():
        rows = db.session.scalars(
            select(OutboxMessage).where(OutboxMessage.kind == "waitlist_freed").order_by(OutboxMessage.id)
        ).all()
        return [(m.recipient, m.body) for m in rows]


def entries(api, user, instrument):
    return api.as_(user).get(f"/api/v1/instruments/{instrument.id}/waitlist").json["items"]


def test_joining_answers_waiting_and_lists_only_the_callers_teams(api, world):
    w = world
    book(api, w, w["sem"], at(2, 10), at(2, 12))
    response = wait(api, w["owner"], w["team"], w["sem"], at(2, 10), at(2, 12))
    assert response.status_code == 201, response.json
    entry = response.json
    assert entry["status"] == "waiting" and entry["id"]
    listed = entries(api, w["member"], w["sem"])
    assert [(e["id"], e["team_id"], e["status"]) for e in listed] == [(entry["id"], w["team"].id, "waiting")]
    assert datetime.fromisoformat(listed[0]["starts_at"]) == at(2, 10)
    assert datetime.fromisoformat(listed[0]["ends_at"]) == at(2, 12)
    assert entries(api, w["stranger"], w["sem"]) == []
    assert entries(api, w["manager"], w["sem"]) == []
    again = wait(api, w["owner"], w["team"], w["sem"], at(2, 10), at(2, 12))
    assert again.status_code == 409 and again.json["error"]["code"] == "already_waiting"


def test_strangers_get_404_and_members_remove_with_204(api, make, world):
    w = world
    assert wait(api, w["stranger"], w["team"], w["sem"], at(2, 10), at(2, 12)).status_code == 404
    admin = make.user("admin")
    assert wait(api, admin, w["team"], w["sem"], at(2, 10), at(2, 12)).status_code == 403
    entry = wait(api, w["owner"], w["team"], w["sem"], at(2, 10), at(2, 12)).json
    assert api.as_(w["stranger"]).delete(f"/api/v1/waitlist/{entry['id']}").status_code == 404
    assert api.as_(w["manager"]).delete(f"/api/v1/waitlist/{entry['id']}").status_code == 404
    assert api.as_(w["member"]).delete(f"/api/v1/waitlist/{entry['id']}").status_code == 204
    assert api.as_(w["member"]).delete(f"/api/v1/waitlist/{entry['id']}").status_code == 404
    assert entries(api, w["owner"], w["sem"]) == []


@pytest.mark.parametrize(
    ("starts_at", "ends_at", "code"),
    [
        (at(2, 10, 15), at(2, 11, 15), "off_grid"),
        (at(5, 10), at(5, 11), "outside_opening_hours"),
        (at(1, 9, 30), at(1, 10, 30), "inside_lead_time"),
    ],
)
def test_the_range_follows_a_bookings_time_rules(api, world, starts_at, ends_at, code):
    response = wait(api, world["owner"], world["team"], world["sem"], starts_at, ends_at)
    assert response.status_code == 422 and response.json["error"]["code"] == code
    assert entries(api, world["owner"], world["sem"]) == []


def test_a_cancel_that_frees_the_whole_range_mails_the_team_once(api, app, world):
    w = world
    held = book(api, w, w["sem"], at(2, 10), at(2, 12))
    entry = wait(api, w["owner"], w["team"], w["sem"], at(2, 10), at(2, 11)).json
    cancel(api, w, held)
    sent = freed_mails(app)
    assert sorted(to for to, _ in sent) == sorted([w["owner"].email, w["member"].email])
    body = sent[0][1]
    assert f"/instruments/{w['sem'].id}?" in body and f"team_id={w['team'].id}" in body
    assert "date=2026-12-02" in body and "start=10:00" in body and "end=11:00" in body
    assert "不会自动为您预约" in body and "Nothing was booked for you" in body
    [listed] = entries(api, w["owner"], w["sem"])
    assert (listed["id"], listed["status"]) == (entry["id"], "notified")
    # nothing was booked: the time is free for anyone
    assert book(api, w, w["sem"], at(2, 10), at(2, 12))
    # freed again later: a notified entry is not mailed twice
    cancel(api, w, api.as_(w["holder"]).get("/api/v1/bookings?status=confirmed").json["items"][0])
    assert len(freed_mails(app)) == 2


def test_only_part_of_the_range_freed_mails_nobody(api, app, world):
    w = world
    first = book(api, w, w["sem"], at(2, 10), at(2, 11))
    second = book(api, w, w["sem"], at(2, 11), at(2, 12))
    wait(api, w["owner"], w["team"], w["sem"], at(2, 10), at(2, 12))
    cancel(api, w, first)
    assert freed_mails(app) == []
    assert entries(api, w["owner"], w["sem"])[0]["status"] == "waiting"
    cancel(api, w, second)
    assert len(freed_mails(app)) == 2
    assert entries(api, w["owner"], w["sem"])[0]["status"] == "notified"


def test_a_range_in_a_blackout_is_not_bookable_so_not_mailed(api, app, make, world):
    w = world
    held = book(api, w, w["sem"], at(2, 10), at(2, 12))
    wait(api, w["owner"], w["team"], w["sem"], at(2, 10), at(2, 12))
    make.blackout(w["sem"], at(2, 11), at(2, 13))  # the factory's blackout does not cancel bookings
    cancel(api, w, held)
    assert freed_mails(app) == []


def test_oldest_entry_is_mailed_first(api, app, world):
    w = world
    held = book(api, w, w["sem"], at(2, 10), at(2, 12))
    with clock.frozen_at(NOW):
        wait(api, w["late"], w["late_team"], w["sem"], at(2, 11), at(2, 12))
    wait(api, w["owner"], w["team"], w["sem"], at(2, 10), at(2, 12), now=NOW - timedelta(hours=1))
    cancel(api, w, held)
    order = [to for to, _ in freed_mails(app)]
    assert order[-1] == w["late"].email
    assert sorted(order[:2]) == sorted([w["owner"].email, w["member"].email])


def test_other_instruments_entries_are_not_touched(api, app, make, world):
    w = world
    held = book(api, w, w["sem"], at(2, 10), at(2, 12))
    other = make.instrument(w["lab"])
    wait(api, w["owner"], w["team"], other, at(2, 10), at(2, 12))
    cancel(api, w, held)
    assert freed_mails(app) == []


def test_reject_and_no_show_free_time_too(api, app, world, monkeypatch):
    w = world
    request = book(api, w, w["approved_sem"], at(2, 10), at(2, 12))
    wait(api, w["owner"], w["team"], w["approved_sem"], at(2, 10), at(2, 12))
    with clock.frozen_at(NOW):
        rejected = api.as_(w["manager"]).post(f"/api/v1/bookings/{request['id']}/reject", json={})
    assert rejected.status_code == 200
    assert len(freed_mails(app)) == 2

    book(api, w, w["sem"], at(2, 10), at(2, 16))
    # the rest of a no-show's slot frees: an entry later that afternoon (lead time: an hour) is mailed
    wait(api, w["late"], w["late_team"], w["sem"], at(2, 14), at(2, 15))
    monkeypatch.setitem(app.config, "PUBLIC_BASE_URL", "https://lab.example.cn")
    with app.app_context(), clock.frozen_at(at(2, 10, 30)):
        assert mark_no_shows(at(2, 10, 30)) == 1
        db.session.commit()
    [(to, body)] = freed_mails(app)[2:]
    assert to == w["late"].email
    # a job has no request: the link takes the site's address from PUBLIC_BASE_URL
    assert f"https://lab.example.cn/instruments/{w['sem'].id}?team_id={w['late_team'].id}" in body


def test_a_closure_frees_what_lies_outside_it(api, app, world):
    w = world
    held = book(api, w, w["sem"], at(2, 10), at(2, 14))
    wait(api, w["owner"], w["team"], w["sem"], at(2, 13), at(2, 14))  # outside the closure
    wait(api, w["late"], w["late_team"], w["sem"], at(2, 10), at(2, 11))  # inside it
    body = {"starts_at": at(2, 9).isoformat(), "ends_at": at(2, 12).isoformat(), "reason": "检修"}
    with clock.frozen_at(NOW):
        closed = api.as_(w["manager"]).post(f"/api/v1/labs/{w['lab'].id}/closures", json=body)
    assert closed.json["cancelled_booking_ids"] == [held["id"]]
    assert sorted(to for to, _ in freed_mails(app)) == sorted([w["owner"].email, w["member"].email])


def test_reopening_a_closed_lab_offers_the_time_to_the_waitlist(api, app, world):
    w = world
    body = {"starts_at": at(2, 9).isoformat(), "ends_at": at(2, 12).isoformat(), "reason": "检修"}
    with clock.frozen_at(NOW):
        closure = api.as_(w["manager"]).post(f"/api/v1/labs/{w['lab'].id}/closures", json=body).json
    wait(api, w["owner"], w["team"], w["sem"], at(2, 10), at(2, 11))
    assert freed_mails(app) == []
    with clock.frozen_at(NOW):
        assert api.as_(w["manager"]).delete(f"/api/v1/closures/{closure['id']}").status_code == 204
    assert sorted(to for to, _ in freed_mails(app)) == sorted([w["owner"].email, w["member"].email])


def test_removing_an_instrument_blackout_offers_its_time_to_the_waitlist(api, app, world):
    w = world
    body = {"starts_at": at(2, 9).isoformat(), "ends_at": at(2, 12).isoformat(), "reason": "保养"}
    with clock.frozen_at(NOW):
        blackout = api.as_(w["manager"]).post(f"/api/v1/instruments/{w['sem'].id}/blackouts", json=body)
    assert blackout.status_code == 201, blackout.json
    wait(api, w["owner"], w["team"], w["sem"], at(2, 10), at(2, 11))
    assert freed_mails(app) == []
    with clock.frozen_at(NOW):
        removed = api.as_(w["manager"]).delete(
            f"/api/v1/instruments/{w['sem'].id}/blackouts/{blackout.json['id']}"
        )
    assert removed.status_code == 204
    assert sorted(to for to, _ in freed_mails(app)) == sorted([w["owner"].email, w["member"].email])
    with clock.frozen_at(NOW):  # removing it again: 404, and nobody is mailed twice
        again = api.as_(w["manager"]).delete(
            f"/api/v1/instruments/{w['sem'].id}/blackouts/{blackout.json['id']}"
        )
    assert again.status_code == 404
    assert len(freed_mails(app)) == 2
