"""The booking form's review step (the price and voucher split) only comes for a slot that can be
booked: before it, the slot is checked against every booking rule (the same ``slot_problems`` as the
booking itself), and every problem is shown at once, with no price."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from booking.core import clock
from tests.conftest import csrf_token
from tests.web.test_instrument_pages import BEFORE, book_form, booking_count, cst, text

CST = ZoneInfo("Asia/Shanghai")
REVIEW_HEADING = "请核对价格"
REVIEW_CARD = 'class="card review"'  # the price and voucher split


def review(client, instrument, team, day: str, starts: str, ends: str):
    token = csrf_token(client, f"/instruments/{instrument.id}")
    data = book_form(token, team.id, day, starts, ends, confirmed="")
    return client.post(f"/instruments/{instrument.id}/book", data=data)


def test_an_unbookable_slot_shows_every_problem_and_no_price(client, app, make, login):
    founder = make.user("founder")
    team = make.team(owner=founder, verified=True)
    lab = make.lab()
    instrument = make.instrument(lab, requires_training=True, max_minutes=480)  # open weekdays 08–18
    make.blackout(instrument, cst(2, 12), cst(2, 13))
    trained = make.user("founder")
    make.qualify(instrument, trained)
    make.booking(make.team(owner=trained, verified=True), instrument, cst(2, 9), cst(2, 10), now=BEFORE)
    login(founder)
    with clock.frozen_at(BEFORE):
        # 07:10–17:40: off the grid, 630 minutes (> 480), opens at 08:00, across the closure and
        # another team's booking, and the founder is not trained.
        response = review(client, instrument, team, "2026-03-02", "07:10", "17:40")
    page = text(response)
    assert response.status_code == 422
    assert REVIEW_HEADING not in page and REVIEW_CARD not in page
    assert 'name="confirmed" type="hidden" value="yes"' not in page
    for message in (
        "只有接受过该仪器培训的人员才能预约",  # qualification
        "开始和结束时间须以 30 分钟为单位",  # grid
        "每次最多预约 480 分钟",  # max duration
        "所选时段不完全在仪器开放时间内",  # opening hours
        "该时段仪器停用（维护）",  # blackout
        "该时段（或其中一部分）已被他人预约",  # overlap
    ):
        assert message in page, message
    assert booking_count(app) == 1  # only the other team's


def test_lead_time_horizon_and_minimum_are_checked_before_the_price(client, make, login):
    founder = make.user("founder")
    team = make.team(owner=founder, verified=True)
    instrument = make.instrument(make.lab(), min_minutes=60, lead_minutes=120, horizon_days=30)
    login(founder)
    with clock.frozen_at(cst(2, 8)):
        soon = review(client, instrument, team, "2026-03-02", "09:00", "09:30")
        far = review(client, instrument, team, "2026-04-06", "09:00", "10:00")
        fine = review(client, instrument, team, "2026-03-03", "09:00", "10:00")
    assert soon.status_code == 422 and REVIEW_CARD not in text(soon)
    assert "须至少提前 120 分钟预约" in text(soon) and "每次至少预约 60 分钟" in text(soon)
    assert far.status_code == 422 and "最多可提前 30 天预约" in text(far) and REVIEW_CARD not in text(far)
    assert fine.status_code == 200 and REVIEW_HEADING in text(fine) and "¥100.00" in text(fine)


def test_the_booking_itself_still_refuses_with_the_first_problem(api, make):
    """The API's refusal is unchanged: one error, the first rule broken, in check order."""
    founder = make.user("founder")
    team = make.team(owner=founder, verified=True)
    instrument = make.instrument(make.lab())
    with clock.frozen_at(BEFORE):
        response = api.as_(founder).post(
            "/api/v1/bookings",
            json={
                "team_id": team.id,
                "instrument_id": instrument.id,
                "starts_at": datetime(2026, 3, 2, 7, 10, tzinfo=CST).isoformat(),
                "ends_at": datetime(2026, 3, 2, 17, 40, tzinfo=CST).isoformat(),
            },
        )
    assert response.status_code == 422 and response.json["error"]["code"] == "off_grid"
