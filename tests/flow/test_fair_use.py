"""Fair use through the API: the instrument fields, both quotas with their boundaries, the no-show
suspension, and self check-in with its window."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from booking.core import clock
from booking.core.db import db, write_intent
from booking.flow.attendance import mark_no_shows
from tests.support.factories import INSTRUMENT_DEFAULTS

CST = timezone(timedelta(hours=8))
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=CST)  # a Tuesday morning in Chongqing
ALWAYS_OPEN = tuple((day, 0, 1440) for day in range(7))


def at(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=CST)


def dec(day: int, hour: int, minute: int = 0) -> datetime:
    return at(12, day, hour, minute)


@pytest.fixture
def world(make):
    manager = make.user("lab_manager")
    lab = make.lab(manager=manager)
    owner = make.user("founder")
    team = make.team(owner=owner, verified=True)
    return {"manager": manager, "lab": lab, "owner": owner, "team": team}


def book(api, user, team, instrument, starts_at, ends_at, now=NOW):
    body = {
        "team_id": team.id,
        "instrument_id": instrument.id,
        "starts_at": starts_at.isoformat(),
        "ends_at": ends_at.isoformat(),
    }
    with clock.frozen_at(now):
        return api.as_(user).post("/api/v1/bookings", json=body)


def refused_with(response, code: str) -> dict:
    assert response.status_code == 422, response.json
    assert response.json["error"]["code"] == code, response.json
    return response.json["error"]["details"]


# --- the fields -------------------------------------------------------------------------------------------


FIELDS = {
    "max_future_bookings_per_team": 3,
    "max_hours_per_team_per_week": 10,
    "no_show_limit": 2,
    "self_check_in": True,
}


def test_fields_are_accepted_at_creation_and_by_patch_and_returned(api, world):
    manager = api.as_(world["manager"])
    body = {**INSTRUMENT_DEFAULTS, "name": "Confocal"}
    plain = manager.post(f"/api/v1/labs/{world['lab'].id}/instruments", json=body)
    assert plain.status_code == 201
    assert {k: plain.json[k] for k in FIELDS} == {
        "max_future_bookings_per_team": None,
        "max_hours_per_team_per_week": None,
        "no_show_limit": None,
        "self_check_in": False,
    }
    created = manager.post(f"/api/v1/labs/{world['lab'].id}/instruments", json={**body, **FIELDS})
    assert created.status_code == 201 and {k: created.json[k] for k in FIELDS} == FIELDS
    path = f"/api/v1/instruments/{created.json['id']}"
    changed = manager.patch(path, json={"max_hours_per_team_per_week": 4, "self_check_in": False})
    assert changed.status_code == 200
    assert changed.json["max_hours_per_team_per_week"] == 4 and changed.json["self_check_in"] is False
    assert changed.json["max_future_bookings_per_team"] == 3  # untouched
    cleared = manager.patch(path, json={"max_future_bookings_per_team": None, "no_show_limit": None})
    assert cleared.json["max_future_bookings_per_team"] is None and cleared.json["no_show_limit"] is None


@pytest.mark.parametrize(
    ("field", "bad"),
    [
        ("max_future_bookings_per_team", 0),
        ("max_future_bookings_per_team", -1),
        ("max_future_bookings_per_team", "2"),
        ("max_hours_per_team_per_week", 0),
        ("max_hours_per_team_per_week", 1.5),
        ("max_hours_per_team_per_week", 169),
        ("no_show_limit", 0),
        ("no_show_limit", True),
        ("self_check_in", "yes"),
        ("self_check_in", None),
    ],
)
def test_bad_values_are_refused_in_the_api_shape(api, make, world, field, bad):
    instrument = make.instrument(world["lab"])
    path = f"/api/v1/instruments/{instrument.id}"
    refused = api.as_(world["manager"]).patch(path, json={field: bad})
    assert refused.status_code == 422
    assert field in refused.json["error"]["details"]
    body = {**INSTRUMENT_DEFAULTS, "name": "X", field: bad}
    created = api.as_(world["manager"]).post(f"/api/v1/labs/{world['lab'].id}/instruments", json=body)
    assert created.status_code == 422 and field in created.json["error"]["details"]


# --- max_future_bookings_per_team --------------------------------------------------------------------------


def test_future_bookings_exactly_at_the_limit_then_one_more_refused(api, make, world):
    instrument = make.instrument(world["lab"], max_future_bookings_per_team=2)
    owner, team = world["owner"], world["team"]
    assert book(api, owner, team, instrument, dec(2, 10), dec(2, 11)).status_code == 201
    assert book(api, owner, team, instrument, dec(3, 10), dec(3, 11)).status_code == 201
    details = refused_with(book(api, owner, team, instrument, dec(4, 10), dec(4, 11)), "quota_exceeded")
    assert details == {"limit": "max_future_bookings_per_team", "maximum": 2, "current": 2}
    # another team, and this team on another instrument, are not held back
    other_owner = make.user("founder")
    other_team = make.team(owner=other_owner, verified=True)
    assert book(api, other_owner, other_team, instrument, dec(4, 10), dec(4, 11)).status_code == 201
    elsewhere = make.instrument(world["lab"], max_future_bookings_per_team=2)
    assert book(api, owner, team, elsewhere, dec(4, 10), dec(4, 11)).status_code == 201


def test_cancelled_and_started_bookings_do_not_count(api, make, world):
    instrument = make.instrument(world["lab"], max_future_bookings_per_team=2)
    owner, team = world["owner"], world["team"]
    first = book(api, owner, team, instrument, dec(2, 10), dec(2, 11)).json
    second = book(api, owner, team, instrument, dec(3, 10), dec(3, 11)).json
    refused_with(book(api, owner, team, instrument, dec(4, 10), dec(4, 11)), "quota_exceeded")
    with clock.frozen_at(NOW):
        assert api.as_(owner).post(f"/api/v1/bookings/{second['id']}/cancel", json={}).status_code == 200
    assert book(api, owner, team, instrument, dec(4, 10), dec(4, 11)).status_code == 201
    refused_with(book(api, owner, team, instrument, dec(7, 10), dec(7, 11)), "quota_exceeded")
    # once the first booking has started it no longer counts as a future one
    started = dec(2, 10, 30)
    assert first["starts_at"] < started.isoformat()
    assert book(api, owner, team, instrument, dec(7, 10), dec(7, 11), now=started).status_code == 201


def test_pending_approval_counts(api, make, world):
    instrument = make.instrument(world["lab"], max_future_bookings_per_team=1, requires_approval=True)
    owner, team = world["owner"], world["team"]
    pending = book(api, owner, team, instrument, dec(2, 10), dec(2, 11))
    assert pending.json["status"] == "pending_approval"
    refused_with(book(api, owner, team, instrument, dec(3, 10), dec(3, 11)), "quota_exceeded")


# --- max_hours_per_team_per_week ----------------------------------------------------------------------------


def hours_instrument(make, world, limit: int):
    return make.instrument(
        world["lab"],
        hours=ALWAYS_OPEN,
        lead_minutes=0,
        max_minutes=600,
        max_hours_per_team_per_week=limit,
    )


def test_weekly_hours_exactly_at_the_limit_then_one_more_refused(api, make, world):
    instrument = hours_instrument(make, world, 3)
    owner, team = world["owner"], world["team"]
    assert book(api, owner, team, instrument, dec(2, 10), dec(2, 12)).status_code == 201  # Wednesday
    assert book(api, owner, team, instrument, dec(6, 22), dec(6, 23)).status_code == 201  # Sunday: 3 h
    details = refused_with(book(api, owner, team, instrument, dec(3, 10), dec(3, 10, 30)), "quota_exceeded")
    assert details == {
        "limit": "max_hours_per_team_per_week",
        "maximum": 3,
        "current": 3.0,
        "requested": 0.5,
        "week_of": "2026-11-30",
    }
    # Monday 00:00 local time starts a new week (16:00 UTC on Sunday)
    assert book(api, owner, team, instrument, dec(7, 0), dec(7, 3)).status_code == 201
    refused_with(book(api, owner, team, instrument, dec(6, 23), dec(7, 0)), "quota_exceeded")


def test_a_booking_across_midnight_on_sunday_counts_in_both_weeks(api, make, world):
    instrument = hours_instrument(make, world, 4)
    owner, team = world["owner"], world["team"]
    assert book(api, owner, team, instrument, dec(7, 1), dec(7, 4, 30)).status_code == 201  # 3.5 h next week
    # Sunday 23:00 – Monday 01:00: 1 h this week, 1 h next week (3.5 + 1 > 4)
    details = refused_with(book(api, owner, team, instrument, dec(6, 23), dec(7, 1)), "quota_exceeded")
    assert details["week_of"] == "2026-12-07" and details["requested"] == 1.0
    # Sunday 23:30 – Monday 00:30: half an hour in each (3.5 + 0.5 = 4: exactly the limit)
    assert book(api, owner, team, instrument, dec(6, 23, 30), dec(7, 0, 30)).status_code == 201
    refused_with(book(api, owner, team, instrument, dec(8, 10), dec(8, 10, 30)), "quota_exceeded")
    assert book(api, owner, team, instrument, dec(6, 10), dec(6, 13, 30)).status_code == 201  # 0.5 + 3.5


def test_weekly_hours_count_completed_but_not_cancelled_bookings(api, make, world):
    instrument = hours_instrument(make, world, 3)
    owner, team, manager = world["owner"], world["team"], api.as_(world["manager"])
    done = book(api, owner, team, instrument, dec(1, 10), dec(1, 12)).json
    with clock.frozen_at(dec(1, 12)):
        manager.post(f"/api/v1/bookings/{done['id']}/check-in", json={"at": dec(1, 10).isoformat()})
        out = manager.post(f"/api/v1/bookings/{done['id']}/check-out", json={"at": dec(1, 12).isoformat()})
    assert out.json["status"] == "completed"
    later = dec(1, 13)
    refused_with(book(api, owner, team, instrument, dec(3, 10), dec(3, 12), now=later), "quota_exceeded")
    one = book(api, owner, team, instrument, dec(3, 10), dec(3, 11), now=later).json
    with clock.frozen_at(later):
        assert api.as_(owner).post(f"/api/v1/bookings/{one['id']}/cancel", json={}).status_code == 200
    assert book(api, owner, team, instrument, dec(4, 10), dec(4, 11), now=later).status_code == 201


def test_excluding_a_booking_drops_its_own_time(app, make, world):
    """What reschedule passes: the booking being moved does not count against itself."""
    from booking.flow import fair_use
    from instruments.models import Instrument

    instrument = make.instrument(world["lab"], max_future_bookings_per_team=1, max_hours_per_team_per_week=2)
    booking = make.booking(world["team"], instrument, dec(2, 10), dec(2, 12), now=NOW)
    with app.app_context():
        loaded = db.session.get(Instrument, instrument.id)
        args = (world["team"].id, loaded, dec(3, 10), dec(3, 12), NOW)
        assert {p.details["limit"] for p in fair_use.quota_problems(*args)} == {
            "max_future_bookings_per_team",
            "max_hours_per_team_per_week",
        }
        assert fair_use.quota_problems(*args, excluding_booking_id=booking.id) == []


# --- no-show suspension -------------------------------------------------------------------------------------


def no_show(app, make, team, instrument, starts_at):
    make.booking(team, instrument, starts_at, starts_at + timedelta(hours=1))
    with app.app_context(), write_intent():
        assert mark_no_shows(starts_at + timedelta(hours=1)) == 1
        db.session.commit()


@pytest.fixture
def no_shows(app, make, world):
    """Two no-shows of the team at this lab in the last 90 days, one older, one at another lab."""
    team = world["team"]
    same_lab = make.instrument(world["lab"])
    other_lab = make.instrument(make.lab())
    no_show(app, make, team, same_lab, at(8, 3, 10))  # 120 days before NOW: too old
    no_show(app, make, team, same_lab, at(10, 1, 10))
    no_show(app, make, team, other_lab, at(10, 20, 10))
    no_show(app, make, team, same_lab, at(11, 20, 10))
    return same_lab


def test_suspended_with_the_oldest_counted_no_show_plus_90_days(api, make, world, no_shows):
    instrument = make.instrument(world["lab"], no_show_limit=2)
    details = refused_with(
        book(api, world["owner"], world["team"], instrument, dec(2, 10), dec(2, 11)), "booking_suspended"
    )
    assert datetime.fromisoformat(details["until"]) == at(10, 1, 10) + timedelta(days=90)
    assert details["no_show_limit"] == 2


def test_suspension_counts_only_this_lab_and_the_last_90_days(api, make, world, no_shows):
    owner, team = world["owner"], world["team"]
    three = make.instrument(world["lab"], no_show_limit=3)  # only 2 count: other lab, too old
    assert book(api, owner, team, three, dec(2, 10), dec(2, 11)).status_code == 201
    unlimited = make.instrument(world["lab"])
    assert book(api, owner, team, unlimited, dec(2, 12), dec(2, 13)).status_code == 201
    other_team_owner = make.user("founder")
    other_team = make.team(owner=other_team_owner, verified=True)
    two = make.instrument(world["lab"], no_show_limit=2)
    assert book(api, other_team_owner, other_team, two, dec(2, 10), dec(2, 11)).status_code == 201
    # 90 days after the oldest counted no-show it no longer counts: booking is possible again
    until = at(10, 1, 10) + timedelta(days=90)
    just_before = until - timedelta(minutes=1)
    late = (until + timedelta(days=1)).replace(hour=10)
    refused_with(
        book(api, owner, team, two, late, late + timedelta(hours=1), now=just_before), "booking_suspended"
    )
    assert book(api, owner, team, two, late, late + timedelta(hours=1), now=until).status_code == 201


# --- self check-in ------------------------------------------------------------------------------------------


def check(api, user, booking, action: str, now: datetime, body: dict | None = None):
    with clock.frozen_at(now):
        return api.as_(user).post(f"/api/v1/bookings/{booking['id']}/{action}", json=body or {})


def test_members_check_in_from_15_minutes_before_until_the_grace_ends(api, make, world):
    instrument = make.instrument(world["lab"], self_check_in=True, no_show_grace_minutes=15)
    owner, team = world["owner"], world["team"]
    early = book(api, owner, team, instrument, dec(2, 10), dec(2, 12)).json
    too_early = check(
        api,
        owner,
        early,
        "check-in",
        dec(
            2,
            9,
            44,
        ),
    )
    assert too_early.status_code == 422 and "at" in too_early.json["error"]["details"]
    opened = check(api, owner, early, "check-in", dec(2, 9, 45))
    assert opened.status_code == 200 and opened.json["status"] == "checked_in"
    assert opened.json["actual_starts_at"] == "2026-12-02T09:45:00+08:00"
    again = check(api, owner, early, "check-in", dec(2, 9, 50))
    assert again.status_code == 409 and again.json["error"]["code"] == "invalid_status"
    out = check(api, owner, early, "check-out", dec(2, 11, 40))
    assert out.status_code == 200 and out.json["status"] == "completed"
    assert out.json["actual_ends_at"] == "2026-12-02T11:40:00+08:00"

    late = book(api, owner, team, instrument, dec(3, 10), dec(3, 12)).json
    closed = check(api, owner, late, "check-in", dec(3, 10, 15))  # the grace has ended
    assert closed.status_code == 422 and closed.json["error"]["code"] == "invalid"
    last = check(
        api,
        owner,
        late,
        "check-in",
        dec(
            3,
            10,
            14,
        )
        + timedelta(seconds=59),
    )
    assert last.status_code == 200 and last.json["status"] == "checked_in"


def test_a_member_cannot_set_the_time(api, make, world):
    instrument = make.instrument(world["lab"], self_check_in=True)
    created = book(api, world["owner"], world["team"], instrument, dec(2, 10), dec(2, 12)).json
    done = check(api, world["owner"], created, "check-in", dec(2, 10), {"at": dec(2, 8).isoformat()})
    assert done.json["actual_starts_at"] == "2026-12-02T10:00:00+08:00"


def test_members_are_refused_without_self_check_in(api, make, world):
    instrument = make.instrument(world["lab"])
    created = book(api, world["owner"], world["team"], instrument, dec(2, 10), dec(2, 12)).json
    assert check(api, world["owner"], created, "check-in", dec(2, 10)).status_code == 403
    # the lab still checks in; the member may not check out either
    assert check(api, world["manager"], created, "check-in", dec(2, 10)).status_code == 200
    assert check(api, world["owner"], created, "check-out", dec(2, 11)).status_code == 403


def test_others_do_not_self_check_in(api, make, world):
    instrument = make.instrument(world["lab"], self_check_in=True)
    created = book(api, world["owner"], world["team"], instrument, dec(2, 10), dec(2, 12)).json
    stranger = make.user("founder")
    make.team(owner=stranger, verified=True)
    assert check(api, stranger, created, "check-in", dec(2, 10)).status_code == 404
    assert check(api, make.user("provider"), created, "check-in", dec(2, 10)).status_code == 403


# --- a move (reschedule) under the quotas ------------------------------------------------------------------


def move(api, user, booking_id, starts_at, ends_at, now=NOW):
    body = {"starts_at": starts_at.isoformat(), "ends_at": ends_at.isoformat()}
    with clock.frozen_at(now):
        return api.as_(user).post(f"/api/v1/bookings/{booking_id}/reschedule", json=body)


def test_a_move_does_not_count_its_own_old_time_but_is_held_to_the_quotas(api, make, world):
    instrument = hours_instrument(make, world, 3)
    owner, team = world["owner"], world["team"]
    long = book(api, owner, team, instrument, dec(2, 10), dec(2, 12)).json["id"]  # 2 h of 3
    short = book(api, owner, team, instrument, dec(3, 10), dec(3, 11)).json["id"]  # 3 h of 3
    # the 2-hour booking moves within the week: its old 2 hours are not counted against it
    assert move(api, owner, long, dec(4, 14), dec(4, 16)).status_code == 200
    # growing it to 3 hours would make 4 h that week: refused, and the booking stays as it was
    details = refused_with(move(api, owner, long, dec(4, 14), dec(4, 17)), "quota_exceeded")
    assert details["limit"] == "max_hours_per_team_per_week" and details["current"] == 1.0
    kept = api.as_(owner).get(f"/api/v1/bookings/{long}").json
    assert (kept["starts_at"][:16], kept["ends_at"][:16]) == (
        dec(4, 14).isoformat()[:16],
        dec(4, 16).isoformat()[:16],
    )
    # into another week it fits again
    assert move(api, owner, short, dec(8, 10), dec(8, 12)).status_code == 200


def test_a_move_is_refused_while_the_team_is_suspended(api, make, world, no_shows):
    instrument = make.instrument(world["lab"])
    owner, team = world["owner"], world["team"]
    booked = book(api, owner, team, instrument, dec(2, 10), dec(2, 11)).json["id"]
    limited = api.as_(world["manager"]).patch(
        f"/api/v1/instruments/{instrument.id}", json={"no_show_limit": 2}
    )
    assert limited.status_code == 200
    details = refused_with(move(api, owner, booked, dec(3, 10), dec(3, 11)), "booking_suspended")
    assert datetime.fromisoformat(details["until"]) == at(10, 1, 10) + timedelta(days=90)
