"""The HTML side of booking series and moving a booking: the form's repeat option, the series page
(booked and skipped with a translated reason), cancelling the rest behind a confirmation, the booking
page's move form, and the calendar's series mark. Chinese by default; 2026-03-02 is a Monday."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from booking.core import clock
from booking.core.db import db
from booking.models import Booking, BookingSeries
from tests.conftest import csrf_token
from tests.web.test_instrument_pages import book_form, text

CST = ZoneInfo("Asia/Shanghai")
BEFORE = datetime(2026, 2, 25, 10, 0, tzinfo=CST)  # Wednesday of the week before


def cst(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=CST)


@pytest.fixture
def setup(make):
    founder = make.user("founder")
    team = make.team(owner=founder, verified=True, name="星火团队")
    other = make.user("founder")
    other_team = make.team(owner=other, verified=True, name="山城团队")
    lab = make.lab(manager=make.user("lab_manager"), name="重大分析测试中心")
    instrument = make.instrument(lab, name="共聚焦显微镜", free_cancel_hours=24, late_cancel_fee_bp=5000)
    return founder, team, other_team, instrument


def series_rows(app):
    with app.app_context():
        return list(db.session.scalars(select(BookingSeries)))


def test_weekly_series_from_the_form_lists_booked_and_skipped(client, app, make, login, setup):
    founder, team, other_team, instrument = setup
    make.booking(other_team, instrument, cst(9, 9), cst(9, 10), now=BEFORE)  # week 2 taken
    login(founder)
    with clock.frozen_at(BEFORE):
        token = csrf_token(client, f"/instruments/{instrument.id}")
        data = book_form(
            token,
            team.id,
            "2026-03-02",
            "09:00",
            "10:00",
            repeat="week",
            repeat_count="4",
            on_conflict="skip",
        )
        review = client.post(f"/instruments/{instrument.id}/book", data={**data, "confirmed": ""})
        assert review.status_code == 200 and "共预约 4 次" in text(review)
        assert series_rows(app) == []
        response = client.post(f"/instruments/{instrument.id}/book", data=data)
        assert response.status_code == 302, text(response)[:2000]
        page = text(client.get(response.headers["Location"]))
    assert "系列预约完成：已预约 3 次，跳过 1 次。" in page
    assert "已预约（3）" in page and "已跳过（1）" in page
    assert "2026-03-09 周一 09:00" in page and "已被他人预约" in page  # the skipped one, translated
    assert "slot_taken" not in page
    assert "取消其余 3 个预约" in page and "将免费取消 3 个尚未开始的预约" in page


def test_refuse_all_books_nothing_and_says_which_occurrence(client, app, make, login, setup):
    founder, team, _other_team, instrument = setup
    make.blackout(instrument, cst(16, 8), cst(16, 12))
    login(founder)
    with clock.frozen_at(BEFORE):
        token = csrf_token(client, f"/instruments/{instrument.id}")
        data = book_form(
            token,
            team.id,
            "2026-03-02",
            "09:00",
            "10:00",
            repeat="week",
            repeat_count="4",
            on_conflict="fail",
        )
        response = client.post(f"/instruments/{instrument.id}/book", data=data)
    assert response.status_code == 422
    assert "2026-03-16 09:00 这一次" in text(response) and "维护" in text(response)
    with app.app_context():
        assert db.session.scalars(select(Booking)).all() == []


def test_bad_repeat_count_is_shown_on_the_form(client, login, setup):
    founder, team, _other_team, instrument = setup
    login(founder)
    with clock.frozen_at(BEFORE):
        token = csrf_token(client, f"/instruments/{instrument.id}")
        data = book_form(token, team.id, "2026-03-02", "09:00", "10:00", repeat="day", repeat_count="60")
        response = client.post(f"/instruments/{instrument.id}/book", data=data)
    assert response.status_code == 422


def test_cancel_the_rest_of_a_series_from_the_booking_page(client, app, make, login, setup):
    founder, team, _other_team, instrument = setup
    login(founder)
    with clock.frozen_at(BEFORE):
        token = csrf_token(client, f"/instruments/{instrument.id}")
        data = book_form(token, team.id, "2026-03-02", "09:00", "11:00", repeat="day", repeat_count="3")
        client.post(f"/instruments/{instrument.id}/book", data=data)
    with app.app_context():
        first = db.session.scalars(select(Booking).order_by(Booking.starts_at)).first()
        first_id, series_id = first.id, first.series_id
    with clock.frozen_at(cst(2, 10)):  # the first has started; the next is within 24 h: ¥100.00 fee
        page = text(client.get(f"/bookings/{first_id}"))
        assert "系列预约" in page and f'href="/booking-series/{series_id}"' in page
        assert "取消其余 2 个预约" in page and "¥100.00" in page
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
        response = client.post(f"/booking-series/{series_id}/cancel", data={"csrf_token": token})
        assert response.status_code == 302
        flashed = text(client.get(response.headers["Location"]))
    assert "已取消该系列的 2 个预约；迟取消费共 ¥100.00" in flashed
    with app.app_context():
        statuses = [b.status for b in db.session.scalars(select(Booking).order_by(Booking.starts_at))]
    assert statuses == ["confirmed", "cancelled", "cancelled"]
    assert "系列" in text(client.get("/bookings"))


def test_move_a_booking_from_its_page(client, app, make, login, setup):
    founder, team, other_team, instrument = setup
    booking = make.booking(team, instrument, cst(2, 9), cst(2, 10), now=BEFORE)
    make.booking(other_team, instrument, cst(3, 9), cst(3, 10), now=BEFORE)
    login(founder)
    with clock.frozen_at(BEFORE):
        page = text(client.get(f"/bookings/{booking.id}"))
        assert "改期" in page and 'value="2026-03-02"' in page
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
        form = {"csrf_token": token, "move-date": "2026-03-03", "move-starts": "09:00", "move-ends": "10:00"}
        refused = client.post(f"/bookings/{booking.id}/reschedule", data=form)
        assert refused.status_code == 409 and "已被他人预约" in text(refused)
        moved = client.post(
            f"/bookings/{booking.id}/reschedule", data={**form, "move-starts": "14:00", "move-ends": "16:00"}
        )
        assert moved.status_code == 302
        assert "预约已改期" in text(client.get(moved.headers["Location"]))
    with app.app_context():
        again = db.session.get(Booking, booking.id)
        assert (again.starts_at, again.ends_at) == (
            datetime(2026, 3, 3, 6, tzinfo=UTC),
            datetime(2026, 3, 3, 8, tzinfo=UTC),
        )
        assert again.estimated_cost_fen == 20_000


def test_calendar_marks_series_occurrences(client, login, setup):
    founder, team, _other_team, instrument = setup
    login(founder)
    with clock.frozen_at(BEFORE):
        token = csrf_token(client, f"/instruments/{instrument.id}")
        client.post(
            f"/instruments/{instrument.id}/book",
            data=book_form(token, team.id, "2026-03-02", "09:00", "10:00", repeat="day", repeat_count="2"),
        )
        page = text(client.get(f"/instruments/{instrument.id}?week=2026-03-02"))
    assert re.search(r'class="slot mine in-series" data-date="2026-03-02" data-time="09:00"', page)
    assert "您的系列预约" in page
