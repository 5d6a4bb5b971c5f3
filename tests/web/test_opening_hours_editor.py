"""The opening-hours editor: empty cells look empty (a format hint, not a grey time that reads like a
value), and clearing every range is confirmed first and then shown everywhere as "not bookable"
instead of "published" (an active instrument with no hours cannot be booked by anyone)."""

from __future__ import annotations

import re

from tests.conftest import csrf_token
from tests.web.test_instrument_pages import get_instrument, text

NOT_BOOKABLE = "无开放时间，不可预约"


def test_empty_cells_show_a_format_hint_not_a_time(client, make, login):
    manager = make.user("lab_manager")
    instrument = make.instrument(make.lab(manager=manager))  # Mon–Fri 08:00–18:00, one range a day
    login(manager)
    page = text(client.get(f"/lab/instruments/{instrument.id}"))
    empty_inputs = re.findall(r'<input[^>]*name="d6_0_opens"[^>]*>', page)
    assert empty_inputs and 'value=""' in empty_inputs[0]
    placeholders = set(
        re.findall(r'placeholder="([^"]*)"', page.split('id="hours"')[1].split("</section>")[0])
    )
    assert placeholders == {"时:分"}, placeholders  # never a time such as 08:00 that looks entered
    assert 'name="d0_0_opens" placeholder="时:分" size="5" type="text" value="08:00"' in page


def test_saving_an_empty_grid_asks_first_then_says_nobody_can_book(client, app, make, login):
    manager = make.user("lab_manager")
    instrument = make.instrument(make.lab(manager=manager), name="共聚焦显微镜")
    login(manager)
    token = csrf_token(client, f"/lab/instruments/{instrument.id}")
    path = f"/lab/instruments/{instrument.id}/hours"

    asked = client.post(path, data={"csrf_token": token})
    assert asked.status_code == 200
    assert "保存后该仪器将没有任何开放时间" in text(
        asked
    ) and 'name="close_all" type="hidden" value="yes"' in text(asked)
    assert len(get_instrument(app, instrument.id).opening_hours) == 5  # nothing saved yet

    saved = client.post(path, data={"csrf_token": token, "close_all": "yes"}, follow_redirects=True)
    page = text(saved)
    assert saved.status_code == 200 and get_instrument(app, instrument.id).opening_hours == []
    assert "已清空开放时间：共聚焦显微镜现在没有可预约的时段" in page
    assert "开放时间已保存" not in page
    heading = page.split("<h1>")[1].split("</h1>")[0]
    assert NOT_BOOKABLE in heading and "已发布" not in heading

    console = text(client.get("/lab"))
    row = console.split("共聚焦显微镜")[1].split("</tr>")[0]
    assert NOT_BOOKABLE in row and "已发布" not in row
    founder = make.user("founder")
    login(founder)
    card = text(client.get("/instruments")).split("共聚焦显微镜")[1].split("</li>")[0]
    assert NOT_BOOKABLE in card


def test_hours_with_some_ranges_save_without_asking(client, app, make, login):
    manager = make.user("lab_manager")
    instrument = make.instrument(make.lab(manager=manager))
    login(manager)
    token = csrf_token(client, f"/lab/instruments/{instrument.id}")
    response = client.post(
        f"/lab/instruments/{instrument.id}/hours",
        data={"csrf_token": token, "d2_0_opens": "09:00", "d2_0_closes": "12:00"},
        follow_redirects=True,
    )
    assert "开放时间已保存" in text(response) and NOT_BOOKABLE not in text(response)
    assert [(h.weekday, h.opens_minute) for h in get_instrument(app, instrument.id).opening_hours] == [
        (2, 540)
    ]
