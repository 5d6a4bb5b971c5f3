"""The programme's rules and changes in the browser: the new-programme form takes the rules, the
programme page shows them, and the edit page changes name, budget, last day and rules (zh-CN/en)."""

from __future__ import annotations

from sqlalchemy import select

from booking.core import clock
from booking.core.db import db
from tests.conftest import csrf_token
from vouchers.models import AuditEntry, Program

NEW = {
    "name": "检测创新券",
    "resource_kinds": ["instrument", "service"],
    "rate_percent": "30",
    "budget_yuan": "10000",
    "per_team_cap_yuan": "1000",
    "valid_from": "2026-01-01",
    "valid_to": "2030-12-31",
    "voucher_validity_days": "365",
}


def test_the_new_programme_form_takes_the_rules(client, make, login, app):
    lab = make.lab(name="材料分析中心")
    make.provider(name="渝算云")
    login(make.finance(None))
    page = client.get("/programs").get_data(as_text=True)
    assert "材料分析中心" in page and "渝算云" in page and "每个团队的年度上限" in page
    data = {
        **NEW,
        "payees_restricted": "y",
        "eligible_payees": [f"lab:{lab.id}"],
        "rate_service_percent": "62.5",
        "annual_team_cap_yuan": "800",
        "csrf_token": csrf_token(client, "/programs"),
    }
    response = client.post("/programs", data=data)
    assert response.status_code == 302, response.get_data(as_text=True)[:3000]
    program_id = int(response.headers["Location"].rsplit("/", 1)[1])
    with app.app_context():
        program = db.session.get(Program, program_id)
        assert program.eligible_payees == [{"kind": "lab", "id": lab.id}]
        assert program.rate_bp_by_kind == {"service": 6250}
        assert program.annual_team_cap_fen == 80_000
    detail = client.get(f"/programs/{program_id}").get_data(as_text=True)
    assert "材料分析中心" in detail and "62.5%" in detail and "¥800.00" in detail
    assert "修改项目" in detail


def test_restricting_payees_without_ticking_any_is_refused(client, make, login, app):
    make.lab()
    login(make.finance(None))
    data = {**NEW, "payees_restricted": "y", "csrf_token": csrf_token(client, "/programs")}
    response = client.post("/programs", data=data)
    assert response.status_code == 422
    assert "请至少勾选一个实验室或服务商" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(Program).where(Program.name == NEW["name"])) is None


def test_the_finance_office_changes_its_programme_in_the_browser(client, make, login, app):
    officer = make.finance(None)
    program = make.program(officer=officer, budget_fen=1_000_000, per_team_cap_fen=100_000)
    provider = make.provider(name="渝算云")
    login(officer)
    path = f"/programs/{program.id}/edit"
    form = client.get(path).get_data(as_text=True)
    assert program.name in form and 'value="10000.00"' in form
    data = {
        "name": "改名后的项目",
        "budget_yuan": "15000",
        "valid_to": "2028-12-31",
        "payees_restricted": "y",
        "eligible_payees": [f"provider:{provider.id}"],
        "rate_compute_percent": "45",
        "annual_team_cap_yuan": "",
        "csrf_token": csrf_token(client, path),
    }
    response = client.post(path, data=data)
    assert response.status_code == 302, response.get_data(as_text=True)[:3000]
    with app.app_context():
        changed = db.session.get(Program, program.id)
        assert (changed.name, changed.budget_fen, changed.valid_to.isoformat()) == (
            "改名后的项目",
            1_500_000,
            "2028-12-31",
        )
        assert changed.eligible_payees == [{"kind": "provider", "id": provider.id}]
        assert changed.rate_bp_by_kind == {"compute": 4500}
        entry = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "update_program")).one()
        assert entry.after["budget_fen"] == 1_500_000
    audit = client.get("/finance/audit").get_data(as_text=True)
    assert "修改了项目" in audit and "渝算云" in audit and "¥15,000.00" in audit
    lower = {**data, "budget_yuan": "10", "csrf_token": csrf_token(client, path)}
    refused = client.post(path, data=lower)
    assert refused.status_code == 422
    client.get("/language/en")
    english = client.get(f"/programs/{program.id}").get_data(as_text=True)
    assert "Change programme" in english and "Rate for compute" in english


def test_below_issued_is_shown_beside_the_budget(client, make, login, app):
    officer = make.finance(None)
    program = make.program(officer=officer, budget_fen=1_000_000, per_team_cap_fen=100_000)
    make.voucher(make.team(verified=True), program, 100_000)
    login(officer)
    path = f"/programs/{program.id}/edit"
    data = {
        "name": program.name,
        "budget_yuan": "999.99",
        "valid_to": "2027-12-31",
        "csrf_token": csrf_token(client, path),
    }
    response = client.post(path, data=data)
    assert response.status_code == 422
    assert "预算不能低于已发放为券的金额" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(Program, program.id).budget_fen == 1_000_000


def test_the_booking_review_applies_the_programmes_eligible_payees(client, make, login, api):
    from tests.web.test_booking_review import REVIEW_HEADING, review
    from tests.web.test_instrument_pages import BEFORE

    founder = make.user("founder")
    team = make.team(owner=founder, verified=True, district_code="500106")
    lab, elsewhere = make.lab(), make.lab()
    instrument = make.instrument(lab)
    officer = make.finance(None)
    restricted = make.program(
        officer=officer, rate_bp=5000, eligible_payees=[{"kind": "lab", "id": elsewhere.id}]
    )
    anyone = make.program(level="district", district_code="500106", rate_bp=2000)
    make.voucher(team, restricted, 100_000)
    make.voucher(team, anyone, 100_000)
    login(founder)
    with clock.frozen_at(BEFORE):
        page = review(client, instrument, team, "2026-03-03", "09:00", "10:00").get_data(as_text=True)
    assert REVIEW_HEADING in page and "¥20.00" in page and "¥80.00" in page and "¥50.00" not in page
    change = {"eligible_payees": [{"kind": "lab", "id": lab.id}]}
    assert api.as_(officer).patch(f"/api/v1/programs/{restricted.id}", json=change).status_code == 200
    with clock.frozen_at(BEFORE):
        page = review(client, instrument, team, "2026-03-03", "09:00", "10:00").get_data(as_text=True)
    assert "¥50.00" in page and "¥30.00" in page


def test_a_rate_for_a_kind_not_covered_is_refused_in_words(client, make, login, app):
    login(make.finance(None))
    data = {
        **NEW,
        "rate_compute_percent": "40",
        "csrf_token": csrf_token(client, "/programs"),
    }  # covers no compute
    response = client.post("/programs", data=data)
    assert response.status_code == 422
    assert "为本项目不覆盖的资源类型设置了补贴比例" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(Program).where(Program.name == NEW["name"])) is None
