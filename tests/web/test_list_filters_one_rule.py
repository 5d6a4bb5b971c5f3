"""One filter per list: the API's list and the HTML page ask the same function (``filtered_bookings``,
``filtered_exceptions``, ``filtered_entries``, ``filtered_applications``), so the same filter shows the
same items both ways."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from booking.core import clock
from booking.core.db import db
from booking.models import Booking
from vouchers.models import AuditEntry, FinanceException

NOW = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def frozen_now():
    with clock.frozen_at(NOW):
        yield


def api_ids(api, user, path: str, **query) -> set[int]:
    response = api.as_(user).get(path, query_string={**query, "limit": 100})
    assert response.status_code == 200, response.json
    return {item["id"] for item in response.json["items"]}


def page_ids(client, path: str, marker: str, **query) -> set[int]:
    response = client.get(path, query_string=query)
    assert response.status_code == 200
    return {int(i) for i in re.findall(rf'id="{marker}-(\d+)"', response.get_data(as_text=True))}


def test_the_bookings_list_filters_alike(api, app, client, login, make):
    owner = make.user("founder")
    team = make.team(owner=owner, verified=True)
    offer = make.offer(make.provider(), gpus_total=8)
    made = [
        make.compute_booking(team, offer, NOW + timedelta(hours=2 + n), NOW + timedelta(hours=3 + n), now=NOW)
        for n in range(3)
    ]
    with app.app_context():
        db.session.get(Booking, made[0].id).status = "cancelled"
        db.session.commit()
    login(owner)
    for status in ("confirmed", "cancelled", "completed"):
        assert api_ids(api, owner, "/api/v1/bookings", status=status) == page_ids(
            client, "/bookings", "booking", status=status
        )
    assert api_ids(api, owner, "/api/v1/bookings", status="cancelled") == {made[0].id}


def test_the_exceptions_list_filters_alike(api, app, client, login, make):
    officer = make.finance("500106")
    with app.app_context():
        for n, (kind, status, district) in enumerate(
            [
                ("over_tolerance", "open", "500106"),
                ("over_tolerance", "resolved", "500106"),
                ("unknown_booking", "open", "500106"),
                ("over_tolerance", "open", "500103"),
            ]
        ):
            db.session.add(
                FinanceException(
                    kind=kind, status=status, district_code=district, unique_key=f"k-{n}", details={}
                )
            )
        db.session.commit()
    login(officer)
    for query in (
        {},
        {"kind": "over_tolerance"},
        {"status": "open"},
        {"kind": "unknown_booking", "status": "open"},
    ):
        listed = api_ids(api, officer, "/api/v1/finance/exceptions", **query)
        assert listed == page_ids(client, "/finance/exceptions", "exception", **query)
    assert len(api_ids(api, officer, "/api/v1/finance/exceptions", kind="over_tolerance", status="open")) == 1


def test_the_audit_log_filters_alike(api, app, client, login, make):
    officer = make.finance("500106")
    other = make.finance("500106")
    with app.app_context():
        for n, (actor, action) in enumerate(
            [(officer, "verify_team"), (officer, "payout"), (other, "verify_team"), (other, "verify_team")]
        ):
            db.session.add(
                AuditEntry(
                    at=NOW - timedelta(days=n),
                    actor_id=actor.id,
                    action=action,
                    object_type="team",
                    object_id=str(n),
                    district_code="500106",
                )
            )
        db.session.commit()
    login(officer)
    for query in (
        {},
        {"action": "verify_team"},
        {"actor_id": other.id},
        {"action": "payout", "actor_id": officer.id},
    ):
        listed = api_ids(api, officer, "/api/v1/finance/audit", **query)
        page = client.get("/finance/audit", query_string=query).get_data(as_text=True)
        assert f"条目：{len(listed)}" in page
    assert len(api_ids(api, officer, "/api/v1/finance/audit", action="verify_team", actor_id=other.id)) == 2
