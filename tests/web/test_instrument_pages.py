"""The HTML side of instrument booking: catalogue, week calendar, booking form, my bookings with
cancellation, and the lab console (instruments, opening hours, closures, training, approvals, check-in).

Pages are asserted in Chinese (the default UI language) unless a test switches to English. Times are
Beijing time (Asia/Shanghai, UTC+8); 2026-03-02 is a Monday.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from uuid import uuid4
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from booking.core import clock
from booking.core.db import db
from booking.models import Booking
from instruments.models import Blackout, Instrument, OpeningHours, Qualification
from tests.conftest import csrf_token, sign_in

CST = ZoneInfo("Asia/Shanghai")
BEFORE = datetime(2026, 2, 25, 10, 0, tzinfo=CST)  # Wednesday of the week before
SLOT_RE = re.compile(r'<td class="slot (\w+)" data-date="([\d-]+)" data-time="([\d:]+)">')


def cst(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=CST)


def text(response) -> str:
    return response.get_data(as_text=True)


def cells(page: str) -> dict[tuple[str, str], str]:
    """The calendar's cells: (date, HH:MM) -> state."""
    return {(day, at): state for state, day, at in SLOT_RE.findall(page)}


def rows(app, model, *where):
    with app.app_context():
        return list(db.session.scalars(select(model).where(*where)))


def booking_count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Booking))


def get_booking(app, booking_id: int) -> Booking:
    with app.app_context():
        return db.session.get(Booking, booking_id)


def get_instrument(app, instrument_id: int) -> Instrument:
    with app.app_context():
        instrument = db.session.get(Instrument, instrument_id)
        instrument.opening_hours  # noqa: B018 - load before the context ends
        return instrument


@pytest.fixture
def other_client(app):
    """A second browser, for a second user."""
    return app.test_client()


@pytest.fixture
def founder_setup(make):
    founder = make.user("founder")
    team = make.team(owner=founder, verified=True, name="星火团队")
    manager = make.user("lab_manager")
    lab = make.lab(manager=manager, name="重大分析测试中心")
    instrument = make.instrument(lab, name="共聚焦显微镜", late_cancel_fee_bp=5000)
    return founder, team, manager, lab, instrument


def book_form(token: str, team_id: int, day: str, starts: str, ends: str, **extra) -> dict:
    """The booking form as submitted at its confirm step (after the price was shown)."""
    return {
        "confirmed": "yes",
        "csrf_token": token,
        "request_key": uuid4().hex,
        "team_id": str(team_id),
        "date": day,
        "starts": starts,
        "ends": ends,
        "use_vouchers": "y",
        **extra,
    }


# --- catalogue ---------------------------------------------------------------------------------------------


def test_catalogue_searches_and_filters(client, make, login, founder_setup):
    founder, _team, _manager, lab, _confocal = founder_setup
    other_lab = make.lab(district_code="500103", name="渝中创新实验室")
    make.instrument(
        other_lab,
        name="质谱仪",
        category="spectrometry",
        operation_mode="public_interest",
        hourly_rate_fen=5050,
        requires_approval=True,
    )
    make.instrument(lab, name="退役显微镜", active=False)
    login(founder)

    page = text(client.get("/instruments"))
    assert "共聚焦显微镜" in page and "质谱仪" in page
    assert "退役显微镜" not in page  # withdrawn instruments are not listed
    assert "¥50.50/小时" in page and "¥100.00/小时" in page
    assert "公益性" in page and "市场化" in page  # operation modes translated
    assert "需审批" in page  # approval badge
    assert "渝中区" in page and "沙坪坝区" in page  # districts by name

    page = text(client.get("/instruments?q=共聚焦"))
    assert "共聚焦显微镜" in page and "质谱仪" not in page
    page = text(client.get("/instruments?category=spectrometry"))
    assert "质谱仪" in page and "共聚焦显微镜" not in page
    page = text(client.get("/instruments?district_code=500106"))
    assert "共聚焦显微镜" in page and "质谱仪" not in page
    page = text(client.get("/instruments?q=nothing-like-this"))
    assert "没有符合条件的仪器" in page


def test_catalogue_free_between_leaves_out_booked_instruments(client, make, login, founder_setup):
    founder, team, _manager, lab, confocal = founder_setup
    second = make.instrument(lab, name="扫描电镜")
    make.booking(team, confocal, cst(2, 9), cst(2, 11), now=BEFORE)
    login(founder)
    with clock.frozen_at(BEFORE):
        page = text(client.get("/instruments?date=2026-03-02&free_from=10:00&free_to=11:00"))
        assert "扫描电镜" in page and "共聚焦显微镜" not in page
        page = text(client.get("/instruments?date=2026-03-02&free_from=11:00&free_to=12:00"))
        assert "扫描电镜" in page and "共聚焦显微镜" in page
        # a Saturday: both closed
        page = text(client.get("/instruments?date=2026-03-07&free_from=10:00&free_to=11:00"))
        assert "扫描电镜" not in page and "共聚焦显微镜" not in page
        # half a range is refused with a message, not ignored
        page = text(client.get("/instruments?date=2026-03-02&free_from=10:00"))
        assert "请填写日期及起止时间" in page
    assert second.id


def test_pages_need_sign_in(client, founder_setup):
    instrument = founder_setup[4]
    for path in ("/instruments", f"/instruments/{instrument.id}", "/bookings", "/lab"):
        response = client.get(path)
        assert response.status_code == 302 and "/sign-in" in response.headers["Location"]


# --- the week calendar -------------------------------------------------------------------------------------


def test_calendar_shows_free_busy_closed_and_blackout_in_local_time(client, make, login, founder_setup):
    founder, team, _manager, _lab, instrument = founder_setup
    rival = make.team(verified=True)
    make.booking(rival, instrument, cst(2, 9), cst(2, 10), now=BEFORE)  # 01:00–02:00 UTC
    make.booking(team, instrument, cst(4, 15), cst(4, 16), now=BEFORE)
    make.blackout(instrument, cst(3, 14), cst(3, 16))
    login(founder)
    with clock.frozen_at(BEFORE):
        page = text(client.get(f"/instruments/{instrument.id}?week=2026-03-04"))  # any day of the week
    grid = cells(page)
    assert len(grid) == 7 * 20  # 08:00–18:00 in 30-minute rows
    assert min(at for _, at in grid) == "08:00" and max(at for _, at in grid) == "17:30"
    assert grid[("2026-03-02", "08:30")] == "free"
    assert grid[("2026-03-02", "09:00")] == "busy" and grid[("2026-03-02", "09:30")] == "busy"
    assert grid[("2026-03-02", "10:00")] == "free"
    assert grid[("2026-03-03", "13:30")] == "free"
    assert grid[("2026-03-03", "14:00")] == "blackout" and grid[("2026-03-03", "15:30")] == "blackout"
    assert grid[("2026-03-03", "16:00")] == "free"
    assert grid[("2026-03-04", "15:00")] == "mine"
    assert grid[("2026-03-07", "09:00")] == "closed"  # Saturday
    # a free cell links to the booking form with the shortest booking from there
    assert (
        f'href="/instruments/{instrument.id}?week=2026-03-02&amp;date=2026-03-02&amp;start=10:00&amp;end=10:30#book"'
        in page
    )
    assert "周一" in page and "3/2" in page
    # week navigation
    assert f'href="/instruments/{instrument.id}?week=2026-02-23#calendar"' in page
    assert f'href="/instruments/{instrument.id}?week=2026-03-09#calendar"' in page


def test_calendar_marks_past_and_lead_time_not_bookable(client, login, founder_setup):
    founder, *_rest, instrument = founder_setup
    login(founder)
    with clock.frozen_at(cst(2, 9, 10)):  # Monday 09:10; lead time 60 minutes
        grid = cells(text(client.get(f"/instruments/{instrument.id}")))
    assert grid[("2026-03-02", "08:00")] == "unavailable"
    assert grid[("2026-03-02", "10:00")] == "unavailable"  # inside the lead time
    assert grid[("2026-03-02", "10:30")] == "free"


def test_calendar_uses_the_instruments_timezone(client, make, login, founder_setup):
    founder, team, _manager, lab, _instrument = founder_setup
    berlin = make.instrument(lab, name="Berlin", timezone="Europe/Berlin", hours=((0, 9 * 60, 12 * 60),))
    make.booking(team, berlin, datetime(2026, 3, 2, 9, tzinfo=UTC), datetime(2026, 3, 2, 10, tzinfo=UTC))
    login(founder)
    with clock.frozen_at(BEFORE):
        grid = cells(text(client.get(f"/instruments/{berlin.id}?week=2026-03-02")))
    assert grid[("2026-03-02", "10:00")] == "mine"  # 09:00 UTC is 10:00 in Berlin (CET)
    assert grid[("2026-03-02", "09:30")] == "free"


# --- booking through the form ------------------------------------------------------------------------------


def test_founder_books_through_the_form_and_sees_it_in_my_bookings(client, app, login, founder_setup):
    founder, team, _manager, _lab, instrument = founder_setup
    login(founder)
    with clock.frozen_at(BEFORE):
        path = f"/instruments/{instrument.id}?week=2026-03-02&date=2026-03-02&start=09:00&end=10:30"
        page = text(client.get(path))
        assert 'value="2026-03-02"' in page and 'value="09:00"' in page and 'value="10:30"' in page
        token = csrf_token(client, path)
        response = client.post(
            f"/instruments/{instrument.id}/book",
            data=book_form(token, team.id, "2026-03-02", "09:00", "10:30"),
        )
        assert response.status_code == 302
        booking_id = int(response.headers["Location"].rsplit("/", 1)[1])
        detail = text(client.get(response.headers["Location"]))
        assert "预约成功" in detail
        assert "2026-03-02 周一 09:00" in detail and "2026-03-02 周一 10:30" in detail
        assert "¥150.00" in detail and "已确认" in detail
        mine = text(client.get("/bookings"))
    booking = get_booking(app, booking_id)
    assert booking.starts_at == datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
    assert booking.ends_at == datetime(2026, 3, 2, 2, 30, tzinfo=UTC)
    assert booking.team_id == team.id and booking.status == "confirmed" and booking.use_vouchers
    assert booking.estimated_cost_fen == 15_000
    assert "共聚焦显微镜" in mine and "¥150.00" in mine and "已确认" in mine
    assert f'href="/bookings/{booking_id}"' in mine


def test_the_form_shows_the_voucher_split_before_booking(client, app, make, login, founder_setup):
    founder, team, _manager, _lab, instrument = founder_setup
    make.voucher(team, make.program(rate_bp=3000), 100_000, at=BEFORE)
    make.voucher(
        team,
        make.program(level="district", district_code=team.district_code, rate_bp=5000, stack_ceiling_bp=7000),
        100_000,
        at=BEFORE,
    )
    login(founder)
    with clock.frozen_at(BEFORE):
        token = csrf_token(client, f"/instruments/{instrument.id}")
        data = book_form(token, team.id, "2026-03-02", "09:00", "10:30", confirmed="")
        review = client.post(f"/instruments/{instrument.id}/book", data=data)
        assert review.status_code == 200
        page = text(review)
        # ¥150.00: municipal 30 % = ¥45.00; district min(50 %, 70 % − 30 %) = ¥60.00; the team ¥45.00
        assert "请核对价格" in page and "¥150.00" in page and "¥45.00" in page and "¥60.00" in page
        assert 'name="confirmed" type="hidden" value="yes"' in page and "确认预约" in page
        assert booking_count(app) == 0  # nothing booked until confirmed
        booked = client.post(f"/instruments/{instrument.id}/book", data={**data, "confirmed": "yes"})
    assert booked.status_code == 302 and booking_count(app) == 1


def test_a_double_submitted_booking_form_books_once(client, app, login, founder_setup):
    founder, team, _manager, _lab, instrument = founder_setup
    login(founder)
    with clock.frozen_at(BEFORE):
        token = csrf_token(client, f"/instruments/{instrument.id}")
        data = book_form(token, team.id, "2026-03-02", "09:00", "10:00")
        first = client.post(f"/instruments/{instrument.id}/book", data=data)
        second = client.post(f"/instruments/{instrument.id}/book", data=data)
        reused = client.post(
            f"/instruments/{instrument.id}/book", data={**data, "starts": "11:00", "ends": "12:00"}
        )
    assert first.status_code == second.status_code == 302
    assert first.headers["Location"] == second.headers["Location"]
    assert booking_count(app) == 1
    assert reused.status_code == 422 and "此表单已用于一次预约" in text(reused)


def test_booking_an_instrument_needing_approval_waits(client, app, make, login, founder_setup):
    founder, team, _manager, lab, _instrument = founder_setup
    instrument = make.instrument(lab, requires_approval=True)
    login(founder)
    with clock.frozen_at(BEFORE):
        token = csrf_token(client, f"/instruments/{instrument.id}")
        response = client.post(
            f"/instruments/{instrument.id}/book",
            data=book_form(token, team.id, "2026-03-02", "09:00", "10:00"),
            follow_redirects=True,
        )
    assert "预约申请已提交" in text(response) and "待审批" in text(response)
    assert [b.status for b in rows(app, Booking, Booking.instrument_id == instrument.id)] == [
        "pending_approval"
    ]


def test_refused_bookings_are_explained_on_the_form_in_the_users_language(
    client, app, make, login, founder_setup
):
    founder, team, _manager, _lab, instrument = founder_setup
    make.booking(make.team(verified=True), instrument, cst(2, 9), cst(2, 10), now=BEFORE)
    before = booking_count(app)
    login(founder)
    with clock.frozen_at(BEFORE):
        token = csrf_token(client, f"/instruments/{instrument.id}")
        book = f"/instruments/{instrument.id}/book"
        off_grid = client.post(book, data=book_form(token, team.id, "2026-03-02", "11:10", "12:00"))
        taken = client.post(book, data=book_form(token, team.id, "2026-03-02", "09:30", "10:30"))
        client.get("/language/en")
        taken_en = client.post(book, data=book_form(token, team.id, "2026-03-02", "09:30", "10:30"))
    assert off_grid.status_code == 422
    assert "开始和结束时间须以 30 分钟为单位" in text(off_grid)
    assert 'value="11:10"' in text(off_grid)  # the form keeps what was typed
    assert taken.status_code == 409
    assert "该时段（或其中一部分）已被他人预约" in text(taken)
    assert "Someone else has booked (part of) this time." in text(taken_en)
    assert booking_count(app) == before


def test_booking_needs_training_when_the_instrument_requires_it(client, app, make, login, founder_setup):
    founder, team, _manager, lab, _instrument = founder_setup
    instrument = make.instrument(lab, requires_training=True)
    login(founder)
    with clock.frozen_at(BEFORE):
        token = csrf_token(client, f"/instruments/{instrument.id}")
        refused = client.post(
            f"/instruments/{instrument.id}/book",
            data=book_form(token, team.id, "2026-03-02", "09:00", "10:00"),
        )
        make.qualify(instrument, founder)
        accepted = client.post(
            f"/instruments/{instrument.id}/book",
            data=book_form(token, team.id, "2026-03-02", "09:00", "10:00"),
        )
    assert refused.status_code == 422 and "只有接受过该仪器培训的人员才能预约" in text(refused)
    assert accepted.status_code == 302


def test_booking_without_csrf_token_is_refused_and_books_nothing(client, app, login, founder_setup):
    founder, team, _manager, _lab, instrument = founder_setup
    login(founder)
    with clock.frozen_at(BEFORE):
        data = book_form("", team.id, "2026-03-02", "09:00", "10:00")
        del data["csrf_token"]
        response = client.post(f"/instruments/{instrument.id}/book", data=data)
    assert response.status_code == 400
    assert booking_count(app) == 0


def test_lab_managers_see_the_calendar_but_cannot_book(client, login, founder_setup):
    _founder, _team, manager, _lab, instrument = founder_setup
    login(manager)
    with clock.frozen_at(BEFORE):
        page = text(client.get(f"/instruments/{instrument.id}"))
        token = csrf_token(client, f"/instruments/{instrument.id}")
        response = client.post(f"/instruments/{instrument.id}/book", data={"csrf_token": token})
    assert "管理此仪器" in page and 'action="/instruments/' not in page
    assert response.status_code == 403


# --- my bookings and cancelling ----------------------------------------------------------------------------


def test_cancel_warns_about_the_late_fee_and_charges_it(client, app, make, login, founder_setup):
    founder, team, _manager, _lab, instrument = founder_setup
    late = make.booking(team, instrument, cst(2, 9), cst(2, 11), now=BEFORE)  # ¥200, late fee 50%
    early = make.booking(team, instrument, cst(6, 9), cst(6, 10), now=BEFORE)
    login(founder)
    with clock.frozen_at(cst(1, 20)):  # 13 hours before the first; free cancellation ends 24 hours before
        page = text(client.get(f"/bookings/{late.id}"))
        assert "现在取消需支付逾期取消违约金 ¥100.00" in page
        free_page = text(client.get(f"/bookings/{early.id}"))
        assert "之前取消免费" in free_page and "违约金 ¥" not in free_page
        token = csrf_token(client, f"/bookings/{late.id}")
        response = client.post(
            f"/bookings/{late.id}/cancel",
            data={"cancel-csrf_token": token, "cancel-reason": "设备计划有变"},
            follow_redirects=True,
        )
        assert "预约已取消。团队需支付逾期取消违约金 ¥100.00。" in text(response)
        response = client.post(
            f"/bookings/{early.id}/cancel", data={"cancel-csrf_token": token}, follow_redirects=True
        )
        assert "预约已免费取消" in text(response)
        listing = text(client.get("/bookings"))
    cancelled = get_booking(app, late.id)
    assert (
        cancelled.status == "cancelled" and cancelled.fee_fen == 10_000 and cancelled.reason == "设备计划有变"
    )
    assert get_booking(app, early.id).fee_fen == 0
    assert "已取消" in listing and "¥100.00" in listing


def test_cancelling_without_csrf_token_changes_nothing(client, app, make, login, founder_setup):
    founder, team, _manager, _lab, instrument = founder_setup
    booking = make.booking(team, instrument, cst(2, 9), cst(2, 10), now=BEFORE)
    login(founder)
    with clock.frozen_at(BEFORE):
        response = client.post(f"/bookings/{booking.id}/cancel", data={"cancel-reason": "x"})
    assert response.status_code == 400
    assert get_booking(app, booking.id).status == "confirmed"


def test_bookings_of_other_teams_are_not_found(client, make, login, founder_setup):
    _founder, team, _manager, _lab, instrument = founder_setup
    booking = make.booking(team, instrument, cst(2, 9), cst(2, 10), now=BEFORE)
    login(make.user("founder"))
    assert client.get(f"/bookings/{booking.id}").status_code == 404
    assert "共聚焦显微镜" not in text(client.get("/bookings"))


def test_my_bookings_lists_upcoming_first_then_past(client, make, login, founder_setup):
    founder, team, _manager, _lab, instrument = founder_setup
    past = make.booking(team, instrument, cst(2, 9), cst(2, 10), now=BEFORE)
    soon = make.booking(team, instrument, cst(12, 9), cst(12, 10), now=BEFORE)
    later = make.booking(team, instrument, cst(10, 9), cst(10, 10), now=BEFORE)
    login(founder)
    with clock.frozen_at(cst(5, 12)):
        page = text(client.get("/bookings"))
    order = [page.index(f'href="/bookings/{b.id}"') for b in (later, soon, past)]
    assert order == sorted(order)
    assert page.index("已结束") < order[2]  # the past one is under "Past"


# --- the lab console ---------------------------------------------------------------------------------------


def test_founders_may_not_open_the_lab_console(client, login, founder_setup):
    founder, *_rest, instrument = founder_setup
    login(founder)
    assert client.get("/lab").status_code == 403
    assert client.get(f"/lab/instruments/{instrument.id}").status_code == 403
    assert client.get("/lab/instruments/new").status_code == 403


def test_another_labs_manager_gets_not_found(client, app, make, login, founder_setup):
    instrument = founder_setup[4]
    stranger = make.user("lab_manager")
    make.lab(manager=stranger)
    login(stranger)
    assert client.get(f"/lab/instruments/{instrument.id}").status_code == 404
    token = csrf_token(client, "/lab")
    response = client.post(
        f"/lab/instruments/{instrument.id}/hours",
        data={"csrf_token": token, "d0_0_opens": "00:00", "d0_0_closes": "24:00"},
    )
    assert response.status_code == 404
    hours = get_instrument(app, instrument.id).opening_hours
    assert [(h.weekday, h.opens_minute, h.closes_minute) for h in hours] == [(d, 480, 1080) for d in range(5)]
    assert "共聚焦显微镜" not in text(client.get("/lab"))


def test_lab_manager_publishes_an_instrument(client, app, make, login):
    manager = make.user("lab_manager")
    lab = make.lab(manager=manager, name="光谱实验室")
    login(manager)
    assert 'href="/lab/instruments/new"' in text(client.get("/lab"))
    token = csrf_token(client, "/lab/instruments/new")
    data = {
        "csrf_token": token,
        "lab_id": str(lab.id),
        "name": "拉曼光谱仪",
        "category": "spectroscopy",
        "description": "532 nm 激光",
        "location": "A 楼 203",
        "hourly_rate_yuan": "120.50",
        "operation_mode": "project",
        "slot_minutes": "60",
        "min_minutes": "60",
        "max_minutes": "240",
        "lead_minutes": "120",
        "horizon_days": "30",
        "requires_training": "y",
        "free_cancel_hours": "48",
        "late_cancel_fee_percent": "25",
        "no_show_grace_minutes": "10",
        "no_show_fee_percent": "100",
        "timezone": "Asia/Shanghai",
    }
    too_short = client.post("/lab/instruments/new", data={**data, "max_minutes": "30"})
    assert too_short.status_code == 422 and "不能短于最短预约时长" in text(too_short)
    response = client.post("/lab/instruments/new", data=data)
    assert response.status_code == 302
    [instrument] = rows(app, Instrument, Instrument.lab_id == lab.id)
    assert response.headers["Location"] == f"/lab/instruments/{instrument.id}#hours"
    assert (instrument.name, instrument.hourly_rate_fen, instrument.operation_mode) == (
        "拉曼光谱仪",
        12_050,
        "project",
    )
    assert (instrument.late_cancel_fee_bp, instrument.no_show_fee_bp) == (2500, 10_000)
    assert instrument.requires_training and not instrument.requires_approval and instrument.active
    assert "拉曼光谱仪" in text(client.get("/lab"))


def test_lab_manager_edits_details_and_withdraws_an_instrument(client, app, login, founder_setup):
    founder, _team, manager, _lab, instrument = founder_setup
    login(manager)
    page = text(client.get(f"/lab/instruments/{instrument.id}"))
    assert 'value="100.00"' in page and 'value="50"' in page  # yuan and per cent, not fen and bp
    token = csrf_token(client, f"/lab/instruments/{instrument.id}")
    data = {
        "csrf_token": token,
        "name": "共聚焦显微镜 II",
        "category": "microscopy",
        "hourly_rate_yuan": "80",
        "operation_mode": "public_interest",
        "slot_minutes": "30",
        "min_minutes": "30",
        "max_minutes": "480",
        "lead_minutes": "60",
        "horizon_days": "90",
        "requires_approval": "y",
        "free_cancel_hours": "24",
        "late_cancel_fee_percent": "50",
        "no_show_grace_minutes": "15",
        "no_show_fee_percent": "100",
        "timezone": "Mars/Olympus",
    }
    bad = client.post(f"/lab/instruments/{instrument.id}", data=data)
    assert bad.status_code == 422 and "不是有效的时区名称" in text(bad)
    response = client.post(f"/lab/instruments/{instrument.id}", data={**data, "timezone": "Asia/Shanghai"})
    assert response.status_code == 302
    saved = get_instrument(app, instrument.id)
    assert (saved.name, saved.hourly_rate_fen, saved.operation_mode) == (
        "共聚焦显微镜 II",
        8000,
        "public_interest",
    )
    assert saved.requires_approval and not saved.active  # "active" unchecked: withdrawn
    client.post("/sign-out", data={"csrf_token": token})
    sign_in(client, founder)
    assert "共聚焦显微镜" not in text(client.get("/instruments"))
    assert client.get(f"/instruments/{instrument.id}").status_code == 404


def test_lab_manager_edits_opening_hours(client, app, login, founder_setup):
    _founder, _team, manager, _lab, instrument = founder_setup
    login(manager)
    page = text(client.get(f"/lab/instruments/{instrument.id}"))
    assert 'name="d0_0_opens" placeholder="时:分" size="5" type="text" value="08:00"' in page
    token = csrf_token(client, f"/lab/instruments/{instrument.id}")
    path = f"/lab/instruments/{instrument.id}/hours"

    inverted = client.post(path, data={"csrf_token": token, "d0_0_opens": "12:00", "d0_0_closes": "10:00"})
    assert inverted.status_code == 422 and "必须晚于开放时间" in text(inverted)
    overlapping = {
        "csrf_token": token,
        "d0_0_opens": "08:00",
        "d0_0_closes": "12:00",
        "d0_1_opens": "11:00",
        "d0_1_closes": "13:00",
    }
    response = client.post(path, data=overlapping)
    assert response.status_code == 422 and "同一天的两个开放时段有重叠" in text(response)
    assert len(get_instrument(app, instrument.id).opening_hours) == 5  # unchanged: Mon–Fri 08–18

    response = client.post(
        path,
        data={
            "csrf_token": token,
            "d0_0_opens": "08:00",
            "d0_0_closes": "12:00",
            "d0_1_opens": "13:00",
            "d0_1_closes": "18:00",
            "d5_0_opens": "09:00",
            "d5_0_closes": "24:00",
        },
    )
    assert response.status_code == 302 and response.headers["Location"].endswith("#hours")
    hours = [
        (h.weekday, h.opens_minute, h.closes_minute) for h in get_instrument(app, instrument.id).opening_hours
    ]
    assert hours == [(0, 480, 720), (0, 780, 1080), (5, 540, 1440)]


def test_opening_hours_without_csrf_token_change_nothing(client, app, login, founder_setup):
    _founder, _team, manager, _lab, instrument = founder_setup
    login(manager)
    response = client.post(
        f"/lab/instruments/{instrument.id}/hours", data={"d0_0_opens": "00:00", "d0_0_closes": "24:00"}
    )
    assert response.status_code == 400
    assert len(rows(app, OpeningHours, OpeningHours.instrument_id == instrument.id)) == 5


def test_lab_manager_adds_and_removes_a_closure(client, app, login, founder_setup):
    _founder, _team, manager, _lab, instrument = founder_setup
    login(manager)
    with clock.frozen_at(BEFORE):
        token = csrf_token(client, f"/lab/instruments/{instrument.id}")
        response = client.post(
            f"/lab/instruments/{instrument.id}/blackouts",
            data={
                "csrf_token": token,
                "starts_at": "2026-03-03T14:00",
                "ends_at": "2026-03-03T16:00",
                "reason": "年检",
            },
        )
        assert response.status_code == 302
        [blackout] = rows(app, Blackout, Blackout.instrument_id == instrument.id)
        assert (blackout.starts_at, blackout.ends_at) == (
            datetime(2026, 3, 3, 6, tzinfo=UTC),
            datetime(2026, 3, 3, 8, tzinfo=UTC),
        )
        page = text(client.get(f"/lab/instruments/{instrument.id}"))
        assert "年检" in page and "2026-03-03 周二 14:00" in page
        grid = cells(text(client.get(f"/instruments/{instrument.id}?week=2026-03-02")))
        assert grid[("2026-03-03", "14:00")] == "blackout"
        response = client.post(
            f"/lab/instruments/{instrument.id}/blackouts/{blackout.id}/remove", data={"csrf_token": token}
        )
        assert response.status_code == 302
    assert rows(app, Blackout, Blackout.instrument_id == instrument.id) == []


def test_lab_manager_grants_and_revokes_training(client, app, make, login, founder_setup):
    founder, _team, manager, _lab, instrument = founder_setup
    login(manager)
    token = csrf_token(client, f"/lab/instruments/{instrument.id}")
    path = f"/lab/instruments/{instrument.id}/qualifications"
    unknown = client.post(path, data={"csrf_token": token, "email": "nobody@example.cn"})
    assert unknown.status_code == 422 and "没有使用此邮箱的用户" in text(unknown)
    response = client.post(path, data={"csrf_token": token, "email": founder.email}, follow_redirects=True)
    assert f"{founder.name} 现在可以预约此仪器" in text(response)
    assert [q.user_id for q in rows(app, Qualification, Qualification.instrument_id == instrument.id)] == [
        founder.id
    ]
    assert founder.email in text(client.get(f"/lab/instruments/{instrument.id}"))
    client.post(
        f"/lab/instruments/{instrument.id}/qualifications/{founder.id}/revoke", data={"csrf_token": token}
    )
    assert rows(app, Qualification, Qualification.instrument_id == instrument.id) == []


def test_lab_manager_approves_and_declines_from_the_queue(client, app, make, login, founder_setup):
    _founder, team, manager, lab, _instrument = founder_setup
    instrument = make.instrument(lab, name="电子探针", requires_approval=True)
    first = make.booking(team, instrument, cst(2, 9), cst(2, 10), now=BEFORE)
    second = make.booking(team, instrument, cst(2, 11), cst(2, 12), now=BEFORE)
    login(manager)
    with clock.frozen_at(BEFORE):
        console = text(client.get("/lab"))
        assert "电子探针" in console and "星火团队" in console
        assert f'action="/lab/bookings/{first.id}/approve"' in console
        token = csrf_token(client, "/lab")
        response = client.post(
            f"/lab/bookings/{first.id}/approve", data={"csrf_token": token}, follow_redirects=True
        )
        assert "已批准该预约" in text(response)
        response = client.post(
            f"/lab/bookings/{second.id}/reject",
            data={f"reject-{second.id}-csrf_token": token, f"reject-{second.id}-reason": "样品不符合要求"},
            follow_redirects=True,
        )
        assert "已拒绝该预约" in text(response)
        again = client.post(
            f"/lab/bookings/{first.id}/approve", data={"csrf_token": token}, follow_redirects=True
        )
        assert "该预约状态为“已确认”，无法进行此操作" in text(again)
        console = text(client.get("/lab"))
    assert get_booking(app, first.id).status == "confirmed"
    declined = get_booking(app, second.id)
    assert declined.status == "rejected" and declined.reason == "样品不符合要求"
    assert "没有待审批的预约" in console


def test_approving_without_csrf_token_changes_nothing(client, app, make, login, founder_setup):
    _founder, team, manager, lab, _instrument = founder_setup
    instrument = make.instrument(lab, requires_approval=True)
    booking = make.booking(team, instrument, cst(2, 9), cst(2, 10), now=BEFORE)
    login(manager)
    assert client.post(f"/lab/bookings/{booking.id}/approve").status_code == 400
    assert get_booking(app, booking.id).status == "pending_approval"


def test_lab_manager_checks_in_and_out_from_todays_list(client, app, make, login, founder_setup):
    _founder, team, manager, _lab, instrument = founder_setup
    today = make.booking(team, instrument, cst(2, 9), cst(2, 10), now=BEFORE)
    tomorrow = make.booking(team, instrument, cst(3, 9), cst(3, 10), now=BEFORE)
    login(manager)
    with clock.frozen_at(cst(2, 9, 5)):
        console = text(client.get("/lab"))
        assert f'action="/lab/bookings/{today.id}/check-in"' in console
        assert f"/lab/bookings/{tomorrow.id}/check-in" not in console  # not today
        token = csrf_token(client, "/lab")
        response = client.post(
            f"/lab/bookings/{today.id}/check-in",
            data={"csrf_token": token, "confirmed": "yes"},
            follow_redirects=True,
        )
        assert "已签到。" in text(response)
        assert f'action="/lab/bookings/{today.id}/check-out"' in text(response)
    with clock.frozen_at(cst(2, 10, 20)):
        client.post(f"/lab/bookings/{today.id}/check-out", data={"csrf_token": token, "confirmed": "yes"})
        detail = text(client.get(f"/bookings/{today.id}"))
    done = get_booking(app, today.id)
    assert done.status == "completed"
    assert done.actual_starts_at == cst(2, 9, 5) and done.actual_ends_at == cst(2, 10, 20)
    assert "75 分钟" in detail  # billed: the longer actual time


def test_odd_dates_are_refused_politely(client, app, login, founder_setup):
    founder, team, _manager, _lab, instrument = founder_setup
    login(founder)
    with clock.frozen_at(BEFORE):
        assert client.get(f"/instruments/{instrument.id}?week=0001-01-01").status_code == 200
        assert client.get(f"/instruments/{instrument.id}?week=not-a-date").status_code == 200
        assert client.get("/instruments?date=0001-01-01&free_from=09:00&free_to=10:00").status_code == 200
        token = csrf_token(client, f"/instruments/{instrument.id}")
        response = client.post(
            f"/instruments/{instrument.id}/book",
            data=book_form(token, team.id, "0001-01-01", "09:00", "10:00"),
        )
    assert response.status_code == 422 and "请选择可预约范围内的日期" in text(response)
    assert booking_count(app) == 0
