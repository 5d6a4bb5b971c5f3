"""A booking series mails each member once (every occurrence listed, skipped ones with their reason,
the estimated total), the lab's managers once for what waits for their approval, and once more when
the rest is cancelled — never one mail per occurrence."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from booking.core import clock
from booking.core.db import db
from booking.models import OutboxMessage
from tests.support.rows import add_member

CST = timezone(timedelta(hours=8))
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=CST)  # a Tuesday morning in Chongqing


def at(day: int, hour: int) -> datetime:
    return datetime(2026, 12, day, hour, tzinfo=CST)


@pytest.fixture
def world(app, make):
    manager = make.user("lab_manager")
    lab = make.lab(manager=manager)
    owner, member = make.user("founder"), make.user("founder")
    team = make.team(owner=owner, verified=True)
    add_member(app, team, member)
    other = make.user("founder")
    other_team = make.team(owner=other, verified=True)
    return {
        "manager": manager,
        "lab": lab,
        "owner": owner,
        "member": member,
        "team": team,
        "other": other,
        "other_team": other_team,
        "instrument": make.instrument(lab, hourly_rate_fen=10_000),
    }


def book_series(api, world, instrument, count=4):
    body = {
        "team_id": world["team"].id,
        "instrument_id": instrument.id,
        "starts_at": at(2, 10).isoformat(),
        "ends_at": at(2, 11).isoformat(),
        "repeat": {"every": "week", "count": count},
        "on_conflict": "skip",
    }
    with clock.frozen_at(NOW):
        response = api.as_(world["owner"]).post("/api/v1/booking-series", json=body)
    assert response.status_code == 201, response.json
    return response.json


def mails(app) -> list[OutboxMessage]:
    with app.app_context():
        rows = db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()
        db.session.expunge_all()
        return list(rows)


def test_a_series_mails_each_member_once_with_every_occurrence(api, app, world):
    w = world
    with clock.frozen_at(NOW):  # another team holds the third week
        taken = api.as_(w["other"]).post(
            "/api/v1/bookings",
            json={"team_id": w["other_team"].id, "instrument_id": w["instrument"].id,
                  "starts_at": at(16, 10).isoformat(), "ends_at": at(16, 11).isoformat()},
        )  # fmt: skip
    assert taken.status_code == 201
    before = len(mails(app))
    series = book_series(api, w, w["instrument"])
    sent = mails(app)[before:]
    assert sorted((m.kind, m.recipient) for m in sent) == sorted(
        [("series_booked", w["member"].email), ("series_booked", w["owner"].email)]
    )  # no mail per occurrence, nothing to the lab (nothing waits for it)
    body = sent[0].body
    assert [f"#{b['id']}" in body for b in series["bookings"]] == [True, True, True]
    assert "共 3 次" in body and "3 times" in body
    assert "someone else holds it" in body and "已被他人预约" in body  # the skipped week and why
    assert "¥300.00" in body  # 3 × one hour at ¥100.00, before vouchers
    assert body.index("您好") < body.index("Hello")  # Chinese first, then English
    assert w["instrument"].name in sent[0].subject and f"#{series['id']}" in sent[0].subject


def test_the_lab_hears_once_of_a_series_awaiting_its_approval(api, app, make, world):
    w = world
    instrument = make.instrument(w["lab"], hourly_rate_fen=10_000, requires_approval=True)
    series = book_series(api, w, instrument, count=3)
    sent = mails(app)
    to_lab = [m for m in sent if m.recipient == w["manager"].email]
    assert [m.kind for m in to_lab] == ["series_approval_needed"]
    assert all(f"#{b['id']}" in to_lab[0].body for b in series["bookings"])
    assert "awaiting approval" in sent[0].body  # the team's mail marks them too
    assert not [m for m in sent if m.kind.startswith("booking_")]


def test_cancelling_the_rest_mails_each_member_once(api, app, world):
    w = world
    series = book_series(api, w, w["instrument"])
    before = len(mails(app))
    with clock.frozen_at(NOW):
        response = api.as_(w["member"]).post(f"/api/v1/booking-series/{series['id']}/cancel")
    assert response.json["cancelled"] == 4
    sent = mails(app)[before:]
    assert sorted((m.kind, m.recipient) for m in sent) == sorted(
        [("series_cancelled", w["member"].email), ("series_cancelled", w["owner"].email)]
    )
    assert all(f"#{b['id']}" in sent[0].body for b in series["bookings"])
    assert "4 times" in sent[0].body and "取消费" not in sent[0].body  # early: free


def test_a_single_booking_still_mails_for_itself(api, app, world):
    w = world
    with clock.frozen_at(NOW):
        booked = api.as_(w["owner"]).post(
            "/api/v1/bookings",
            json={"team_id": w["team"].id, "instrument_id": w["instrument"].id,
                  "starts_at": at(2, 10).isoformat(), "ends_at": at(2, 11).isoformat()},
        )  # fmt: skip
    assert booked.status_code == 201
    assert sorted(m.kind for m in mails(app)) == ["booking_confirmed", "booking_confirmed"]
