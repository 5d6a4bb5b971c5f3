"""Check-in and check-out from the lab pages ask for confirmation first (a confirm step that works
without JavaScript), and a mistaken check-in can be undone until check-out: the booking is confirmed
again, its actual start cleared, and the correction is in the audit log."""

from __future__ import annotations

from sqlalchemy import select

from booking.core import clock
from booking.core.db import db
from tests.conftest import csrf_token
from tests.web.test_instrument_pages import BEFORE, cst, get_booking, text
from vouchers.models import AuditEntry


def audit_entries(app, action: str) -> list[AuditEntry]:
    with app.app_context():
        return list(db.session.scalars(select(AuditEntry).where(AuditEntry.action == action)))


def lab_world(make):
    manager = make.user("lab_manager")
    instrument = make.instrument(make.lab(manager=manager), name="共聚焦显微镜")
    team = make.team(owner=make.user("founder"), verified=True, name="星火团队")
    booking = make.booking(team, instrument, cst(2, 9), cst(2, 10), now=BEFORE)
    return manager, booking


def test_check_in_asks_for_confirmation_before_changing_anything(client, app, make, login):
    manager, booking = lab_world(make)
    login(manager)
    with clock.frozen_at(cst(2, 9, 5)):
        token = csrf_token(client, "/lab")
        asked = client.post(f"/lab/bookings/{booking.id}/check-in?next=/lab", data={"csrf_token": token})
        page = text(asked)
        assert asked.status_code == 200
        assert "确认签到" in page and "星火团队" in page and "共聚焦显微镜" in page and "09:00–10:00" in page
        assert 'name="confirmed" type="hidden" value="yes"' in page
        assert f'action="/lab/bookings/{booking.id}/check-in?next=/lab"' in page  # back where it started
        assert get_booking(app, booking.id).status == "confirmed"  # nothing happened yet

        done = client.post(
            f"/lab/bookings/{booking.id}/check-in?next=/lab",
            data={"csrf_token": token, "confirmed": "yes"},
        )
    assert done.status_code == 302 and done.headers["Location"].endswith("/lab")
    checked_in = get_booking(app, booking.id)
    assert checked_in.status == "checked_in" and checked_in.actual_starts_at == cst(2, 9, 5)


def test_check_out_asks_for_confirmation_too(client, app, make, login):
    manager, booking = lab_world(make)
    login(manager)
    with clock.frozen_at(cst(2, 9, 5)):
        token = csrf_token(client, "/lab")
        client.post(f"/lab/bookings/{booking.id}/check-in", data={"csrf_token": token, "confirmed": "yes"})
    with clock.frozen_at(cst(2, 10, 0)):
        asked = client.post(f"/lab/bookings/{booking.id}/check-out", data={"csrf_token": token})
        assert asked.status_code == 200 and "确认签退" in text(asked)
        assert get_booking(app, booking.id).status == "checked_in"
        client.post(f"/lab/bookings/{booking.id}/check-out", data={"csrf_token": token, "confirmed": "yes"})
    assert get_booking(app, booking.id).status == "completed"


def test_a_mistaken_check_in_is_undone_until_check_out_and_audited(client, app, make, login):
    manager, booking = lab_world(make)
    login(manager)
    with clock.frozen_at(cst(2, 9, 5)):
        token = csrf_token(client, "/lab")
        client.post(f"/lab/bookings/{booking.id}/check-in", data={"csrf_token": token, "confirmed": "yes"})
        console = text(client.get("/lab"))
        assert f'action="/lab/bookings/{booking.id}/undo-check-in"' in console
        detail = text(client.get(f"/bookings/{booking.id}"))
        assert f'action="/lab/bookings/{booking.id}/undo-check-in?next=' in detail
        undone = client.post(
            f"/lab/bookings/{booking.id}/undo-check-in", data={"csrf_token": token}, follow_redirects=True
        )
    assert "已撤销签到" in text(undone)
    again = get_booking(app, booking.id)
    assert again.status == "confirmed" and again.actual_starts_at is None
    [entry] = audit_entries(app, "undo_check_in")
    assert entry.object_id == str(booking.id) and entry.actor_id == manager.id
    assert entry.before["status"] == "checked_in" and entry.after == {
        "status": "confirmed",
        "actual_starts_at": None,
    }

    with clock.frozen_at(cst(2, 9, 10)):  # the right booking can be checked in again
        client.post(f"/lab/bookings/{booking.id}/check-in", data={"csrf_token": token, "confirmed": "yes"})
    with clock.frozen_at(cst(2, 10, 0)):
        client.post(f"/lab/bookings/{booking.id}/check-out", data={"csrf_token": token, "confirmed": "yes"})
        late = client.post(
            f"/lab/bookings/{booking.id}/undo-check-in", data={"csrf_token": token}, follow_redirects=True
        )
    assert "无法进行此操作" in text(late)  # after check-out the check-in stands
    assert get_booking(app, booking.id).status == "completed"
    assert len(audit_entries(app, "undo_check_in")) == 1


def test_only_the_labs_managers_undo_a_check_in(client, app, make, login):
    manager, booking = lab_world(make)
    other_manager = make.user("lab_manager")
    make.lab(manager=other_manager)
    login(manager)
    with clock.frozen_at(cst(2, 9, 5)):
        token = csrf_token(client, "/lab")
        client.post(f"/lab/bookings/{booking.id}/check-in", data={"csrf_token": token, "confirmed": "yes"})
        login(other_manager)
        token = csrf_token(client, "/lab")
        refused = client.post(f"/lab/bookings/{booking.id}/undo-check-in", data={"csrf_token": token})
    assert refused.status_code == 404
    assert get_booking(app, booking.id).status == "checked_in"
