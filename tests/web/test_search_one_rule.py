"""One catalogue search (``availability.found_instruments``): the API's ``GET /api/v1/instruments``
and the catalogue page find the same instruments for the same filters, free range included."""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from booking.core import clock

CST = ZoneInfo("Asia/Shanghai")
BEFORE = datetime(2026, 2, 27, 9, 0, tzinfo=CST)


def api_ids(api, user, **query) -> set[int]:
    response = api.as_(user).get("/api/v1/instruments", query_string={**query, "limit": 100})
    assert response.status_code == 200, response.json
    return {item["id"] for item in response.json["items"]}


def page_ids(client, **query) -> set[int]:
    response = client.get("/instruments", query_string=query)
    assert response.status_code == 200
    return {int(i) for i in re.findall(r'href="/instruments/(\d+)"', response.get_data(as_text=True))}


@pytest.fixture(autouse=True)
def frozen_now():
    with clock.frozen_at(BEFORE):
        yield


def test_the_api_and_the_catalogue_find_the_same_instruments(api, client, login, make):
    founder = make.user("founder")
    team = make.team(owner=founder, verified=True)
    lab = make.lab(district_code="500106")
    other_lab = make.lab(district_code="500103")
    confocal = make.instrument(lab, name="共聚焦显微镜", category="microscopy")
    make.instrument(lab, name="扫描电镜", category="microscopy")
    make.instrument(other_lab, name="质谱仪", category="spectrometry")
    make.instrument(lab, name="退役显微镜", active=False)
    make.booking(
        team, confocal, datetime(2026, 3, 2, 9, tzinfo=CST), datetime(2026, 3, 2, 11, tzinfo=CST), now=BEFORE
    )
    login(founder)
    for query in (
        {},
        {"q": " 显微镜 "},
        {"category": "spectrometry"},
        {"district_code": "500106"},
        {"q": "无此"},
    ):
        assert api_ids(api, founder, **query) == page_ids(client, **query)
    for day, start, end in (
        ("2026-03-02", "10:00", "11:00"),
        ("2026-03-02", "11:00", "12:00"),
        ("2026-03-07", "10:00", "11:00"),
    ):
        free_from = datetime.fromisoformat(f"{day}T{start}:00+08:00").isoformat()
        free_to = datetime.fromisoformat(f"{day}T{end}:00+08:00").isoformat()
        found = api_ids(api, founder, free_from=free_from, free_to=free_to, category="microscopy")
        assert found == page_ids(client, date=day, free_from=start, free_to=end, category="microscopy")
    assert confocal.id not in api_ids(
        api, founder, free_from="2026-03-02T10:00:00+08:00", free_to="2026-03-02T11:00:00+08:00"
    )
