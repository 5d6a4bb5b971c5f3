"""The exceptions queue (scoped, resolvable end to end) and period close."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from booking.core import clock
from booking.core.db import db
from tests.vouchers.finance.conftest import AFTER, END, START, post_usage, run
from vouchers.models import AccountingPeriod, JournalTransaction


def test_over_tolerance_waits_in_the_queue_until_finance_resolves_it(api, make, world, app):
    booking = make.compute_booking(world["team"], world["offer"], START, END)
    post_usage(api, world, booking, "2.4001")  # more than 20% above the 20,000 fen estimate
    assert run(app).exceptions == 1
    officer = world["district_officer"]
    listed = api.as_(officer).get("/api/v1/finance/exceptions").json
    assert listed["next_cursor"] is None
    (item,) = listed["items"]
    assert {k: item[k] for k in ("kind", "booking_id", "status")} == {
        "kind": "over_tolerance",
        "booking_id": booking.id,
        "status": "open",
    }
    assert set(item) >= {"id", "kind", "booking_id", "provider_id", "details", "status", "created_at"}
    # scope and filters
    assert api.as_(make.finance("500103")).get("/api/v1/finance/exceptions").json["items"] == []
    assert len(api.as_(world["municipal_officer"]).get("/api/v1/finance/exceptions").json["items"]) == 1
    assert (
        len(api.as_(make.user("admin")).get("/api/v1/finance/exceptions?kind=over_tolerance").json["items"])
        == 1
    )
    assert api.as_(officer).get("/api/v1/finance/exceptions?kind=unknown_booking").json["items"] == []
    assert api.as_(officer).get("/api/v1/finance/exceptions?status=resolved").json["items"] == []
    assert api.as_(officer).get("/api/v1/finance/exceptions?status=nope").status_code == 422
    assert api.as_(world["owner"]).get("/api/v1/finance/exceptions").status_code == 403

    assert run(app).settled == 0  # still blocked
    path = f"/api/v1/finance/exceptions/{item['id']}/resolve"
    assert api.as_(make.finance("500103")).post(path, json={"comment": "ok"}).status_code == 404
    assert api.as_(officer).post(path, json={}).status_code == 422
    resolved = api.as_(officer).post(path, json={"comment": "Provider confirmed the extra hours."})
    assert resolved.status_code == 200, resolved.json
    assert resolved.json["status"] == "resolved"
    assert resolved.json["resolution"] == "Provider confirmed the extra hours."
    assert api.as_(officer).post(path, json={"comment": "again"}).status_code == 409
    audit = api.as_(officer).get("/api/v1/finance/audit?action=resolve_exception").json["items"]
    assert [(e["object_id"], e["after"]["status"]) for e in audit] == [(str(item["id"]), "resolved")]

    assert run(app).settled == 1
    settled = api.as_(world["owner"]).get(f"/api/v1/bookings/{booking.id}").json
    assert settled["status"] == "settled" and settled["settlement"]["total_fen"] == 24_001


def test_exceptions_are_paginated(api, make, world, app):
    for _ in range(3):
        booking = make.compute_booking(world["team"], world["offer"], START, END)
        post_usage(api, world, booking, "5")
    run(app)
    officer = world["district_officer"]
    first = api.as_(officer).get("/api/v1/finance/exceptions?limit=2").json
    assert len(first["items"]) == 2 and first["next_cursor"]
    second = api.as_(officer).get(f"/api/v1/finance/exceptions?limit=2&cursor={first['next_cursor']}").json
    assert len(second["items"]) == 1 and second["next_cursor"] is None


def close(api, user, period, now=datetime(2027, 1, 5, tzinfo=UTC)):
    with clock.frozen_at(now):
        return api.as_(user).post(f"/api/v1/finance/periods/{period}/close")


def test_close_period(api, make, app):
    officer = make.finance(None)
    response = close(api, officer, "2026-12")
    assert response.status_code == 200, response.json
    assert response.json["period"] == "2026-12" and response.json["closed"] is True
    assert close(api, officer, "2026-12").json["error"]["code"] == "period_closed"
    assert close(api, officer, "2026-12").status_code == 409
    assert close(api, officer, "2027-01").status_code == 409  # not over yet
    assert close(api, officer, "2027-01").json["error"]["code"] == "period_not_ended"
    for malformed in ("2026-13", "2026-1", "december"):
        assert close(api, officer, malformed).status_code == 422
    assert close(api, make.user("founder"), "2026-11").status_code == 403
    assert close(api, make.finance("500106"), "2026-11").status_code == 403  # city-wide: not a district's
    assert close(api, make.user("admin"), "2026-11").status_code == 200
    with app.app_context():
        assert set(db.session.scalars(select(AccountingPeriod.period))) == {"2026-11", "2026-12"}
    audit = api.as_(make.user("admin")).get("/api/v1/finance/audit?action=close_period").json["items"]
    assert [(e["object_id"], e["district_code"]) for e in audit] == [("2026-12", None), ("2026-11", None)]


def test_entries_of_a_closed_month_go_to_the_next_open_one(api, make, world, app):
    booking = make.compute_booking(world["team"], world["offer"], START, END)
    post_usage(api, world, booking, "1")
    officer = world["municipal_officer"]
    assert close(api, officer, "2026-11", now=AFTER).status_code == 200
    # December has not ended at AFTER; close it as of January, then settle a December booking late
    assert close(api, officer, "2026-12").status_code == 200
    run(app)
    settlement = api.as_(world["owner"]).get(f"/api/v1/bookings/{booking.id}").json["settlement"]
    assert settlement["period"] == "2027-01"
    with app.app_context():
        periods = set(
            db.session.scalars(
                select(JournalTransaction.period).where(
                    JournalTransaction.booking_id == booking.id, JournalTransaction.kind == "settle"
                )
            )
        )
    assert periods == {"2027-01"}  # the commitment made at booking stays in December
