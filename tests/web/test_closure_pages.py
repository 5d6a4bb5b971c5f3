"""The HTML side of closures and the waitlist: a lab closure and a blackout first show the bookings they
would cancel (team, instrument, time) and cancel nothing until confirmed; a taken slot offers "tell me
when it frees up"; the waitlist mail's link fills in the booking form.

Pages are asserted in Chinese (the default UI language); 2026-03-02 is a Monday (Asia/Shanghai).
"""

from __future__ import annotations

import html
import re
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from booking.core import clock
from booking.core.db import db
from booking.flow import bookings
from booking.models import Booking, OutboxMessage, User
from instruments.models import Blackout, LabClosure, WaitlistEntry
from tests.conftest import csrf_token

CST = ZoneInfo("Asia/Shanghai")
BEFORE = datetime(2026, 2, 25, 10, 0, tzinfo=CST)  # Wednesday of the week before


def cst(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=CST)


def text(response) -> str:
    return response.get_data(as_text=True)


def rows(app, model, *where):
    with app.app_context():
        found = list(db.session.scalars(select(model).where(*where)))
        for row in found:
            db.session.expunge(row)
        return found


def status(app, booking_id) -> str:
    with app.app_context():
        return db.session.get(Booking, booking_id).status


@pytest.fixture
def setup(make):
    founder = make.user("founder")
    team = make.team(owner=founder, verified=True, name="星火团队")
    manager = make.user("lab_manager")
    lab = make.lab(manager=manager, name="重大分析测试中心")
    sem = make.instrument(lab, name="共聚焦显微镜")
    xrd = make.instrument(lab, name="X射线衍射仪")
    other = make.instrument(make.lab(), name="别家电镜")
    return {
        "founder": founder,
        "team": team,
        "manager": manager,
        "lab": lab,
        "sem": sem,
        "xrd": xrd,
        "other": other,
    }


def test_closing_a_lab_previews_the_bookings_then_cancels_them_when_confirmed(
    client, app, make, login, setup
):
    s = setup
    hit = make.booking(s["team"], s["sem"], cst(3, 10), cst(3, 12), now=BEFORE)
    also_hit = make.booking(s["team"], s["xrd"], cst(3, 14), cst(3, 15), now=BEFORE)
    outside = make.booking(s["team"], s["sem"], cst(4, 10), cst(4, 11), now=BEFORE)
    elsewhere = make.booking(s["team"], s["other"], cst(3, 10), cst(3, 11), now=BEFORE)
    login(s["manager"])
    with clock.frozen_at(BEFORE):
        console = text(client.get("/lab"))
        assert f'href="/lab/labs/{s["lab"].id}/closures"' in console and "实验室关闭" in console
        path = f"/lab/labs/{s['lab'].id}/closures"
        token = csrf_token(client, path)
        form = {
            "csrf_token": token,
            "starts_at": "2026-03-03T08:00",
            "ends_at": "2026-03-03T18:00",
            "reason": "停电检修",
        }
        preview = client.post(path, data=form)
        assert preview.status_code == 200
        page = text(preview)
        table = page[page.index('id="hit-bookings"') :]
        assert f"#{hit.id}" in table and f"#{also_hit.id}" in table
        assert f"#{outside.id}" not in table and f"#{elsewhere.id}" not in table
        assert "星火团队" in table and "共聚焦显微镜" in table and "X射线衍射仪" in table
        assert "2026-03-03 10:00–12:00" in table and "2026-03-03 14:00–15:00" in table
        assert 'name="confirmed" type="hidden" value="yes"' in page and "关闭实验室并取消这些预约" in page
        # nothing is cancelled nor closed before confirming
        assert status(app, hit.id) == "confirmed" and rows(app, LabClosure) == []
        done = client.post(path, data={**form, "confirmed": "yes"})
        assert done.status_code == 302
        listed = text(client.get(path))
    assert "已免费取消 2 个预约" in listed and "停电检修" in listed and "2026-03-03 周二 08:00" in listed
    assert status(app, hit.id) == status(app, also_hit.id) == "cancelled"
    assert status(app, outside.id) == status(app, elsewhere.id) == "confirmed"
    [closure] = rows(app, LabClosure)
    with clock.frozen_at(BEFORE):
        removed = client.post(f"/lab/closures/{closure.id}/remove", data={"csrf_token": token})
    assert removed.status_code == 302 and rows(app, LabClosure) == [] and rows(app, Blackout) == []
    assert status(app, hit.id) == "cancelled"


def test_another_labs_manager_cannot_see_or_close_the_lab(client, make, login, setup):
    login(make.user("lab_manager"))
    assert client.get(f"/lab/labs/{setup['lab'].id}/closures").status_code == 404


def test_a_blackout_over_bookings_is_previewed_then_cancels_them(client, app, make, login, setup):
    s = setup
    hit = make.booking(s["team"], s["sem"], cst(3, 14), cst(3, 15), now=BEFORE)
    login(s["manager"])
    with clock.frozen_at(BEFORE):
        token = csrf_token(client, f"/lab/instruments/{s['sem'].id}")
        form = {
            "csrf_token": token,
            "starts_at": "2026-03-03T14:00",
            "ends_at": "2026-03-03T16:00",
            "reason": "年检",
        }
        preview = client.post(f"/lab/instruments/{s['sem'].id}/blackouts", data=form)
        assert preview.status_code == 200
        page = text(preview)
        assert f"#{hit.id}" in page and "星火团队" in page and "2026-03-03 14:00–15:00" in page
        assert rows(app, Blackout) == [] and status(app, hit.id) == "confirmed"
        done = client.post(f"/lab/instruments/{s['sem'].id}/blackouts", data={**form, "confirmed": "yes"})
        assert done.status_code == 302
        after = text(client.get(f"/lab/instruments/{s['sem'].id}"))
    assert "已免费取消 1 个预约" in after
    assert status(app, hit.id) == "cancelled" and len(rows(app, Blackout)) == 1


def test_a_blackout_hitting_nothing_is_added_at_once(client, app, login, setup):
    s = setup
    login(s["manager"])
    with clock.frozen_at(BEFORE):
        token = csrf_token(client, f"/lab/instruments/{s['sem'].id}")
        form = {
            "csrf_token": token,
            "starts_at": "2026-03-03T14:00",
            "ends_at": "2026-03-03T16:00",
            "reason": "年检",
        }
        assert client.post(f"/lab/instruments/{s['sem'].id}/blackouts", data=form).status_code == 302
    assert len(rows(app, Blackout)) == 1


def test_a_taken_slot_offers_the_waitlist_and_the_mail_link_fills_in_the_form(
    client, app, make, login, setup
):
    s = setup
    rival = make.team(verified=True)
    held = make.booking(rival, s["sem"], cst(3, 10), cst(3, 12), now=BEFORE)
    second_team = make.team(owner=s["founder"], verified=True, name="第二团队")
    login(s["founder"])
    with clock.frozen_at(BEFORE):
        token = csrf_token(client, f"/instruments/{s['sem'].id}")
        form = {
            "csrf_token": token,
            "request_key": "k1",
            "team_id": str(second_team.id),
            "date": "2026-03-03",
            "starts": "10:00",
            "ends": "11:00",
            "use_vouchers": "y",
        }
        refused = client.post(f"/instruments/{s['sem'].id}/book", data=form)
        assert refused.status_code == 422
        page = text(refused)
        assert "空出时通知我" in page and 'id="waitlist-offer"' in page
        offer = page[page.index('id="waitlist-offer"') :]
        assert f'name="team_id" value="{second_team.id}"' in offer and 'name="starts" value="10:00"' in offer
        joined = client.post(
            f"/instruments/{s['sem'].id}/waitlist",
            data={
                "csrf_token": token,
                "team_id": second_team.id,
                "date": "2026-03-03",
                "starts": "10:00",
                "ends": "11:00",
            },
        )
        assert joined.status_code == 302 and joined.headers["Location"].endswith("/waitlist")
        mine = text(client.get("/waitlist"))
        assert "已加入候补名单" in mine and "共聚焦显微镜" in mine and "第二团队" in mine and "候补中" in mine
        # the slot frees: the rival cancels
        with app.app_context():
            bookings.cancel(db.session.get(User, rival.owner_id), held.id)
            db.session.commit()
        with app.app_context():
            [mail] = db.session.scalars(
                select(OutboxMessage).where(OutboxMessage.kind == "waitlist_freed")
            ).all()
            body = mail.body
        link = html.unescape(re.search(r"(http://\S+/instruments/\S+)", body).group(1))
        filled = text(client.get(link.replace("http://localhost", "")))
        assert "已通知空出" in text(client.get("/waitlist"))
    booking_form = filled[filled.index('id="book"') :]
    assert re.search(rf'<option selected value="{second_team.id}">第二团队</option>', booking_form)
    assert (
        'value="2026-03-03"' in booking_form
        and 'value="10:00"' in booking_form
        and 'value="11:00"' in booking_form
    )
    [entry] = rows(app, WaitlistEntry)
    assert entry.status == "notified"
    with clock.frozen_at(BEFORE):
        removed = client.post(f"/waitlist/{entry.id}/remove", data={"csrf_token": token})
    assert removed.status_code == 302 and rows(app, WaitlistEntry) == []
