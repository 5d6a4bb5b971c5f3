"""Training on the pages: a founder asks for training on an instrument's page, the lab console's
training queue grants or declines, the instrument's edit form sets how long a qualification lasts.

Pages are asserted in Chinese (the default UI language).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from booking.core import clock
from booking.core.db import db, write_intent
from booking.models import User
from instruments import catalogue, training
from instruments.models import Instrument, Qualification, TrainingRequest
from tests.conftest import csrf_token, sign_in

CST = ZoneInfo("Asia/Shanghai")
T = datetime(2026, 12, 1, 9, 0, tzinfo=CST)


def text(response) -> str:
    return response.get_data(as_text=True)


@pytest.fixture
def setup(make):
    manager = make.user("lab_manager")
    lab = make.lab(manager=manager)
    founder = make.user("founder", name="王小明")
    make.team(owner=founder, verified=True)
    instrument = make.instrument(lab, name="透射电镜", requires_training=True, qualification_valid_days=30)
    return founder, manager, instrument


def requests_of(app, instrument) -> list[TrainingRequest]:
    with app.app_context():
        return list(
            db.session.scalars(select(TrainingRequest).where(TrainingRequest.instrument_id == instrument.id))
        )


def test_founder_asks_for_training_from_the_instrument_page(client, app, login, setup):
    founder, _manager, instrument = setup
    login(founder)
    page = text(client.get(f"/instruments/{instrument.id}"))
    assert "申请培训" in page and f'action="/instruments/{instrument.id}/training-request"' in page
    token = csrf_token(client, f"/instruments/{instrument.id}")
    response = client.post(
        f"/instruments/{instrument.id}/training-request", data={"csrf_token": token, "note": "周二下午方便"}
    )
    assert response.status_code == 302
    [request] = requests_of(app, instrument)
    assert (request.user_id, request.status, request.note) == (founder.id, "pending", "周二下午方便")
    page = text(client.get(f"/instruments/{instrument.id}"))
    assert "培训申请已提交，等待实验室安排" in page
    assert f'action="/instruments/{instrument.id}/training-request"' not in page
    # a second post (another tab) is refused in words, and nothing more is stored
    again = client.post(f"/instruments/{instrument.id}/training-request", data={"csrf_token": token})
    assert again.status_code == 302
    assert "培训申请已提交，等待实验室安排" in text(client.get(again.headers["Location"]))
    assert len(requests_of(app, instrument)) == 1


def test_no_training_box_where_none_is_needed(client, login, make, setup):
    founder, _manager, instrument = setup
    free = make.instrument(instrument.lab, requires_training=False)
    login(founder)
    assert "申请培训" not in text(client.get(f"/instruments/{free.id}"))


def test_a_lapsed_qualification_says_so(client, login, make, setup):
    founder, _manager, instrument = setup
    with clock.frozen_at(T):
        make.qualify(instrument, founder)
    login(founder)
    with clock.frozen_at(T + timedelta(days=1)):
        assert "有效期至 2026-12-31" in text(client.get(f"/instruments/{instrument.id}"))
    with clock.frozen_at(T + timedelta(days=31)):
        page = text(client.get(f"/instruments/{instrument.id}"))
    assert "您的培训资格已于 2026-12-31 过期，请重新申请" in page and "申请培训" in page


def test_lab_console_queue_grants_and_declines(client, app, login, make, setup):
    founder, manager, instrument = setup
    other = make.user("founder", name="李四")
    with app.app_context(), write_intent():
        at_lab = db.session.get(Instrument, instrument.id)
        ids = tuple(
            training.request_training(db.session.get(User, person.id), at_lab).id
            for person in (founder, other)
        )
        db.session.commit()
    login(manager)
    console = text(client.get("/lab"))
    assert "培训申请" in console and "王小明" in console and "李四" in console
    assert f'action="/lab/training/{ids[0]}/grant"' in console
    assert f'action="/lab/training/{ids[1]}/decline"' in console
    token = csrf_token(client, "/lab")
    with clock.frozen_at(T):
        granted = client.post(f"/lab/training/{ids[0]}/grant", data={"csrf_token": token})
    assert granted.status_code == 302 and granted.headers["Location"] == "/lab#training"
    declined = client.post(
        f"/lab/training/{ids[1]}/decline",
        data={"csrf_token": token, f"decline-training-{ids[1]}-reason": "本月已约满"},
    )
    assert declined.status_code == 302
    by_id = {r.id: r for r in requests_of(app, instrument)}
    assert by_id[ids[0]].status == "granted" and by_id[ids[1]].status == "declined"
    assert by_id[ids[1]].decline_reason == "本月已约满"
    with app.app_context():
        qualification = db.session.get(Qualification, (instrument.id, founder.id))
        assert qualification.expires_at == T + timedelta(days=30)
        assert not catalogue.is_qualified(db.session.get(Instrument, instrument.id), other)
    assert "暂无待处理的培训申请" in text(client.get("/lab"))
    # the instrument's training list shows the expiry
    assert "有效期至 2026-12-31" in text(client.get(f"/lab/instruments/{instrument.id}"))
    # the declined founder reads the reason and may ask again
    client.post("/sign-out", data={"csrf_token": token})
    sign_in(client, other)
    page = text(client.get(f"/instruments/{instrument.id}"))
    assert "本月已约满" in page and "申请培训" in page


def test_edit_form_sets_the_qualification_validity(client, app, login, setup):
    _founder, manager, instrument = setup
    login(manager)
    page = text(client.get(f"/lab/instruments/{instrument.id}"))
    assert "资格有效期（天），留空为长期有效" in page and 'name="qualification_valid_days"' in page
    token = csrf_token(client, f"/lab/instruments/{instrument.id}")
    data = {
        "csrf_token": token,
        "name": "透射电镜",
        "category": "microscopy",
        "hourly_rate_yuan": "100",
        "operation_mode": "market",
        "slot_minutes": "30",
        "min_minutes": "30",
        "max_minutes": "480",
        "lead_minutes": "60",
        "horizon_days": "90",
        "requires_training": "y",
        "free_cancel_hours": "24",
        "late_cancel_fee_percent": "50",
        "no_show_grace_minutes": "15",
        "no_show_fee_percent": "100",
        "timezone": "Asia/Shanghai",
        "active": "y",
    }
    assert (
        client.post(
            f"/lab/instruments/{instrument.id}", data={**data, "qualification_valid_days": "0"}
        ).status_code
        == 422
    )
    assert (
        client.post(
            f"/lab/instruments/{instrument.id}", data={**data, "qualification_valid_days": "365"}
        ).status_code
        == 302
    )
    with app.app_context():
        assert db.session.get(Instrument, instrument.id).qualification_valid_days == 365
    assert (
        client.post(
            f"/lab/instruments/{instrument.id}", data={**data, "qualification_valid_days": ""}
        ).status_code
        == 302
    )
    with app.app_context():
        assert db.session.get(Instrument, instrument.id).qualification_valid_days is None
