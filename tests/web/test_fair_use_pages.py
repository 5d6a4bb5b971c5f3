"""Fair use and self check-in on the pages: the instrument form's new fields, the quota and suspension
refusals in words, the founder's check-in buttons, the kiosk and the check-in page its QR code opens.

Pages are asserted in Chinese (the default UI language).
"""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import segno

from booking.core import clock
from booking.core.db import db, write_intent
from booking.flow.attendance import mark_no_shows
from booking.models import Booking
from instruments.models import Instrument
from tests.conftest import csrf_token
from tests.web.test_instrument_pages import book_form, text
from tests.web.test_training_pages import T

CST = ZoneInfo("Asia/Shanghai")


def dec(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 12, day, hour, minute, tzinfo=CST)


@pytest.fixture
def world(make):
    manager = make.user("lab_manager")
    lab = make.lab(manager=manager)
    founder = make.user("founder")
    team = make.team(owner=founder, verified=True, name="星火团队")
    return {"manager": manager, "lab": lab, "founder": founder, "team": team}


def status_of(app, booking_id: int) -> str:
    with app.app_context():
        return db.session.get(Booking, booking_id).status


# --- the instrument form ------------------------------------------------------------------------------------


EDIT = {
    "name": "共聚焦显微镜",
    "category": "microscopy",
    "hourly_rate_yuan": "100",
    "operation_mode": "market",
    "slot_minutes": "30",
    "min_minutes": "30",
    "max_minutes": "480",
    "lead_minutes": "60",
    "horizon_days": "90",
    "free_cancel_hours": "24",
    "late_cancel_fee_percent": "50",
    "no_show_grace_minutes": "15",
    "no_show_fee_percent": "100",
    "timezone": "Asia/Shanghai",
    "active": "y",
}


def test_the_instrument_form_edits_the_fair_use_fields(client, app, login, make, world):
    instrument = make.instrument(world["lab"])
    login(world["manager"])
    path = f"/lab/instruments/{instrument.id}"
    page = text(client.get(path))
    for label in ("公平使用", "每个团队同时可持有的未来预约数（上限）", "每个团队每周可预约小时数（上限）"):
        assert label in page
    assert "暂停预约前允许的爽约次数" in page and "团队成员自助签到和签退" in page
    assert "留空为不限。" in page  # the help text
    for name in (
        "max_future_bookings_per_team",
        "max_hours_per_team_per_week",
        "no_show_limit",
        "self_check_in",
    ):
        assert f'name="{name}"' in page
    token = csrf_token(client, path)
    refused = client.post(path, data={**EDIT, "csrf_token": token, "max_hours_per_team_per_week": "0"})
    assert refused.status_code == 422
    fair = {
        "max_future_bookings_per_team": "3",
        "max_hours_per_team_per_week": "12",
        "no_show_limit": "2",
        "self_check_in": "y",
    }
    assert client.post(path, data={**EDIT, "csrf_token": token, **fair}).status_code == 302
    with app.app_context():
        saved = db.session.get(Instrument, instrument.id)
        assert (
            saved.max_future_bookings_per_team,
            saved.max_hours_per_team_per_week,
            saved.no_show_limit,
            saved.self_check_in,
        ) == (3, 12, 2, True)
    assert client.post(path, data={**EDIT, "csrf_token": token}).status_code == 302  # emptied: no limits
    with app.app_context():
        saved = db.session.get(Instrument, instrument.id)
        assert saved.max_future_bookings_per_team is None and saved.self_check_in is False


# --- refusals in words --------------------------------------------------------------------------------------


def test_the_booking_form_says_which_quota_stops_it(client, login, make, world):
    instrument = make.instrument(world["lab"], max_future_bookings_per_team=1, max_hours_per_team_per_week=2)
    make.booking(world["team"], instrument, dec(2, 10), dec(2, 12), now=T)
    login(world["founder"])
    with clock.frozen_at(T):
        token = csrf_token(client, f"/instruments/{instrument.id}")
        data = book_form(token, world["team"].id, "2026-12-03", "10:00", "11:00", confirmed="")
        response = client.post(f"/instruments/{instrument.id}/book", data=data)
    page = text(response)
    assert response.status_code == 422
    assert "您的团队同时最多可持有本仪器的 1 个未来预约。" in page
    assert "您的团队每周（周一至周日）最多可预约本仪器 2 小时；2026-11-30 这一周已预约 2 小时。" in page
    assert "quota_exceeded" not in page


def test_a_suspended_team_is_told_until_when(client, app, login, make, world):
    instrument = make.instrument(world["lab"], no_show_limit=1)
    make.booking(world["team"], instrument, dec(1, 10), dec(1, 11), now=dec(1, 8))
    with app.app_context(), write_intent():
        assert mark_no_shows(dec(1, 11)) == 1
        db.session.commit()
    login(world["founder"])
    with clock.frozen_at(dec(1, 12)):
        page = text(client.get(f"/instruments/{instrument.id}"))
        assert "星火团队 在本实验室爽约次数过多，2027-03-01 10:00 之前不能预约其仪器。" in page
        token = csrf_token(client, f"/instruments/{instrument.id}")
        data = book_form(token, world["team"].id, "2026-12-03", "10:00", "11:00")
        refused = client.post(f"/instruments/{instrument.id}/book", data=data)
    assert refused.status_code == 422
    assert "您的团队在本实验室爽约次数过多，2027-03-01 10:00 之前不能预约其仪器。" in text(refused)
    assert "booking_suspended" not in text(refused)


# --- self check-in on the pages -----------------------------------------------------------------------------


def test_the_founder_checks_in_and_out_from_the_booking_page(client, app, login, make, world):
    instrument = make.instrument(world["lab"], self_check_in=True)
    booking = make.booking(world["team"], instrument, dec(2, 10), dec(2, 12), now=T)
    login(world["founder"])
    path = f"/bookings/{booking.id}"
    with clock.frozen_at(dec(2, 9, 30)):  # too early: no button, a hint
        page = text(client.get(path))
        assert f'action="/bookings/{booking.id}/check-in' not in page
        assert "可在开始前 15 分钟至宽限期结束之间在此自助签到。" in page
    with clock.frozen_at(dec(2, 9, 50)):
        page = text(client.get(path))
        assert f'action="/bookings/{booking.id}/check-in' in page
        token = csrf_token(client, path)
        done = client.post(f"/bookings/{booking.id}/check-in?next={path}", data={"csrf_token": token})
        assert done.status_code == 302 and done.headers["Location"].endswith(path)
    assert status_of(app, booking.id) == "checked_in"
    with clock.frozen_at(dec(2, 11, 50)):
        page = text(client.get(path))
        assert f'action="/bookings/{booking.id}/check-out' in page
        client.post(f"/bookings/{booking.id}/check-out", data={"csrf_token": csrf_token(client, path)})
    assert status_of(app, booking.id) == "completed"


def test_a_refused_self_check_in_is_said_in_words(client, app, login, make, world):
    instrument = make.instrument(world["lab"], self_check_in=True)
    booking = make.booking(world["team"], instrument, dec(2, 10), dec(2, 12), now=T)
    login(world["founder"])
    with clock.frozen_at(dec(2, 9)):
        token = csrf_token(client, f"/bookings/{booking.id}")
        done = client.post(
            f"/bookings/{booking.id}/check-in", data={"csrf_token": token}, follow_redirects=True
        )
    assert "可在开始前 15 分钟至宽限期结束之间签到。" in text(done)
    assert status_of(app, booking.id) == "confirmed"


def test_no_buttons_without_self_check_in(client, login, make, world):
    instrument = make.instrument(world["lab"])
    booking = make.booking(world["team"], instrument, dec(2, 10), dec(2, 12), now=T)
    login(world["founder"])
    with clock.frozen_at(dec(2, 10)):
        page = text(client.get(f"/bookings/{booking.id}"))
    assert "/check-in" not in page


def test_the_check_in_page_offers_the_booking_in_its_window(client, app, login, make, world):
    instrument = make.instrument(world["lab"], self_check_in=True)
    booking = make.booking(world["team"], instrument, dec(2, 10), dec(2, 12), now=T)
    login(world["founder"])
    path = f"/instruments/{instrument.id}/check-in"
    with clock.frozen_at(dec(2, 9)):
        page = text(client.get(path))
        assert "您的团队目前没有可签到的本仪器预约" in page and "<button" not in page.split("<main>")[1]
    with clock.frozen_at(dec(2, 10, 5)):
        page = text(client.get(path))
        assert "星火团队" in page and f'action="/bookings/{booking.id}/check-in?next=' in page
        client.post(
            f"/bookings/{booking.id}/check-in?next={path}", data={"csrf_token": csrf_token(client, path)}
        )
        assert status_of(app, booking.id) == "checked_in"
        page = text(client.get(path))
        assert f'action="/bookings/{booking.id}/check-out?next=' in page and "已签到" in page


def test_the_check_in_page_without_self_check_in(client, login, make, world):
    instrument = make.instrument(world["lab"])
    login(world["founder"])
    page = text(client.get(f"/instruments/{instrument.id}/check-in"))
    assert "本仪器不支持自助签到" in page


# --- the kiosk ----------------------------------------------------------------------------------------------


def test_the_kiosk_shows_now_next_and_a_qr_code_of_the_check_in_page(client, login, make, world):
    instrument = make.instrument(world["lab"], self_check_in=True, name="原子力显微镜")
    make.booking(world["team"], instrument, dec(2, 10), dec(2, 12), now=T)
    other = make.team(owner=make.user("founder"), verified=True, name="远航团队")
    make.booking(other, instrument, dec(2, 14), dec(2, 15), now=T)
    login(world["manager"])
    with clock.frozen_at(dec(2, 10, 30)):
        page = text(client.get(f"/instruments/{instrument.id}/kiosk"))
    assert '<meta http-equiv="refresh" content="60">' in page
    now_section = page.split('id="kiosk-now"')[1].split('id="kiosk-next"')[0]
    assert "星火团队" in now_section and "10:00–12:00" in now_section and "已确认" in now_section
    next_section = page.split('id="kiosk-next"')[1].split('id="kiosk-qr"')[0]
    assert "远航团队" in next_section and "14:00–15:00" in next_section
    url = f"http://localhost/instruments/{instrument.id}/check-in"
    assert f'data-check-in-url="{url}"' in page
    # the inline SVG is the QR code of exactly that address
    [svg] = re.findall(r"<svg.*?</svg>", page, re.S)
    expected = segno.make(url, error="m").svg_inline(scale=8, border=2, title=url)
    assert svg == expected
    assert "<script" not in page


def test_the_kiosk_is_for_the_labs_managers(client, login, make, world):
    instrument = make.instrument(make.lab())  # another lab's
    login(world["manager"])
    assert client.get(f"/instruments/{instrument.id}/kiosk").status_code == 404
