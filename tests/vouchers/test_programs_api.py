"""Programmes, applications, approvals, vouchers and revocation through the API."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from booking.core import clock
from booking.core.db import db
from vouchers.models import JournalTransaction, Program
from vouchers.verify import ledger_breaches

PROGRAM = {
    "name": "重庆市算力券 2026",
    "level": "municipal",
    "resource_kinds": ["compute", "instrument"],
    "rate_bp": 3000,
    "budget_fen": 1_000_000,
    "per_team_cap_fen": 300_000,
    "valid_from": "2026-01-01",
    "valid_to": "2027-06-30",
    "voucher_validity_days": 180,
}


def _count(app, model):
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def _verify(app):
    with app.app_context():
        assert ledger_breaches() == []


def test_municipal_finance_creates_and_funds_a_programme(api, make, app):
    officer = make.finance(None)
    response = api.as_(officer).post("/api/v1/programs", json=PROGRAM)
    assert response.status_code == 201, response.json
    program = response.json
    assert program["level"] == "municipal" and program["district_code"] is None
    assert program["stack_ceiling_bp"] is None
    summary = api.as_(officer).get(f"/api/v1/programs/{program['id']}/summary").json
    assert summary == {
        "budget_fen": 1_000_000,
        "issued_fen": 0,
        "available_fen": 0,
        "committed_fen": 0,
        "spent_fen": 0,
        "paid_fen": 0,
        "unissued_fen": 1_000_000,
    }
    _verify(app)


def test_district_programme_defaults_to_officer_district_and_full_ceiling(api, make):
    officer = make.finance("500112")
    body = {**PROGRAM, "level": "district", "name": "渝北区算力券"}
    response = api.as_(officer).post("/api/v1/programs", json=body)
    assert response.status_code == 201
    assert response.json["district_code"] == "500112" and response.json["stack_ceiling_bp"] == 10000


@pytest.mark.parametrize(
    ("officer_district", "body", "status", "code"),
    [
        ("500106", {"level": "municipal"}, 403, "wrong_level"),
        (None, {"level": "district", "district_code": "500106"}, 403, "wrong_level"),
        ("500106", {"level": "district", "district_code": "500103"}, 403, "wrong_district"),
        ("500106", {"level": "district", "district_code": "999999"}, 422, "unknown_reference"),
    ],
)
def test_programme_level_belongs_to_the_officer(api, make, app, officer_district, body, status, code):
    before = _count(app, Program)
    response = api.as_(make.finance(officer_district)).post("/api/v1/programs", json={**PROGRAM, **body})
    assert response.status_code == status and response.json["error"]["code"] == code
    assert _count(app, Program) == before


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"rate_bp": 0}, "rate_bp"),
        ({"rate_bp": 10001}, "rate_bp"),
        ({"rate_bp": "3000"}, "rate_bp"),
        ({"rate_bp": 30.5}, "rate_bp"),
        ({"budget_fen": 0}, "budget_fen"),
        ({"budget_fen": -5}, "budget_fen"),
        ({"budget_fen": 10**30}, "budget_fen"),
        ({"per_team_cap_fen": 0}, "per_team_cap_fen"),
        ({"per_team_cap_fen": 1_000_001}, "per_team_cap_fen"),
        ({"valid_from": "2027-01-01", "valid_to": "2026-12-01"}, "valid_to"),
        ({"valid_from": "2020-01-01", "valid_to": "2021-01-01"}, "valid_to"),
        ({"valid_to": "31/12/2027"}, "valid_to"),
        ({"voucher_validity_days": 0}, "voucher_validity_days"),
        ({"stack_ceiling_bp": 5000}, "stack_ceiling_bp"),
        ({"district_code": "500106"}, "district_code"),
        ({"resource_kinds": []}, "resource_kinds"),
        ({"resource_kinds": ["gpu"]}, "resource_kinds"),
        ({"level": "provincial"}, "level"),
        ({"name": ""}, "name"),
    ],
)
def test_bad_programmes_are_422_and_write_nothing(api, make, app, change, field):
    officer = make.finance(None)
    before = (_count(app, Program), _count(app, JournalTransaction))
    response = api.as_(officer).post("/api/v1/programs", json={**PROGRAM, **change})
    assert response.status_code == 422, response.json
    assert field in response.json["error"]["details"]
    assert (_count(app, Program), _count(app, JournalTransaction)) == before


@pytest.mark.parametrize("ceiling", [0, 10001])
def test_district_stack_ceiling_range(api, make, ceiling):
    body = {**PROGRAM, "level": "district", "stack_ceiling_bp": ceiling}
    response = api.as_(make.finance("500106")).post("/api/v1/programs", json=body)
    assert response.status_code == 422 and "stack_ceiling_bp" in response.json["error"]["details"]


def test_only_finance_creates_programmes(api, make):
    for role in ("founder", "lab_manager", "admin"):
        assert api.as_(make.user(role)).post("/api/v1/programs", json=PROGRAM).status_code == 403


def _application(api, owner, program, team, amount=200_000):
    return api.as_(owner).post(
        f"/api/v1/programs/{program.id}/applications",
        json={"team_id": team.id, "amount_fen": amount, "purpose": "训练模型"},
    )


def test_apply_and_approve_a_smaller_amount_issues_a_voucher(api, make, app):
    program = make.program(per_team_cap_fen=300_000, budget_fen=1_000_000, voucher_validity_days=30)
    owner = make.user("founder")
    team = make.team(owner=owner, verified=True)
    applied = _application(api, owner, program, team, 250_000)
    assert applied.status_code == 201 and applied.json["status"] == "pending"
    officer = api.as_(_officer(app, program))
    now = datetime(2026, 12, 1, 2, tzinfo=UTC)
    with clock.frozen_at(now):
        approved = officer.post(
            f"/api/v1/applications/{applied.json['id']}/approve", json={"amount_fen": 200_000}
        )
    assert approved.status_code == 200, approved.json
    voucher = approved.json["voucher"]
    assert approved.json["status"] == "approved"
    assert voucher["face_value_fen"] == 200_000 and voucher["balance_fen"] == 200_000
    assert datetime.fromisoformat(voucher["expires_at"]) == now + timedelta(days=30)
    wallet = api.as_(owner).get(f"/api/v1/teams/{team.id}/vouchers").json
    assert [
        (v["id"], v["level"], v["balance_fen"], v["committed_fen"], v["spent_fen"], v["status"])
        for v in wallet
    ] == [(voucher["id"], "municipal", 200_000, 0, 0, "active")]
    summary = officer.get(f"/api/v1/programs/{program.id}/summary").json
    assert summary["issued_fen"] == 200_000 and summary["unissued_fen"] == 800_000
    again = officer.post(f"/api/v1/applications/{applied.json['id']}/approve")
    assert again.status_code == 409 and again.json["error"]["code"] == "invalid_status"
    _verify(app)


def test_voucher_expiry_is_capped_by_the_programme_end(api, make, app):
    program = make.program(valid_to=date(2026, 12, 31), voucher_validity_days=365)
    team = make.team(owner=make.user("founder"), verified=True)
    with app.app_context():
        voucher = make.voucher(team, program, 1000, at=datetime(2026, 12, 1, tzinfo=UTC))
    # the end of 2026-12-31 in Chongqing = 2026-12-31T16:00Z
    assert voucher.expires_at == datetime(2026, 12, 31, 16, tzinfo=UTC)


def _officer(app, program):
    from booking.models import User

    with app.app_context():
        return db.session.get(User, program.created_by_id)


def test_approval_above_request_is_422(api, make, app):
    program = make.program()
    owner = make.user("founder")
    team = make.team(owner=owner, verified=True)
    applied = _application(api, owner, program, team, 1000).json
    response = api.as_(_officer(app, program)).post(
        f"/api/v1/applications/{applied['id']}/approve", json={"amount_fen": 1001}
    )
    assert response.status_code == 422


def test_team_cap_and_budget_are_409(api, make, app):
    program = make.program(budget_fen=500_000, per_team_cap_fen=300_000)
    officer = api.as_(_officer(app, program))
    owner = make.user("founder")
    team = make.team(owner=owner, verified=True)
    first = _application(api, owner, program, team, 200_000).json
    assert officer.post(f"/api/v1/applications/{first['id']}/approve").status_code == 200
    second = _application(api, owner, program, team, 200_000).json
    capped = officer.post(f"/api/v1/applications/{second['id']}/approve")
    assert capped.status_code == 409 and capped.json["error"]["code"] == "team_cap_exceeded"
    # a smaller approval still fits under the cap
    assert (
        officer.post(f"/api/v1/applications/{second['id']}/approve", json={"amount_fen": 100_000}).status_code
        == 200
    )
    other_owner = make.user("founder")
    other = make.team(owner=other_owner, verified=True)
    third = _application(api, other_owner, program, other, 250_000).json
    exhausted = officer.post(f"/api/v1/applications/{third['id']}/approve")
    assert exhausted.status_code == 409 and exhausted.json["error"]["code"] == "budget_exhausted"
    assert officer.get(f"/api/v1/programs/{program.id}/summary").json["unissued_fen"] == 200_000
    _verify(app)


def test_application_rules(api, make, app):
    district_program = make.program(level="district", district_code="500106")
    owner = make.user("founder")
    elsewhere = make.team(owner=owner, district_code="500103", verified=True)
    wrong = _application(api, owner, district_program, elsewhere)
    assert wrong.status_code == 403 and wrong.json["error"]["code"] == "wrong_district"
    unverified = make.team(owner=owner, district_code="500106", verified=False)
    refused = _application(api, owner, district_program, unverified)
    assert refused.status_code == 422 and refused.json["error"]["code"] == "team_not_verified"
    member = make.user("founder")
    team = make.team(owner=owner, verified=True)
    api.as_(owner).post(f"/api/v1/teams/{team.id}/members", json={"user_id": member.id})
    assert _application(api, member, district_program, team).status_code == 403  # owner only
    assert _application(api, make.user("founder"), district_program, team).status_code == 404
    zero = api.as_(owner).post(
        f"/api/v1/programs/{district_program.id}/applications",
        json={"team_id": team.id, "amount_fen": 0, "purpose": "x"},
    )
    assert zero.status_code == 422


def test_reject_and_scope_of_decisions(api, make, app):
    program = make.program(level="district", district_code="500106")
    owner = make.user("founder")
    team = make.team(owner=owner, verified=True)
    applied = _application(api, owner, program, team).json
    path = f"/api/v1/applications/{applied['id']}"
    assert api.as_(make.finance("500103")).post(path + "/approve").status_code == 404
    assert api.as_(make.finance(None)).post(path + "/approve").status_code == 404
    assert api.as_(owner).post(path + "/approve").status_code == 403
    officer = api.as_(_officer(app, program))
    assert officer.post(path + "/reject", json={}).status_code == 422
    rejected = officer.post(path + "/reject", json={"reason": "材料不全"})
    assert rejected.status_code == 200 and rejected.json["status"] == "rejected"
    assert api.as_(owner).get(path).json["reason"] == "材料不全"
    queue = officer.get("/api/v1/applications?status=pending").json["items"]
    assert queue == []


def test_wallet_visibility(api, make, app):
    program = make.program()
    owner = make.user("founder")
    team = make.team(owner=owner, district_code="500106", verified=True)
    make.voucher(team, program, 1000)
    path = f"/api/v1/teams/{team.id}/vouchers"
    assert len(api.as_(owner).get(path).json) == 1
    assert api.as_(make.finance("500106")).get(path).status_code == 200
    assert api.as_(make.finance("500103")).get(path).status_code == 404
    assert api.as_(make.user("founder")).get(path).status_code == 404
    assert api.as_(make.user("lab_manager")).get(path).status_code == 403


def test_programme_summary_scope(api, make, app):
    program = make.program(level="district", district_code="500106")
    path = f"/api/v1/programs/{program.id}/summary"
    assert api.as_(make.finance("500103")).get(path).status_code == 404
    assert api.as_(make.user("admin")).get(path).status_code == 200
    assert api.as_(make.user("founder")).get(path).status_code == 403


def test_expiry_returns_unused_uncommitted_balance(api, make, app):
    program = make.program(voucher_validity_days=10)
    team = make.team(owner=make.user("founder"), verified=True)
    issued_at = datetime(2026, 12, 1, tzinfo=UTC)
    voucher = make.voucher(team, program, 50_000, at=issued_at)
    runner = app.test_cli_runner()
    early = runner.invoke(
        args=["jobs", "run", "expire_vouchers", "--now", (issued_at + timedelta(days=9)).isoformat()]
    )
    assert "expire_vouchers: 0" in early.output
    late = runner.invoke(
        args=["jobs", "run", "expire_vouchers", "--now", (issued_at + timedelta(days=10)).isoformat()]
    )
    assert "expire_vouchers: 1" in late.output
    officer = api.as_(_officer(app, program))
    wallet = officer.get(f"/api/v1/teams/{team.id}/vouchers").json
    assert wallet[0]["status"] == "expired" and wallet[0]["balance_fen"] == 0
    assert officer.get(f"/api/v1/programs/{program.id}/summary").json["unissued_fen"] == 10_000_000
    assert voucher.id == wallet[0]["id"]
    _verify(app)


def test_ledger_verify_cli(app, make):
    make.program()
    result = app.test_cli_runner().invoke(args=["ledger", "verify"])
    assert result.exit_code == 0 and "ledger OK" in result.output


def test_programme_money_beyond_32_bits_works_on_every_engine(api, make, app):
    """¥10 billion budgets exist; money columns are 64-bit (PostgreSQL's INTEGER would overflow)."""
    officer = make.finance(None)
    body = {**PROGRAM, "budget_fen": 1_000_000_000_000, "per_team_cap_fen": 50_000_000_000}
    response = api.as_(officer).post("/api/v1/programs", json=body)
    assert response.status_code == 201, response.json
    owner = make.user("founder")
    team = make.team(owner=owner, verified=True)
    applied = api.as_(owner).post(
        f"/api/v1/programs/{response.json['id']}/applications",
        json={"team_id": team.id, "amount_fen": 30_000_000_000, "purpose": "大模型训练"},
    )
    approved = api.as_(officer).post(f"/api/v1/applications/{applied.json['id']}/approve")
    assert approved.status_code == 200 and approved.json["voucher"]["balance_fen"] == 30_000_000_000
    summary = api.as_(officer).get(f"/api/v1/programs/{response.json['id']}/summary").json
    assert summary["unissued_fen"] == 970_000_000_000
    _verify(app)
