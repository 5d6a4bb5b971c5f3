"""Training requests and qualification expiry through the API (API.md "Training and qualifications")."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from booking.core import clock
from booking.core.db import db
from booking.models import OutboxMessage
from instruments.models import TrainingRequest
from vouchers.models import AuditEntry

CST = timezone(timedelta(hours=8))
T = datetime(2026, 12, 1, 9, 0, tzinfo=CST)  # a Tuesday morning in Chongqing


@pytest.fixture
def world(make):
    manager = make.user("lab_manager")
    lab = make.lab(manager=manager)
    founder = make.user("founder")
    team = make.team(owner=founder, verified=True)
    instrument = make.instrument(lab, requires_training=True, qualification_valid_days=30)
    return {"manager": manager, "lab": lab, "founder": founder, "team": team, "instrument": instrument}


def ask(api, user, instrument, **body):
    return api.as_(user).post(f"/api/v1/instruments/{instrument.id}/training-requests", json=body)


def book(api, world, starts_at: datetime, now: datetime):
    body = {
        "team_id": world["team"].id,
        "instrument_id": world["instrument"].id,
        "starts_at": starts_at.isoformat(),
        "ends_at": (starts_at + timedelta(hours=1)).isoformat(),
    }
    with clock.frozen_at(now):
        return api.as_(world["founder"]).post("/api/v1/bookings", json=body)


def grant(api, world, request_id: int, now: datetime = T):
    with clock.frozen_at(now):
        return api.as_(world["manager"]).post(f"/api/v1/training-requests/{request_id}/grant")


def test_request_is_pending_and_a_second_one_is_refused(api, world):
    first = ask(api, world["founder"], world["instrument"], note="Tuesdays suit me")
    assert first.status_code == 201
    assert first.json["status"] == "pending" and isinstance(first.json["id"], int)
    assert first.json["note"] == "Tuesdays suit me"
    second = ask(api, world["founder"], world["instrument"])
    assert second.status_code == 409 and second.json["error"]["code"] == "already_requested"


def test_only_founders_ask_and_only_for_instruments_requiring_training(api, make, world):
    for role in ("lab_manager", "provider", "admin"):
        response = ask(api, make.user(role), world["instrument"])
        assert response.status_code == 403, role
    free = make.instrument(world["lab"], requires_training=False)
    refused = ask(api, world["founder"], free)
    assert refused.status_code == 422 and refused.json["error"]["code"] == "training_not_required"
    assert ask(api, world["founder"], world["instrument"], note="x" * 501).status_code == 422
    assert (
        api.post(f"/api/v1/instruments/{world['instrument'].id}/training-requests", json={}).status_code
        == 401
    )


def test_the_list_is_for_the_labs_managers(api, make, world):
    ask(api, world["founder"], world["instrument"])
    path = f"/api/v1/instruments/{world['instrument'].id}/training-requests"
    listed = api.as_(world["manager"]).get(path)
    assert listed.status_code == 200
    assert [(r["user_id"], r["status"]) for r in listed.json["items"]] == [(world["founder"].id, "pending")]
    assert listed.json["next_cursor"] is None
    assert api.as_(make.user("admin")).get(path).status_code == 200
    assert api.as_(make.user("lab_manager")).get(path).status_code == 404  # another lab's manager
    assert api.as_(world["founder"]).get(path).status_code == 403


def test_grant_qualifies_and_booking_works(api, app, world):
    refused = book(api, world, datetime(2026, 12, 3, 10, tzinfo=CST), now=T)
    assert refused.status_code == 422 and refused.json["error"]["code"] == "not_qualified"
    request_id = ask(api, world["founder"], world["instrument"]).json["id"]
    granted = grant(api, world, request_id)
    assert granted.status_code == 200 and granted.json["status"] == "granted"
    assert book(api, world, datetime(2026, 12, 3, 10, tzinfo=CST), now=T).status_code == 201
    # the request is closed: a second decision is refused, and a qualified person cannot ask again
    again = grant(api, world, request_id)
    assert again.status_code == 409 and again.json["error"]["code"] == "already_decided"
    assert ask(api, world["founder"], world["instrument"]).json["error"]["code"] == "already_qualified"
    with app.app_context():
        mail = db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "training_granted")).one()
        assert mail.recipient == world["founder"].email
        assert world["instrument"].name in mail.body and "2026-12-31" in mail.body
        entry = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "grant_training")).one()
        assert entry.actor_id == world["manager"].id and entry.object_id == str(request_id)


def test_decline_closes_the_request_with_a_reason_and_qualifies_nobody(api, app, world):
    request_id = ask(api, world["founder"], world["instrument"]).json["id"]
    declined = api.as_(world["manager"]).post(
        f"/api/v1/training-requests/{request_id}/decline", json={"reason": "Fully booked this month"}
    )
    assert declined.status_code == 200
    assert (
        declined.json["status"] == "declined" and declined.json["decline_reason"] == "Fully booked this month"
    )
    refused = book(api, world, datetime(2026, 12, 3, 10, tzinfo=CST), now=T)
    assert refused.json["error"]["code"] == "not_qualified"
    # declined is closed: the founder may ask again
    assert ask(api, world["founder"], world["instrument"]).status_code == 201
    with app.app_context():
        mail = db.session.scalars(
            select(OutboxMessage).where(OutboxMessage.kind == "training_declined")
        ).one()
        assert "Fully booked this month" in mail.body


def test_another_labs_manager_cannot_decide(api, make, world):
    request_id = ask(api, world["founder"], world["instrument"]).json["id"]
    stranger = make.user("lab_manager")
    make.lab(manager=stranger)
    assert api.as_(stranger).post(f"/api/v1/training-requests/{request_id}/grant").status_code == 404
    assert api.as_(world["founder"]).post(f"/api/v1/training-requests/{request_id}/grant").status_code == 403
    assert api.as_(world["manager"]).post("/api/v1/training-requests/999999/grant").status_code == 404


def test_qualification_lapses_after_the_valid_days(api, world):
    request_id = ask(api, world["founder"], world["instrument"]).json["id"]
    assert grant(api, world, request_id, now=T).status_code == 200
    day_29 = T + timedelta(days=29)  # Wednesday 30 December
    assert book(api, world, datetime(2026, 12, 31, 10, tzinfo=CST), now=day_29).status_code == 201
    lapsed = T + timedelta(days=30, seconds=1)
    refused = book(api, world, datetime(2027, 1, 4, 10, tzinfo=CST), now=lapsed)
    assert refused.status_code == 422 and refused.json["error"]["code"] == "not_qualified"
    # a lapsed person may ask again; granting again renews the qualification
    with clock.frozen_at(lapsed):
        renewed_request = ask(api, world["founder"], world["instrument"])
    assert renewed_request.status_code == 201
    assert grant(api, world, renewed_request.json["id"], now=lapsed).status_code == 200
    assert book(api, world, datetime(2027, 1, 4, 10, tzinfo=CST), now=lapsed).status_code == 201


def test_a_direct_grant_sets_and_renews_the_expiry(api, world):
    path = f"/api/v1/instruments/{world['instrument'].id}/qualifications"
    manager = api.as_(world["manager"])
    with clock.frozen_at(T):
        assert manager.post(path, json={"user_id": world["founder"].id}).status_code == 204
    listed = manager.get(path)
    assert listed.status_code == 200
    assert listed.json["user_ids"] == [world["founder"].id]  # the shape the API answered before expiry
    assert listed.json["next_cursor"] is None
    [row] = listed.json["items"]
    assert row["user_id"] == world["founder"].id
    assert datetime.fromisoformat(row["granted_at"]) == T
    assert datetime.fromisoformat(row["expires_at"]) == T + timedelta(days=30)
    later = T + timedelta(days=40)
    with clock.frozen_at(later):
        assert manager.post(path, json={"user_id": world["founder"].id}).status_code == 204
    [row] = manager.get(path).json["items"]
    assert datetime.fromisoformat(row["expires_at"]) == later + timedelta(days=30)
    assert book(api, world, datetime(2027, 1, 12, 10, tzinfo=CST), now=later).status_code == 201
    assert api.as_(world["founder"]).get(path).status_code == 403


def test_without_valid_days_a_qualification_lasts(api, make, world):
    instrument = make.instrument(world["lab"], requires_training=True)
    path = f"/api/v1/instruments/{instrument.id}/qualifications"
    manager = api.as_(world["manager"])
    assert manager.post(path, json={"user_id": world["founder"].id}).status_code == 204
    assert manager.get(path).json["items"][0]["expires_at"] is None


def test_qualification_valid_days_at_creation_and_by_patch(api, world):
    manager = api.as_(world["manager"])
    body = {
        "name": "SEM",
        "category": "microscopy",
        "hourly_rate_fen": 10_000,
        "operation_mode": "market",
        "slot_minutes": 30,
        "min_minutes": 30,
        "max_minutes": 480,
        "lead_minutes": 60,
        "horizon_days": 90,
        "requires_approval": False,
        "requires_training": True,
        "free_cancel_hours": 24,
        "late_cancel_fee_bp": 0,
        "no_show_grace_minutes": 15,
        "no_show_fee_bp": 0,
        "qualification_valid_days": 180,
    }
    created = manager.post(f"/api/v1/labs/{world['lab'].id}/instruments", json=body)
    assert created.status_code == 201 and created.json["qualification_valid_days"] == 180
    path = f"/api/v1/instruments/{created.json['id']}"
    assert manager.patch(path, json={"qualification_valid_days": 7}).json["qualification_valid_days"] == 7
    for bad in (0, -1, "30", 1.5):
        refused = manager.patch(path, json={"qualification_valid_days": bad})
        assert refused.status_code == 422, bad
    cleared = manager.patch(path, json={"qualification_valid_days": None})
    assert cleared.status_code == 200 and cleared.json["qualification_valid_days"] is None
    without = manager.post(
        f"/api/v1/labs/{world['lab'].id}/instruments",
        json={k: v for k, v in body.items() if k != "qualification_valid_days"},
    )
    assert without.json["qualification_valid_days"] is None


def test_a_pending_request_is_one_per_person_in_the_database(app, world):
    """The partial unique index itself refuses a second pending request (not only the pre-check),
    and lets closed requests be many."""

    def request(status: str) -> TrainingRequest:
        decided = {} if status == "pending" else {"decided_at": clock.now()}
        return TrainingRequest(
            instrument_id=world["instrument"].id,
            user_id=world["founder"].id,
            note="",
            status=status,
            decline_reason="",
            **decided,
        )

    with app.app_context():
        with db.session.begin_nested():
            db.session.add_all([request("declined"), request("declined"), request("pending")])
        with pytest.raises(IntegrityError), db.session.begin_nested():
            db.session.add(request("pending"))
