"""Programme forms ask for rates in percent (stored as basis points, converted exactly, at most two
decimals); the approval card shows what may still be issued (the team's remaining per-team cap, the
programme's budget left) and approving asks for confirmation (a checkbox: works without script)."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from booking.core import clock
from booking.core.db import db
from tests.conftest import csrf_token
from tests.web.test_voucher_pages import NOW, apply_for, program_form
from vouchers.models import Application, Program, Voucher


@pytest.fixture(autouse=True)
def frozen_now():
    with clock.frozen_at(NOW):
        yield


def text(response) -> str:
    return response.get_data(as_text=True)


def count(app, model) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def test_the_programme_form_asks_for_rates_in_percent(client, make, login):
    login(make.finance("500106"))
    page = text(client.get("/programs"))
    assert 'name="rate_percent"' in page and 'name="stack_ceiling_percent"' in page
    assert 'name="rate_bp"' not in page and "基点" not in page
    ceiling = re.search(r'<input[^>]*name="stack_ceiling_percent"[^>]*>', page).group(0)
    assert 'value="100"' in ceiling  # the default, in percent


@pytest.mark.parametrize(
    ("rate", "ceiling", "rate_bp", "ceiling_bp"),
    [
        ("30", "80", 3000, 8000),
        ("12.34", "99.99", 1234, 9999),
        ("0.01", "100", 1, 10_000),
        ("12.5%", " 70 ", 1250, 7000),
    ],
)
def test_percent_is_converted_to_basis_points_exactly(
    client, make, login, app, rate, ceiling, rate_bp, ceiling_bp
):
    login(make.finance("500106"))
    data = program_form(csrf_token(client, "/programs"), rate_percent=rate, stack_ceiling_percent=ceiling)
    response = client.post("/programs", data=data)
    assert response.status_code == 302, text(response)[:500]
    with app.app_context():
        program = db.session.get(Program, int(response.headers["Location"].rsplit("/", 1)[1]))
        assert (program.rate_bp, program.stack_ceiling_bp) == (rate_bp, ceiling_bp)


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("12.345", "最多两位小数"),
        ("0", "0.01% 至 100%"),
        ("100.01", "0.01% 至 100%"),
        ("3000", "0.01% 至 100%"),
        ("三十", "0.01% 至 100%"),
        ("-5", "0.01% 至 100%"),
    ],
)
def test_a_rate_that_is_not_a_percentage_with_two_decimals_is_refused(
    client, make, login, app, typed, message
):
    login(make.finance("500106"))
    response = client.post(
        "/programs", data=program_form(csrf_token(client, "/programs"), rate_percent=typed)
    )
    assert response.status_code == 422
    page = text(response)
    assert message in page.split('id="rate_percent-errors"', 1)[1].split("</ul>", 1)[0]
    assert f'value="{typed}"' in page  # what was typed is shown again, never a rounded value
    assert count(app, Program) == 0


def test_the_approval_card_shows_the_teams_remaining_cap_and_the_budget_left(client, make, login, app):
    officer = make.finance(None)
    program = make.program(officer=officer, budget_fen=100_000, per_team_cap_fen=60_000)
    team, other = make.team(verified=True), make.team(verified=True)
    make.voucher(team, program, 20_000)  # the team already has ¥200 of its ¥600 cap
    make.voucher(other, program, 30_000)  # ¥500 of the ¥1,000 budget issued in all
    application = apply_for(app, team, program, 50_000)
    login(officer)
    for page_url in (f"/programs/{program.id}", "/applications"):
        card = (
            text(client.get(page_url)).split(f'id="application-{application.id}"', 1)[1].split("</li>", 1)[0]
        )
        assert "该团队在本项目的剩余额度" in card and "¥400.00" in card
        assert "项目剩余可发放预算" in card and "¥500.00" in card
        assert "申请金额超过仍可发放的金额" in card  # ¥500 asked, ¥400 may still be issued


def test_approving_asks_for_confirmation(client, make, login, app):
    officer = make.finance(None)
    program = make.program(officer=officer)
    application = apply_for(app, make.team(verified=True), program, 10_000)
    login(officer)
    prefix = f"approve-{application.id}"
    page = text(client.get(f"/programs/{program.id}"))
    assert re.search(rf'<input[^>]*name="{prefix}-confirm"[^>]*type="checkbox"', page)
    token = csrf_token(client, "/programs")
    unconfirmed = client.post(f"/applications/{application.id}/approve", data={f"{prefix}-csrf_token": token})
    assert unconfirmed.status_code == 422
    assert "请勾选此项以确认批准" in text(unconfirmed).split(f'id="{prefix}-confirm-errors"', 1)[1]
    assert count(app, Voucher) == 0
    with app.app_context():
        assert db.session.get(Application, application.id).status == "pending"
    confirmed = client.post(
        f"/applications/{application.id}/approve",
        data={f"{prefix}-csrf_token": token, f"{prefix}-confirm": "y"},
    )
    assert confirmed.status_code == 302
    assert count(app, Voucher) == 1


def instrument_form(token: str, lab_id: int, **fields) -> dict:
    return {
        "csrf_token": token,
        "lab_id": str(lab_id),
        "name": "拉曼光谱仪",
        "category": "spectroscopy",
        "hourly_rate_yuan": "120.50",
        "operation_mode": "project",
        "slot_minutes": "60",
        "min_minutes": "60",
        "max_minutes": "240",
        "lead_minutes": "120",
        "horizon_days": "30",
        "free_cancel_hours": "48",
        "late_cancel_fee_percent": "25",
        "no_show_grace_minutes": "10",
        "no_show_fee_percent": "100",
        "timezone": "Asia/Shanghai",
        **fields,
    }


def test_instrument_fees_in_percent_are_exact_or_refused(client, make, login, app):
    from instruments.models import Instrument

    manager = make.user("lab_manager")
    lab = make.lab(manager=manager)
    login(manager)
    token = csrf_token(client, "/lab/instruments/new")
    rounded = client.post(
        "/lab/instruments/new", data=instrument_form(token, lab.id, late_cancel_fee_percent="12.345")
    )
    assert rounded.status_code == 422 and "最多两位小数" in text(rounded)  # never silently 12.34 or 12.35
    assert count(app, Instrument) == 0
    done = client.post(
        "/lab/instruments/new",
        data=instrument_form(token, lab.id, late_cancel_fee_percent="12.34", no_show_fee_percent="0"),
    )
    assert done.status_code == 302
    with app.app_context():
        instrument = db.session.scalars(select(Instrument)).one()
        assert (instrument.late_cancel_fee_bp, instrument.no_show_fee_bp) == (1234, 0)
