"""The voucher pages: programmes and the budget bar, applying, deciding, the team wallet and revocation.

Pages are asserted in Chinese (the default UI language). Every change is checked in the database too,
and the figures on the pages against the operations that the JSON API uses.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone

import pytest
from flask_babel import force_locale, gettext
from sqlalchemy import func, select

from booking.core import clock
from booking.core.db import db
from booking.core.i18n import format_yuan
from booking.models import Booking, User
from booking.web.vouchers import bar_segments, percent_bp
from tests.conftest import csrf_token
from vouchers import ledger, programs
from vouchers.models import Application, Program, SubsidyLine, Voucher

CST = timezone(timedelta(hours=8))
NOW = datetime(2026, 6, 1, 10, 0, tzinfo=CST)  # a Monday, inside the factories' programme window


@pytest.fixture(autouse=True)
def frozen_now():
    with clock.frozen_at(NOW):
        yield


def text(response) -> str:
    return response.get_data(as_text=True)


def _zh(app, msgid: str) -> str:
    """The Chinese translation of a message this page shares with other pages."""
    with app.test_request_context(), force_locale("zh_CN"):
        translated = gettext(msgid)
    assert translated != msgid
    return translated


def _count(app, model) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def fetch(app, model, id_):
    with app.app_context():
        return db.session.get(model, id_)


def summary_of(app, program_id: int) -> dict:
    with app.app_context():
        return programs.summary(db.session.get(Program, program_id))


def apply_for(app, team, program, amount_fen: int, purpose: str = "训练视觉模型") -> Application:
    """An application made through the operation (as the team's owner)."""
    with app.app_context():
        owner = db.session.get(User, team.owner_id)
        application = programs.apply(
            owner, program.id, team_id=team.id, amount_fen=amount_fen, purpose=purpose
        )
        db.session.commit()
        return application


def program_form(token: str | None, **fields) -> dict:
    data = {
        "name": "沙坪坝区算力券 2026",
        "resource_kinds": ["compute", "instrument"],
        "rate_percent": "30",
        "stack_ceiling_percent": "80",
        "budget_yuan": "1234.56",
        "per_team_cap_yuan": "100.05",
        "valid_from": "2026-06-01",
        "valid_to": "2026-12-31",
        "voucher_validity_days": "180",
    }
    data.update(fields)
    if token is not None:
        data["csrf_token"] = token
    return data


def legend_figures(page: str, legend_id: str) -> dict[str, str]:
    legend = page.split(f'id="{legend_id}"', 1)[1].split("</ul>", 1)[0]
    return dict(re.findall(r'data-part="(\w+)".*?class="money">([^<]+)<', legend, re.S))


def bar_rects(page: str, bar_id: str) -> dict[str, tuple[int, int]]:
    bar = page.split(f'id="{bar_id}"', 1)[1].split("</svg>", 1)[0]
    return {
        part: (int(x), int(width))
        for part, x, width in re.findall(r'data-part="(\w+)" x="(\d+)" y="0" width="(\d+)"', bar)
    }


# --- language and the programme list ---------------------------------------------------------------------


def test_programme_pages_are_in_chinese_by_default(client, make, login):
    program = make.program(name="重庆市算力券")
    login(make.finance(None))
    page = text(client.get("/programs"))
    assert '<html lang="zh-CN">' in page
    assert "<h1>算力券项目</h1>" in page
    assert "新建项目" in page and "预算总额（元）" in page and "补贴比例（%）" in page
    assert "Total budget" not in page and "Voucher programmes" not in page
    assert "重庆市算力券" in page and "市级" in page
    detail = text(client.get(f"/programs/{program.id}"))
    assert "尚未发放" in detail and "Budget" not in detail
    client.get("/language/en")
    assert "<h1>Voucher programmes</h1>" in text(client.get("/programs"))


def test_founders_see_all_programmes_with_apply_buttons_and_no_form(client, make, login):
    municipal = make.program(name="市级券")
    district = make.program(level="district", district_code="500112", name="渝北券")
    later = make.program(name="下半年券", valid_from=date(2026, 9, 1))
    login(make.user("founder"))
    page = text(client.get("/programs"))
    for program in (municipal, district, later):
        assert program.name in page
    assert f'href="/programs/{municipal.id}/apply"' in page
    assert f'href="/programs/{district.id}/apply"' in page
    assert f'href="/programs/{later.id}/apply"' not in page  # not open yet
    assert "新建项目" not in page and "budget_yuan" not in page
    assert "区县级" in page and "渝北区" in page


def test_finance_sees_only_its_own_programmes(client, make, login):
    ours = make.program(level="district", district_code="500106", name="沙坪坝券")
    theirs = make.program(level="district", district_code="500112", name="渝北券")
    municipal = make.program(name="市级券")
    login(make.finance("500106"))
    page = text(client.get("/programs"))
    assert ours.name in page
    assert theirs.name not in page and municipal.name not in page


# --- creating a programme ---------------------------------------------------------------------------------


def test_district_finance_creates_a_programme_with_exact_fen(client, make, login, app):
    login(make.finance("500106"))
    page = text(client.get("/programs"))
    assert "沙坪坝区" in page and 'name="stack_ceiling_percent"' in page
    response = client.post(
        "/programs", data=program_form(csrf_token(client, "/programs"), resource_kinds=["compute"])
    )
    assert response.status_code == 302, text(response)[:2000]
    program_id = int(response.headers["Location"].rsplit("/", 1)[1])
    program = fetch(app, Program, program_id)
    assert program.budget_fen == 123456 and program.per_team_cap_fen == 10005
    assert program.level == "district" and program.district_code == "500106"
    assert program.stack_ceiling_bp == 8000 and program.rate_bp == 3000
    assert program.covers_compute and not program.covers_instrument
    assert (program.valid_from, program.valid_to) == (date(2026, 6, 1), date(2026, 12, 31))
    assert program.voucher_validity_days == 180
    assert summary_of(app, program_id)["unissued_fen"] == 123456  # funded in full
    page = text(client.get(response.headers["Location"]))
    assert "项目已创建" in page and "¥1,234.56" in page


def test_municipal_finance_creates_a_municipal_programme_without_stack_ceiling(client, make, login, app):
    login(make.finance(None))
    assert 'name="stack_ceiling_percent"' not in text(client.get("/programs"))
    data = program_form(csrf_token(client, "/programs"), budget_yuan="1000000", per_team_cap_yuan="0.01")
    response = client.post("/programs", data=data)
    assert response.status_code == 302
    program = fetch(app, Program, int(response.headers["Location"].rsplit("/", 1)[1]))
    assert program.level == "municipal" and program.district_code is None
    assert program.stack_ceiling_bp is None
    assert (program.budget_fen, program.per_team_cap_fen) == (100_000_000, 1)


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("1.234", "最多两位小数"),
        ("1.2345678", "最多两位小数"),
        ("12,00", "请输入以元为单位的金额"),
        ("-5", "请输入以元为单位的金额"),
        ("1e3", "请输入以元为单位的金额"),
        ("0.00", "请输入 ¥0.01 至"),
        ("", "必填"),
    ],
)
def test_budget_in_yuan_must_be_whole_fen(client, make, login, app, typed, message):
    login(make.finance(None))
    before = _count(app, Program)
    data = program_form(csrf_token(client, "/programs"), budget_yuan=typed, per_team_cap_yuan="1")
    response = client.post("/programs", data=data)
    assert response.status_code == 422
    page = text(response)
    errors = page.split('id="budget_yuan-errors"', 1)[1].split("</ul>", 1)[0]
    assert message in errors
    assert f'value="{typed}"' in page  # what was typed is shown again, not a rounded value
    assert _count(app, Program) == before


@pytest.mark.parametrize(
    ("fields", "error_field", "message"),
    [
        ({"per_team_cap_yuan": "2000"}, "per_team_cap_yuan", "不得超过预算总额"),
        ({"valid_from": "2026-07-01", "valid_to": "2026-06-30"}, "valid_to", "不得早于开始日期"),
        ({"valid_from": "2026-01-01", "valid_to": "2026-05-31"}, "valid_to", "项目期限已经结束"),
        ({"resource_kinds": []}, "resource_kinds", "至少选择一项"),
        ({"rate_percent": "100.01"}, "rate_percent", "100%"),
    ],
)
def test_programme_form_refusals_are_shown_beside_the_field(
    client, make, login, app, fields, error_field, message
):
    login(make.finance("500106"))
    before = _count(app, Program)
    response = client.post("/programs", data=program_form(csrf_token(client, "/programs"), **fields))
    assert response.status_code == 422
    errors = text(response).split(f'id="{error_field}-errors"', 1)[1].split("</ul>", 1)[0]
    assert message in errors
    assert _count(app, Program) == before


def test_only_finance_creates_programmes(client, make, login, app):
    login(make.user("founder"))
    before = _count(app, Program)
    response = client.post("/programs", data=program_form(csrf_token(client, "/programs")))
    assert response.status_code == 403
    assert _count(app, Program) == before


# --- the budget bar ---------------------------------------------------------------------------------------


def settle(app, booking_id: int, amount_fen: int) -> None:
    """Settle part of a booking's commitment (a stand-in for the settlement job): committed → payable."""
    with app.app_context():
        line = db.session.scalars(select(SubsidyLine).where(SubsidyLine.booking_id == booking_id)).first()
        lab_id = db.session.get(Booking, booking_id).instrument.lab_id
        ledger.transfer(
            "settle",
            ledger.account("committed", line.program_id, line.voucher_id),
            ledger.account("payable", line.program_id, payee=("lab", lab_id)),
            amount_fen,
            program_id=line.program_id,
            voucher_id=line.voucher_id,
            booking_id=booking_id,
        )
        line.settled_fen += amount_fen
        db.session.commit()


@pytest.fixture
def spending(make, app):
    """A municipal programme with one voucher of which some is spent, some committed, some available."""
    officer = make.finance(None)
    program = make.program(officer=officer, budget_fen=1_000_000, rate_bp=3000)
    team = make.team(verified=True)
    voucher = make.voucher(team, program, 500_000)
    instrument = make.instrument(make.lab(), hourly_rate_fen=10_000)
    # Wednesday 09:00–11:00: ¥200 at 30% → ¥60 committed; ¥20 of it then settled (spent)
    booking = make.booking(
        team, instrument, datetime(2026, 6, 3, 9, tzinfo=CST), datetime(2026, 6, 3, 11, tzinfo=CST)
    )
    settle(app, booking.id, 2_000)
    return {"officer": officer, "program": program, "team": team, "voucher": voucher}


def test_budget_bar_shows_the_programme_summary(client, login, app, spending):
    program = spending["program"]
    summary = summary_of(app, program.id)
    assert (summary["spent_fen"], summary["committed_fen"]) == (2_000, 4_000)
    assert (summary["available_fen"], summary["unissued_fen"]) == (494_000, 500_000)
    login(spending["officer"])
    page = text(client.get(f"/programs/{program.id}"))
    figures = legend_figures(page, "budget-legend")
    assert figures == {
        part: format_yuan(summary[f"{part}_fen"]) for part in ("spent", "committed", "available", "unissued")
    }
    assert "¥10,000.00" in page  # the budget itself
    # stacked in order, without gaps, filling the bar exactly, each as wide as its share (of 1000 units)
    assert bar_rects(page, "budget-bar") == {
        "spent": (0, 2),
        "committed": (2, 4),
        "available": (6, 494),
        "unissued": (500, 500),
    }
    legend = page.split('id="budget-legend"', 1)[1].split("</ul>", 1)[0]
    assert re.findall(r'class="v-share">([^<]+)<', legend) == ["0.2%", "0.4%", "49.4%", "50.0%"]
    assert 'role="img"' in page and "<script" not in page


def test_budget_bar_segments_add_up_exactly():
    segments = bar_segments([("a", "a", 1), ("b", "b", 1), ("c", "c", 1)], 3)
    assert [(s["x"], s["width"]) for s in segments] == [(0, 333), (333, 333), (666, 334)]
    assert [s["share"] for s in segments] == ["33.3%", "33.3%", "33.3%"]
    empty = bar_segments([("a", "a", 0)], 0)
    assert empty[0]["width"] == 0 and empty[0]["share"] == "0.0%"
    assert [percent_bp(bp) for bp in (3000, 1250, 1, 10000)] == ["30%", "12.5%", "0.01%", "100%"]


def test_founders_and_other_districts_do_not_see_the_budget(client, make, login, app, spending):
    program = spending["program"]
    login(make.user("founder"))
    page = text(client.get(f"/programs/{program.id}"))
    assert program.name in page
    assert "budget-bar" not in page and "尚未发放" not in page


def test_district_officer_gets_404_on_another_districts_programme(client, make, login, app):
    program = make.program(level="district", district_code="500112")
    team = make.team(verified=True, district_code="500112")
    application = apply_for(app, team, program, 10_000)
    login(make.finance("500106"))
    assert client.get(f"/programs/{program.id}").status_code == 404
    token = csrf_token(client, "/programs")
    prefix = f"approve-{application.id}"
    response = client.post(f"/applications/{application.id}/approve", data={f"{prefix}-csrf_token": token})
    assert response.status_code == 404
    assert fetch(app, Application, application.id).status == "pending"


# --- applying -------------------------------------------------------------------------------------------


def test_founder_applies_through_the_form(client, make, login, app):
    founder = make.user("founder")
    team = make.team(owner=founder, verified=True, name="星火算法")
    program = make.program(name="重庆市算力券")
    login(founder)
    page = text(client.get(f"/programs/{program.id}/apply"))
    assert "申请算力券" in page and "星火算法" in page
    response = client.post(
        f"/programs/{program.id}/apply",
        data={
            "csrf_token": csrf_token(client, "/programs"),
            "team_id": str(team.id),
            "amount_yuan": "3000.50",
            "purpose": "  训练视觉\n模型  ",
        },
    )
    assert response.status_code == 302 and response.headers["Location"] == "/applications"
    with app.app_context():
        application = db.session.scalars(select(Application).where(Application.team_id == team.id)).one()
        assert (application.program_id, application.amount_fen) == (program.id, 300050)
        assert application.status == "pending" and application.purpose == "训练视觉 模型"
    page = text(client.get("/applications"))
    assert "申请已提交" in page and "待审批" in page and "¥3,000.50" in page and "重庆市算力券" in page


@pytest.mark.parametrize("case", ["team_not_verified", "wrong_district", "program_closed"])
def test_apply_refusals_are_shown_translated(client, make, login, app, case):
    founder = make.user("founder")
    team = make.team(owner=founder, verified=case != "team_not_verified", district_code="500106")
    if case == "wrong_district":
        program = make.program(level="district", district_code="500112")
        expected, status, beside = "本项目只服务于在其所在区县登记的团队", 403, "team_id"
    elif case == "program_closed":
        program = make.program(valid_from=date(2026, 9, 1))
        expected, status, beside = "项目当前不在开放期内", 422, None
    else:
        program = make.program()
        expected, status, beside = _zh(app, "The team is not verified yet."), 422, "team_id"
    login(founder)
    response = client.post(
        f"/programs/{program.id}/apply",
        data={
            "csrf_token": csrf_token(client, "/programs"),
            "team_id": str(team.id),
            "amount_yuan": "100",
            "purpose": "GPU",
        },
    )
    assert response.status_code == status
    page = text(response)
    if beside:
        assert expected in page.split(f'id="{beside}-errors"', 1)[1].split("</ul>", 1)[0]
    else:
        assert expected in page.split('class="errors v-form-errors"', 1)[1].split("</ul>", 1)[0]
    assert _count(app, Application) == 0


def test_apply_form_offers_only_the_founders_own_teams(client, make, login, app):
    founder = make.user("founder")
    mine = make.team(owner=founder, verified=True, name="自己的团队")
    other = make.team(verified=True, name="别人的团队")
    program = make.program()
    login(founder)
    page = text(client.get(f"/programs/{program.id}/apply"))
    assert "自己的团队" in page and "别人的团队" not in page
    data = {
        "csrf_token": csrf_token(client, "/programs"),
        "team_id": str(other.id),
        "amount_yuan": "1",
        "purpose": "x",
    }
    assert client.post(f"/programs/{program.id}/apply", data=data).status_code == 422
    assert _count(app, Application) == 0
    assert f'value="{mine.id}"' in page


def test_only_founders_open_the_apply_page(client, make, login):
    program = make.program()
    login(make.finance(None))
    assert client.get(f"/programs/{program.id}/apply").status_code == 403


# --- deciding -------------------------------------------------------------------------------------------


def test_officer_approves_a_smaller_amount_and_the_wallet_shows_it(client, make, login, app):
    officer = make.finance(None)
    program = make.program(officer=officer, name="重庆市算力券")
    founder = make.user("founder")
    team = make.team(owner=founder, verified=True, name="星火算法")
    application = apply_for(app, team, program, 500_000)
    login(officer)
    page = text(client.get(f"/programs/{program.id}"))
    prefix = f"approve-{application.id}"
    assert f'name="{prefix}-amount_yuan"' in page and "¥5,000.00" in page and "星火算法" in page
    response = client.post(
        f"/applications/{application.id}/approve",
        data={
            f"{prefix}-csrf_token": csrf_token(client, "/programs"),
            f"{prefix}-amount_yuan": "1200.00",
            f"{prefix}-confirm": "y",
        },
    )
    assert response.status_code == 302
    assert response.headers["Location"] == f"/programs/{program.id}#applications"
    with app.app_context():
        voucher = db.session.scalars(select(Voucher).where(Voucher.application_id == application.id)).one()
        assert voucher.face_value_fen == 120_000 and voucher.status == "active"
        assert db.session.get(Application, application.id).status == "approved"
    assert summary_of(app, program.id)["issued_fen"] == 120_000
    page = text(client.get(f"/programs/{program.id}"))
    assert "已批准" in page and "¥1,200.00" in page and f'name="{prefix}-amount_yuan"' not in page
    for viewer in (officer, founder):
        login(viewer)
        wallet = text(client.get(f"/teams/{team.id}/vouchers"))
        card = wallet.split(f'id="voucher-{voucher.id}"', 1)[1]
        assert "重庆市算力券" in card and "市级" in card and "有效" in card
        assert re.search(r'data-figure="face">¥1,200\.00<', card)
        assert re.search(r'data-figure="available">¥1,200\.00<', card)
        assert ">2027-06-01 10:00</time>" in card  # issued 2026-06-01 10:00 Beijing time, valid 365 days


def test_approving_more_than_asked_is_refused_beside_the_field(client, make, login, app):
    officer = make.finance(None)
    program = make.program(officer=officer)
    application = apply_for(app, make.team(verified=True), program, 10_000)
    login(officer)
    prefix = f"approve-{application.id}"
    response = client.post(
        f"/applications/{application.id}/approve?from=queue",
        data={
            f"{prefix}-csrf_token": csrf_token(client, "/programs"),
            f"{prefix}-amount_yuan": "100.01",
            f"{prefix}-confirm": "y",
        },
    )
    assert response.status_code == 422
    page = text(response)
    assert "<h1>算力券申请</h1>" in page  # re-rendered where the officer was: the queue
    assert "批准金额不得超过申请金额" in page.split(f'id="{prefix}-amount_yuan-errors"', 1)[1]
    assert _count(app, Voucher) == 0
    assert fetch(app, Application, application.id).status == "pending"


def test_budget_exhausted_is_shown_translated(client, make, login, app):
    officer = make.finance(None)
    program = make.program(officer=officer, budget_fen=100_000, per_team_cap_fen=100_000)
    first = apply_for(app, make.team(verified=True), program, 80_000)
    second = apply_for(app, make.team(verified=True), program, 80_000)
    login(officer)
    token = csrf_token(client, "/programs")
    assert (
        client.post(
            f"/applications/{first.id}/approve",
            data={f"approve-{first.id}-csrf_token": token, f"approve-{first.id}-confirm": "y"},
        ).status_code
        == 302
    )
    response = client.post(
        f"/applications/{second.id}/approve",
        data={f"approve-{second.id}-csrf_token": token, f"approve-{second.id}-confirm": "y"},
    )
    assert response.status_code == 409
    assert "项目剩余预算不足" in text(response)
    assert _count(app, Voucher) == 1


def test_deciding_twice_is_refused_atop_the_page(client, make, login, app):
    officer = make.finance(None)
    program = make.program(officer=officer)
    application = apply_for(app, make.team(verified=True), program, 10_000)
    login(officer)
    data = {
        f"approve-{application.id}-csrf_token": csrf_token(client, "/programs"),
        f"approve-{application.id}-confirm": "y",
    }
    assert client.post(f"/applications/{application.id}/approve", data=data).status_code == 302
    again = client.post(f"/applications/{application.id}/approve", data=data)
    assert again.status_code == 409
    assert '<p class="flash error" role="status">该事项已处理或已结束，请刷新页面。</p>' in text(again)
    assert _count(app, Voucher) == 1


def test_officer_rejects_with_a_reason(client, make, login, app):
    officer = make.finance(None)
    program = make.program(officer=officer)
    founder = make.user("founder")
    application = apply_for(app, make.team(owner=founder, verified=True), program, 10_000)
    login(officer)
    prefix = f"reject-{application.id}"
    token = csrf_token(client, "/applications")
    response = client.post(
        f"/applications/{application.id}/reject?from=queue", data={f"{prefix}-csrf_token": token}
    )
    assert response.status_code == 422  # a reason is required
    assert f'id="{prefix}-reason-errors"' in text(response)
    assert fetch(app, Application, application.id).status == "pending"
    response = client.post(
        f"/applications/{application.id}/reject?from=queue",
        data={f"{prefix}-csrf_token": token, f"{prefix}-reason": "用途不在 本项目范围内"},
    )
    assert response.status_code == 302 and response.headers["Location"] == "/applications"
    decided = fetch(app, Application, application.id)
    assert decided.status == "rejected" and decided.reason == "用途不在 本项目范围内"
    assert _count(app, Voucher) == 0
    login(founder)
    page = text(client.get("/applications"))
    assert "未获批准" in page and "用途不在 本项目范围内" in page


def test_queue_lists_pending_before_decided(client, make, login, app):
    officer = make.finance(None)
    program = make.program(officer=officer)
    decided = apply_for(app, make.team(verified=True, name="已决定的团队"), program, 10_000)
    with app.app_context():
        programs.reject(db.session.get(User, officer.id), decided.id, "重复申请")
        db.session.commit()
    apply_for(app, make.team(verified=True, name="等待中的团队"), program, 10_000)
    login(officer)
    page = text(client.get("/applications"))
    assert page.index("等待中的团队") < page.index("已决定的团队")
    assert len(re.findall(r'name="approve-\d+-amount_yuan"', page)) == 1  # forms only for the pending one


def test_founder_sees_no_decision_forms_and_is_refused_on_post(client, make, login, app):
    program = make.program()
    founder = make.user("founder")
    application = apply_for(app, make.team(owner=founder, verified=True), program, 10_000)
    login(founder)
    for path in (f"/programs/{program.id}", "/applications"):
        page = text(client.get(path))
        assert f"application-{application.id}" in page  # the founder sees the application...
        assert (
            f"approve-{application.id}" not in page and f"reject-{application.id}" not in page
        )  # ...no forms
    token = csrf_token(client, "/applications")
    approve = client.post(
        f"/applications/{application.id}/approve",
        data={
            f"approve-{application.id}-csrf_token": token,
            f"approve-{application.id}-amount_yuan": "1",
            f"approve-{application.id}-confirm": "y",
        },
    )
    reject = client.post(
        f"/applications/{application.id}/reject",
        data={f"reject-{application.id}-csrf_token": token, f"reject-{application.id}-reason": "x"},
    )
    assert (approve.status_code, reject.status_code) == (403, 403)
    assert fetch(app, Application, application.id).status == "pending"
    assert _count(app, Voucher) == 0


# --- the wallet and revocation ----------------------------------------------------------------------------


def test_wallet_shows_spent_committed_available_and_a_usage_bar(client, login, app, spending):
    voucher = spending["voucher"]
    login(spending["officer"])
    page = text(client.get(f"/teams/{spending['team'].id}/vouchers"))
    card = page.split(f'id="voucher-{voucher.id}"', 1)[1]
    assert re.search(r'data-figure="spent">¥20\.00<', card)
    assert re.search(r'data-figure="committed">¥40\.00<', card)
    assert re.search(r'data-figure="available">¥4,940\.00<', card)
    assert legend_figures(card, f"voucher-legend-{voucher.id}") == {
        "spent": "¥20.00",
        "committed": "¥40.00",
        "available": "¥4,940.00",
    }
    rects = bar_rects(card, f"voucher-bar-{voucher.id}")
    assert rects == {"spent": (0, 4), "committed": (4, 8), "available": (12, 988)}


def test_officer_revokes_from_the_wallet(client, make, login, app):
    officer = make.finance(None)
    program = make.program(officer=officer)
    founder = make.user("founder")
    team = make.team(owner=founder, verified=True)
    voucher = make.voucher(team, program, 300_000)
    prefix = f"revoke-{voucher.id}"
    login(founder)
    page = text(client.get(f"/teams/{team.id}/vouchers"))
    assert f'name="{prefix}-reason"' not in page  # founders see their voucher, not the revoke form
    refused = client.post(
        f"/vouchers/{voucher.id}/revoke",
        data={f"{prefix}-csrf_token": csrf_token(client, "/programs"), f"{prefix}-reason": "x"},
    )
    assert refused.status_code == 403
    assert fetch(app, Voucher, voucher.id).status == "active"
    login(officer)
    token = csrf_token(client, f"/teams/{team.id}/vouchers")
    assert f'name="{prefix}-reason"' in text(client.get(f"/teams/{team.id}/vouchers"))
    empty = client.post(f"/vouchers/{voucher.id}/revoke", data={f"{prefix}-csrf_token": token})
    assert empty.status_code == 422 and f'id="{prefix}-reason-errors"' in text(empty)
    assert fetch(app, Voucher, voucher.id).status == "active"
    response = client.post(
        f"/vouchers/{voucher.id}/revoke",
        data={f"{prefix}-csrf_token": token, f"{prefix}-reason": "团队已解散"},
    )
    assert response.status_code == 302 and response.headers["Location"] == f"/teams/{team.id}/vouchers"
    revoked = fetch(app, Voucher, voucher.id)
    assert (revoked.status, revoked.revoke_reason) == ("revoked", "团队已解散")
    assert summary_of(app, program.id)["unissued_fen"] == program.budget_fen  # all of it went back
    page = text(client.get(response.headers["Location"]))
    assert "已收回" in page and f'name="{prefix}-reason"' not in page
    assert re.search(r'data-figure="available">¥0\.00<', page)
    assert legend_figures(page, f"voucher-legend-{voucher.id}") == {
        "spent": "¥0.00",
        "committed": "¥0.00",
        "available": "¥0.00",
        "returned": "¥3,000.00",
    }


def test_expiry_at_the_programmes_end_reads_as_its_last_day(client, make, login):
    program = make.program(valid_to=date(2026, 6, 30), voucher_validity_days=365)
    founder = make.user("founder")
    team = make.team(owner=founder, verified=True)
    voucher = make.voucher(team, program, 10_000)  # expires at 2026-07-01 00:00 Beijing time
    login(founder)
    card = text(client.get(f"/teams/{team.id}/vouchers")).split(f'id="voucher-{voucher.id}"', 1)[1]
    assert ">2026-06-30</time>" in card and "（北京时间，含当天）" in card


def test_team_detail_links_to_the_wallet(client, make, login):
    founder = make.user("founder")
    team = make.team(owner=founder)
    login(founder)
    assert f'href="/teams/{team.id}/vouchers"' in text(client.get(f"/teams/{team.id}"))


def test_wallet_is_only_for_the_team_and_finance(client, make, login):
    team = make.team(verified=True)
    login(make.user("founder"))
    assert client.get(f"/teams/{team.id}/vouchers").status_code == 404
    login(make.user("lab_manager"))
    assert client.get(f"/teams/{team.id}/vouchers").status_code == 404


# --- CSRF -----------------------------------------------------------------------------------------------


def test_posts_without_csrf_token_are_refused_and_change_nothing(client, make, login, app):
    officer = make.finance(None)
    program = make.program(officer=officer)
    founder = make.user("founder")
    team = make.team(owner=founder, verified=True)
    pending = apply_for(app, team, program, 10_000)
    voucher = make.voucher(team, program, 20_000)
    programs_before, applications_before = _count(app, Program), _count(app, Application)
    login(founder)
    applied = client.post(
        f"/programs/{program.id}/apply", data={"team_id": str(team.id), "amount_yuan": "1", "purpose": "x"}
    )
    login(officer)
    created = client.post("/programs", data=program_form(None))
    approved = client.post(f"/applications/{pending.id}/approve", data={})
    rejected = client.post(f"/applications/{pending.id}/reject", data={f"reject-{pending.id}-reason": "x"})
    revoked = client.post(f"/vouchers/{voucher.id}/revoke", data={f"revoke-{voucher.id}-reason": "x"})
    assert [r.status_code for r in (applied, created, approved, rejected, revoked)] == [400] * 5
    assert (_count(app, Program), _count(app, Application)) == (programs_before, applications_before)
    assert fetch(app, Application, pending.id).status == "pending"
    assert fetch(app, Voucher, voucher.id).status == "active"
