"""Private iCal feeds: who may create which, what a feed shows, revocation, secrets kept hashed."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta, timezone
from functools import partial
from urllib.parse import urlsplit

import pytest
from icalendar import Calendar
from sqlalchemy import delete, select

from booking.core import clock
from booking.core.db import db
from booking.models import Booking, CalendarFeed, User
from instruments.models import LabManager
from tests.support import rows
from tests.support.rows import add_booking, every_day

# open all week at ¥123.45 an hour: the figures the mails and feeds below are checked against
add_instrument = partial(rows.add_instrument, hours=every_day("00:00", "24:00"), hourly_rate_fen=12_345)

CST = timezone(timedelta(hours=8))
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=CST)


@pytest.fixture
def world(app, make):
    manager = make.user("lab_manager")
    lab = make.lab(manager=manager)
    owner = make.user("founder")
    team = make.team(owner=owner, verified=True, name="星火团队")
    other_team = make.team(verified=True, name="Other team")
    instrument = add_instrument(app, lab, name="扫描电镜 SEM", location="A栋 101")
    other_instrument = add_instrument(app, lab, name="XRD")
    return {
        "manager": manager,
        "lab": lab,
        "owner": owner,
        "team": team,
        "other_team": other_team,
        "instrument": instrument,
        "other_instrument": other_instrument,
    }


def at(days: float, hours: float = 0) -> datetime:
    return (NOW + timedelta(days=days, hours=hours)).astimezone(UTC)


def create_feed(api, user, **body):
    return api.as_(user).post("/api/v1/calendar-feeds", json=body)


def fetch(client, url: str, now: datetime = NOW):
    with clock.frozen_at(now):
        return client.get(urlsplit(url).path)


def events_of(response) -> dict[str, object]:
    """Parse the feed; VEVENTs by UID."""
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "text/calendar"
    calendar = Calendar.from_ical(response.data)
    return {str(e["UID"]): e for e in calendar.walk("VEVENT")}


def uid(booking) -> str:
    return f"booking-{booking.id}@localhost"


# --- user feeds ------------------------------------------------------------------------------------------


def test_user_feed_shows_the_users_team_bookings(api, client, app, world):
    team, instrument = world["team"], world["instrument"]
    confirmed = add_booking(app, team, instrument, at(1), at(1, 2))
    pending = add_booking(app, team, world["other_instrument"], at(2), at(2, 1), status="pending_approval")
    recent_past = add_booking(app, team, instrument, at(-20), at(-20, 1), status="completed")
    add_booking(app, team, instrument, at(3), at(3, 1), status="cancelled")
    add_booking(app, team, instrument, at(4), at(4, 1), status="rejected")
    add_booking(app, team, instrument, at(-40), at(-40, 1), status="completed")  # too long ago
    add_booking(app, team, instrument, at(200), at(200, 1))  # too far ahead
    add_booking(app, world["other_team"], instrument, at(5), at(5, 1))  # not our team

    response = create_feed(api, world["owner"], scope="user")
    assert response.status_code == 201, response.json
    body = response.json
    assert set(body) == {"id", "scope", "instrument_id", "url", "created_at"}
    assert body["scope"] == "user" and body["instrument_id"] is None
    assert body["url"].startswith("http://localhost/ical/") and body["url"].endswith(".ics")

    feed = fetch(client, body["url"])
    assert "private" in feed.headers["Cache-Control"]
    events = events_of(feed)
    assert set(events) == {uid(confirmed), uid(pending), uid(recent_past)}

    event = events[uid(confirmed)]
    assert event.decoded("DTSTART") == confirmed.starts_at
    assert event.decoded("DTEND") == confirmed.ends_at
    assert event["DTSTART"].to_ical().endswith(b"Z")  # UTC
    assert str(event["SUMMARY"]) == "扫描电镜 SEM"
    assert str(event["LOCATION"]).startswith("A栋 101")
    assert str(event["STATUS"]) == "CONFIRMED"
    assert event.decoded("DTSTAMP") == NOW
    assert str(events[uid(pending)]["STATUS"]) == "TENTATIVE"
    assert str(events[uid(pending)]["SUMMARY"]) == "XRD"

    calendar = Calendar.from_ical(feed.data)
    assert str(calendar["X-WR-CALNAME"]) == "我的仪器预约 · My instrument bookings"
    assert str(calendar["VERSION"]) == "2.0"


def test_uids_are_stable_across_fetches(api, client, app, world):
    booking = add_booking(app, world["team"], world["instrument"], at(1), at(1, 1))
    url = create_feed(api, world["owner"], scope="user").json["url"]
    first = events_of(fetch(client, url))
    second = events_of(fetch(client, url, NOW + timedelta(hours=1)))
    assert set(first) == set(second) == {uid(booking)}


def test_uid_domain_can_be_configured(api, client, app, world, monkeypatch):
    monkeypatch.setitem(app.config, "CALENDAR_UID_DOMAIN", "booking.example.cn")
    booking = add_booking(app, world["team"], world["instrument"], at(1), at(1, 1))
    url = create_feed(api, world["owner"], scope="user").json["url"]
    assert set(events_of(fetch(client, url))) == {f"booking-{booking.id}@booking.example.cn"}


def test_a_user_without_teams_gets_an_empty_feed(api, client, make):
    url = create_feed(api, make.user("founder"), scope="user").json["url"]
    assert events_of(fetch(client, url)) == {}


def test_a_cancelled_booking_drops_out_of_the_feed(api, client, app, world):
    booking = add_booking(app, world["team"], world["instrument"], at(2), at(2, 1))
    url = create_feed(api, world["owner"], scope="user").json["url"]
    assert set(events_of(fetch(client, url))) == {uid(booking)}
    with app.app_context():
        db.session.get(Booking, booking.id).status = "cancelled"
        db.session.commit()
    assert events_of(fetch(client, url)) == {}


# --- instrument feeds ------------------------------------------------------------------------------------


def test_instrument_feed_shows_every_teams_bookings_of_that_instrument(api, client, app, world):
    instrument = world["instrument"]
    ours = add_booking(app, world["team"], instrument, at(1), at(1, 1))
    theirs = add_booking(app, world["other_team"], instrument, at(1, 2), at(1, 3), status="pending_approval")
    add_booking(app, world["team"], world["other_instrument"], at(1), at(1, 1))  # another instrument
    add_booking(app, world["other_team"], instrument, at(2), at(2, 1), status="cancelled")

    response = create_feed(api, world["manager"], scope="instrument", instrument_id=instrument.id)
    assert response.status_code == 201, response.json
    assert response.json["instrument_id"] == instrument.id
    events = events_of(fetch(client, response.json["url"]))
    assert set(events) == {uid(ours), uid(theirs)}
    assert str(events[uid(ours)]["SUMMARY"]) == "扫描电镜 SEM · 星火团队"
    assert str(events[uid(theirs)]["SUMMARY"]) == "扫描电镜 SEM · Other team"
    assert str(events[uid(theirs)]["STATUS"]) == "TENTATIVE"
    calendar = Calendar.from_ical(fetch(client, response.json["url"]).data)
    assert "扫描电镜 SEM" in str(calendar["X-WR-CALNAME"])


def test_who_may_create_an_instrument_feed(api, app, world, make):
    instrument_id = world["instrument"].id
    other_lab_manager = make.user("lab_manager")
    make.lab(manager=other_lab_manager)
    statuses = {
        "lab's manager": create_feed(api, world["manager"], scope="instrument", instrument_id=instrument_id),
        "admin": create_feed(api, make.user("admin"), scope="instrument", instrument_id=instrument_id),
        "founder": create_feed(api, world["owner"], scope="instrument", instrument_id=instrument_id),
        "finance": create_feed(api, make.finance(), scope="instrument", instrument_id=instrument_id),
        "other lab's manager": create_feed(
            api, other_lab_manager, scope="instrument", instrument_id=instrument_id
        ),
    }
    assert {who: r.status_code for who, r in statuses.items()} == {
        "lab's manager": 201,
        "admin": 201,
        "founder": 403,
        "finance": 403,
        "other lab's manager": 404,
    }
    for who in ("founder", "finance", "other lab's manager"):
        assert set(statuses[who].json["error"]) == {"code", "message", "details"}
    with app.app_context():
        owners = set(db.session.scalars(select(CalendarFeed.user_id)))
    assert world["owner"].id not in owners and other_lab_manager.id not in owners


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"scope": "instrument"}, "instrument_id"),
        ({"scope": "instrument", "instrument_id": 99_999_999}, "instrument_id"),
        ({"scope": "user", "instrument_id": 1}, "instrument_id"),
        ({"scope": "team"}, "scope"),
        ({}, "scope"),
        ({"scope": "user", "secret": "mine"}, "secret"),
        ({"scope": "instrument", "instrument_id": "1"}, "instrument_id"),
    ],
)
def test_invalid_feed_requests_are_422(api, world, body, field):
    response = create_feed(api, world["manager"], **body)
    assert response.status_code == 422, response.json
    assert field in response.json["error"]["details"]


def test_a_manager_removed_from_the_lab_loses_the_instrument_feed(api, client, app, world):
    add_booking(app, world["team"], world["instrument"], at(1), at(1, 1))
    url = create_feed(api, world["manager"], scope="instrument", instrument_id=world["instrument"].id).json[
        "url"
    ]
    assert len(events_of(fetch(client, url))) == 1
    with app.app_context():
        db.session.execute(delete(LabManager).where(LabManager.user_id == world["manager"].id))
        db.session.commit()
    assert fetch(client, url).status_code == 404


def test_a_deactivated_users_feeds_stop(api, client, app, world):
    url = create_feed(api, world["owner"], scope="user").json["url"]
    with app.app_context():
        db.session.get(User, world["owner"].id).is_active = False
        db.session.commit()
    assert fetch(client, url).status_code == 404


# --- listing, revoking, secrets --------------------------------------------------------------------------


def test_list_shows_own_active_feeds_without_secrets(api, world):
    mine = create_feed(api, world["manager"], scope="user").json
    also_mine = create_feed(
        api, world["manager"], scope="instrument", instrument_id=world["instrument"].id
    ).json
    create_feed(api, world["owner"], scope="user")
    revoked = create_feed(api, world["manager"], scope="user").json
    assert api.as_(world["manager"]).delete(f"/api/v1/calendar-feeds/{revoked['id']}").status_code == 204

    response = api.as_(world["manager"]).get("/api/v1/calendar-feeds")
    assert response.status_code == 200
    items = response.json["items"]
    assert [f["id"] for f in items] == [mine["id"], also_mine["id"]]
    assert all(set(f) == {"id", "scope", "instrument_id", "created_at"} for f in items)
    assert mine["url"].rsplit("/", 1)[1].removesuffix(".ics") not in response.get_data(as_text=True)


def test_revoking_kills_the_url(api, client, world):
    created = create_feed(api, world["owner"], scope="user").json
    assert fetch(client, created["url"]).status_code == 200
    assert api.as_(world["owner"]).delete(f"/api/v1/calendar-feeds/{created['id']}").status_code == 204
    gone = fetch(client, created["url"])
    assert gone.status_code == 404 and gone.mimetype == "text/plain"
    assert api.as_(world["owner"]).delete(f"/api/v1/calendar-feeds/{created['id']}").status_code == 404


def test_only_the_owner_revokes_a_feed(api, client, world, make):
    created = create_feed(api, world["owner"], scope="user").json
    for intruder in (make.user("founder"), world["manager"], make.user("admin")):
        response = api.as_(intruder).delete(f"/api/v1/calendar-feeds/{created['id']}")
        assert response.status_code == 404
        assert response.json["error"]["code"] == "not_found"
    assert api.as_(world["owner"]).delete("/api/v1/calendar-feeds/99999999").status_code == 404
    assert fetch(client, created["url"]).status_code == 200


def test_secrets_are_stored_hashed(api, app, world):
    created = create_feed(api, world["owner"], scope="user").json
    secret = created["url"].rsplit("/", 1)[1].removesuffix(".ics")
    assert len(secret) >= 40
    with app.app_context():
        feed = db.session.get(CalendarFeed, created["id"])
        assert feed.token_hash == hashlib.sha256(secret.encode()).hexdigest()
        assert secret not in repr([getattr(feed, c.key) for c in CalendarFeed.__table__.columns])


def test_every_feed_has_its_own_secret(api, world):
    urls = {create_feed(api, world["owner"], scope="user").json["url"] for _ in range(3)}
    assert len(urls) == 3


def test_unknown_secret_is_404(client):
    assert client.get("/ical/not-a-real-secret.ics").status_code == 404
    assert client.get("/ical/.ics").status_code == 404


def test_feed_endpoints_need_a_token(client):
    assert client.get("/api/v1/calendar-feeds").status_code == 401
    assert client.post("/api/v1/calendar-feeds", json={"scope": "user"}).status_code == 401
    assert client.delete("/api/v1/calendar-feeds/1").status_code == 401


def test_the_feed_view_is_marked_public(app):
    view = app.view_functions["calendar_feeds.feed"]
    assert view._access_roles == ("public",)
