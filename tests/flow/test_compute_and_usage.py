"""Compute offers, GPU reservations, capacity, and usage intake."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from booking.core import clock
from booking.core.db import db
from vouchers.models import FinanceException

NOW = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)


@pytest.fixture
def world(make):
    provider = make.provider(organization="渝算云计算有限公司")
    provider_user = make.user("provider", provider_id=provider.id)
    owner = make.user("founder")
    team = make.team(owner=owner, verified=True)
    offer = make.offer(provider, gpus_total=8, price_per_gpu_hour_fen=1_234)
    return {
        "provider": provider,
        "provider_user": provider_user,
        "owner": owner,
        "team": team,
        "offer": offer,
    }


def reserve(api, world, starts_at, ends_at, gpus=1, now=NOW, offer=None):
    body = {
        "team_id": world["team"].id,
        "offer_id": (offer or world["offer"]).id,
        "gpus": gpus,
        "starts_at": starts_at.isoformat(),
        "ends_at": ends_at.isoformat(),
    }
    with clock.frozen_at(now):
        return api.as_(world["owner"]).post("/api/v1/bookings", json=body)


def test_provider_publishes_offers_for_itself_only(api, make, world):
    body = {"name": "H800", "gpu_model": "H800", "gpus_total": 16, "price_per_gpu_hour_fen": 2_500}
    created = api.as_(world["provider_user"]).post(
        f"/api/v1/providers/{world['provider'].id}/offers", json=body
    )
    assert created.status_code == 201 and created.json["provider_id"] == world["provider"].id
    other = make.provider()
    assert (
        api.as_(world["provider_user"]).post(f"/api/v1/providers/{other.id}/offers", json=body).status_code
        == 404
    )
    assert (
        api.as_(world["owner"])
        .post(f"/api/v1/providers/{world['provider'].id}/offers", json=body)
        .status_code
        == 403
    )
    bad = api.as_(world["provider_user"]).post(
        f"/api/v1/providers/{world['provider'].id}/offers", json={**body, "gpus_total": 0}
    )
    assert bad.status_code == 422 and "gpus_total" in bad.json["error"]["details"]
    listed = api.as_(world["owner"]).get("/api/v1/compute/offers").json["items"]
    assert {o["id"] for o in listed} == {world["offer"].id, created.json["id"]}


def test_compute_booking_cost_and_quote(api, world):
    response = reserve(api, world, NOW + timedelta(hours=1), NOW + timedelta(hours=2, minutes=30), gpus=3)
    assert response.status_code == 201, response.json
    booking = response.json
    assert booking["kind"] == "compute" and booking["offer_id"] == world["offer"].id and booking["gpus"] == 3
    # 3 GPUs × 1.5 h × 1,234 fen = 5,553
    assert booking["quote"] == {"total_fen": 5_553, "subsidies": [], "team_pays_fen": 5_553}


@pytest.mark.parametrize(
    ("starts", "ends", "gpus", "code"),
    [
        (timedelta(minutes=10, seconds=30), timedelta(hours=1), 1, "off_grid"),
        (timedelta(minutes=10), timedelta(minutes=10, seconds=30), 1, "off_grid"),
        (timedelta(minutes=-1), timedelta(hours=1), 1, "inside_lead_time"),
        (timedelta(days=91), timedelta(days=91, hours=1), 1, "beyond_horizon"),
        (timedelta(hours=1), timedelta(hours=2), 9, "invalid"),
    ],
)
def test_compute_booking_rules(api, world, starts, ends, gpus, code):
    response = reserve(api, world, NOW + starts, NOW + ends, gpus=gpus)
    assert response.status_code == 422, response.json
    assert response.json["error"]["code"] == code


def test_current_minute_and_one_minute_are_fine(api, world):
    now = NOW + timedelta(seconds=40)
    assert reserve(api, world, NOW, NOW + timedelta(minutes=1), now=now).status_code == 201


def test_capacity_is_never_exceeded(api, world):
    start = NOW + timedelta(hours=1)
    assert reserve(api, world, start, start + timedelta(hours=2), gpus=5).status_code == 201
    assert (
        reserve(api, world, start + timedelta(hours=1), start + timedelta(hours=3), gpus=3).status_code == 201
    )
    over = reserve(api, world, start + timedelta(minutes=90), start + timedelta(hours=4), gpus=1)
    assert over.status_code == 409 and over.json["error"]["code"] == "capacity_exceeded"
    # after the first reservation ends, 5 GPUs are free again
    assert (
        reserve(api, world, start + timedelta(hours=2), start + timedelta(hours=3), gpus=5).status_code == 201
    )


def test_availability_segments(api, world):
    start = NOW + timedelta(hours=1)
    reserve(api, world, start, start + timedelta(hours=2), gpus=5)
    reserve(api, world, start + timedelta(hours=1), start + timedelta(hours=3), gpus=2)
    response = api.as_(world["owner"]).get(
        f"/api/v1/compute/offers/{world['offer'].id}/availability",
        query_string={"from": NOW.isoformat(), "to": (NOW + timedelta(hours=5)).isoformat()},
    )
    assert response.status_code == 200
    segments = [(s["starts_at"], s["ends_at"], s["gpus_free"]) for s in response.json["segments"]]
    iso = lambda h: (NOW + timedelta(hours=h)).isoformat()  # noqa: E731
    assert segments == [
        (iso(0), iso(1), 8),
        (iso(1), iso(2), 3),
        (iso(2), iso(3), 1),
        (iso(3), iso(4), 6),
        (iso(4), iso(5), 8),
    ]
    bad = api.as_(world["owner"]).get(
        f"/api/v1/compute/offers/{world['offer'].id}/availability", query_string={"from": NOW.isoformat()}
    )
    assert bad.status_code == 422


def _records(booking_id, *specs):
    return [
        {
            "external_id": ext,
            "booking_id": booking_id,
            "started_at": s.isoformat(),
            "ended_at": e.isoformat(),
            "gpu_hours": h,
        }
        for ext, s, e, h in specs
    ]


def test_usage_intake_is_idempotent_and_validates_each_record(api, make, world, app):
    booking = make.compute_booking(world["team"], world["offer"], NOW, NOW + timedelta(hours=2), gpus=2)
    other_provider_offer = make.offer(make.provider())
    theirs = make.compute_booking(world["team"], other_provider_offer, NOW, NOW + timedelta(hours=1))
    records = _records(
        booking.id,
        ("u-1", NOW, NOW + timedelta(hours=1), "2.000000"),
        ("u-2", NOW + timedelta(hours=1), NOW + timedelta(hours=2), "1.5"),
    )
    records += _records(theirs.id, ("u-3", NOW, NOW + timedelta(hours=1), "1"))
    records += _records(999_999, ("u-4", NOW, NOW + timedelta(hours=1), "1"))
    records += [
        {
            "external_id": "u-5",
            "booking_id": booking.id,
            "started_at": NOW.isoformat(),
            "ended_at": NOW.isoformat(),
            "gpu_hours": 1.5,
        },
        {
            "external_id": "u-6",
            "booking_id": booking.id,
            "started_at": "yesterday",
            "ended_at": NOW.isoformat(),
            "gpu_hours": "1",
        },
        {
            "external_id": "u-7",
            "booking_id": booking.id,
            "started_at": NOW.isoformat(),
            "ended_at": NOW.isoformat(),
            "gpu_hours": "-1",
        },
        {
            "external_id": "u-8",
            "booking_id": booking.id,
            "started_at": NOW.isoformat(),
            "ended_at": NOW.isoformat(),
            "gpu_hours": "1.1234567",
        },
        "not a record",
    ]
    provider = api.as_(world["provider_user"])
    first = provider.post("/api/v1/usage-records", json={"records": records})
    assert first.status_code == 200, first.json
    assert first.json["accepted"] == 2 and first.json["duplicates"] == 0
    assert sorted((r["external_id"] or "", r["code"]) for r in first.json["rejected"]) == [
        ("", "invalid"),
        ("u-3", "unknown_booking"),
        ("u-4", "unknown_booking"),
        ("u-5", "invalid"),
        ("u-6", "invalid"),
        ("u-7", "invalid"),
        ("u-8", "invalid"),
    ]
    again = provider.post("/api/v1/usage-records", json={"records": records[:2] + records[:1]})
    assert again.json == {"accepted": 0, "duplicates": 3, "rejected": []}
    with app.app_context():
        exceptions = db.session.scalars(
            select(FinanceException).where(FinanceException.kind == "unknown_booking")
        ).all()
        assert sorted(e.details["external_id"] for e in exceptions) == ["u-3", "u-4"]
        assert all(e.provider_id == world["provider"].id for e in exceptions)


def test_usage_intake_limits_and_roles(api, make, world):
    provider = api.as_(world["provider_user"])
    assert provider.post("/api/v1/usage-records", json={"records": []}).status_code == 422
    too_many = [{"external_id": str(i)} for i in range(10_001)]
    assert provider.post("/api/v1/usage-records", json={"records": too_many}).status_code == 422
    assert api.as_(world["owner"]).post("/api/v1/usage-records", json={"records": [{}]}).status_code == 403


def test_instrument_booking_is_not_compute_usage(api, make, world):
    lab = make.lab()
    instrument = make.instrument(lab, hours=tuple((d, 0, 1440) for d in range(7)), lead_minutes=0)
    booking = make.booking(world["team"], instrument, NOW + timedelta(hours=1), NOW + timedelta(hours=2))
    response = api.as_(world["provider_user"]).post(
        "/api/v1/usage-records", json={"records": _records(booking.id, ("x", NOW, NOW, "1"))}
    )
    assert response.json["rejected"] == [{"external_id": "x", "code": "unknown_booking"}]
