"""Nothing owed at booking (vouchers covered the estimate), something owed at settlement: with no
card hold to capture, the share is recorded as owed."""

from __future__ import annotations

from booking.core import clock
from booking.core.db import db
from tests.flow.payments.conftest import NOW, at, book
from vouchers.reconciliation import reconcile


def test_a_share_owed_only_at_settlement_is_recorded_as_owed(api, make, app, payments_on, lab_world):
    make.voucher(lab_world["team"], make.program(rate_bp=10_000), 20_000, at=NOW)  # covers the 2 h estimate
    created = book(api, lab_world)  # 10:00–12:00 at ¥100/h
    assert created.status_code == 201, created.json
    assert created.json["quote"]["team_pays_fen"] == 0 and created.json["payment"]["intent_id"] is None
    manager = api.as_(lab_world["manager"])
    manager.post(f"/api/v1/bookings/{created.json['id']}/check-in", json={"at": at(3, 10).isoformat()})
    manager.post(f"/api/v1/bookings/{created.json['id']}/check-out", json={"at": at(3, 12, 30).isoformat()})
    with app.app_context(), clock.frozen_at(at(3, 13)):
        assert reconcile(at(3, 13)).settled == 1
        db.session.commit()
    settled = api.as_(lab_world["owner"]).get(f"/api/v1/bookings/{created.json['id']}").json
    assert settled["settlement"]["team_pays_fen"] == 5_000  # 2.5 h billed; the voucher held 20,000
    assert settled["payment"]["status"] == "invoice"
