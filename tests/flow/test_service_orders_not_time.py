"""A service order is backed by a booking of kind ``service`` (its money), but it is not time: it never
shows up where bookings are listed or counted as time — the bookings API and pages, calendars, the
founder's home, and the jobs that remind, release or mark no-shows."""

from __future__ import annotations

from datetime import timedelta

from booking.core import clock
from booking.core.db import db, write_intent
from booking.flow import attendance, calendar, founder_home, holds, notifications
from booking.models import Booking, BookingStatus, User
from instruments.models import ServiceOrder
from tests.support.service_orders import order_world, submit


def test_a_service_order_is_not_a_booking_anywhere(api, make, app, client, login):
    world = order_world(make)
    order_id = submit(api, world).json["id"]
    with app.app_context():
        booking_id = db.session.get(ServiceOrder, order_id).booking_id
        assert db.session.get(Booking, booking_id).kind == "service"
    for user in (world.owner, world.manager, make.finance(None), make.user("admin")):
        assert api.as_(user).get("/api/v1/bookings").json["items"] == [], user.email
        assert api.as_(user).get(f"/api/v1/bookings/{booking_id}").status_code == 404, user.email
    filtered = api.as_(world.owner).get(f"/api/v1/bookings?team_id={world.team.id}&status=confirmed")
    assert filtered.json["items"] == []
    # nor can the booking endpoints change it
    assert api.as_(world.owner).post(f"/api/v1/bookings/{booking_id}/cancel").status_code == 404
    assert api.as_(world.manager).post(f"/api/v1/bookings/{booking_id}/check-in").status_code == 404

    with app.app_context():
        owner = db.session.get(User, world.owner.id)
        assert founder_home.founder_overview(owner, clock.now()).upcoming == []
        feed, _secret = calendar.create_feed(owner, "user")
        assert calendar.feed_bookings(feed, clock.now()) == []
        db.session.rollback()

    login(world.owner)
    page = client.get("/bookings").get_data(as_text=True)
    assert f"/bookings/{booking_id}" not in page
    assert client.get(f"/bookings/{booking_id}").status_code == 404


def test_the_time_jobs_leave_orders_alone(api, make, app):
    world = order_world(make)
    order_id = submit(api, world).json["id"]
    with app.app_context(), write_intent():
        order = db.session.get(ServiceOrder, order_id)
        booking = order.booking
        # as if a reminder were due (the job looks at confirmed bookings starting soon)
        assert notifications.send_reminders(booking.starts_at - timedelta(hours=1)) == 0
        # and long after its "start": never a no-show, never released as unconfirmed
        later = booking.starts_at + timedelta(days=30)
        assert attendance.mark_no_shows(later) == 0
        assert holds.release_unconfirmed(later) == 0
        db.session.refresh(booking)
        assert booking.status == BookingStatus.CONFIRMED and booking.reminder_sent_at is None
        db.session.rollback()
