"""PATCH /api/v1/programs/{id}: name, budget (top-up, or down to what is issued), last day and the
programme's rules; who may; every change audited; a refused change changes nothing."""

from __future__ import annotations

from datetime import date, timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from booking.core import clock
from booking.core.db import db
from vouchers.models import AuditEntry, JournalTransaction, Posting, Program, Voucher
from vouchers.programs import end_of
from vouchers.verify import ledger_breaches

BASE = {
    "name": "重庆市科技创新券",
    "level": "municipal",
    "resource_kinds": ["compute", "instrument"],
    "rate_bp": 3000,
    "budget_fen": 1_000_000,
    "per_team_cap_fen": 100_000,
    "valid_from": "2026-01-01",
    "valid_to": "2027-06-30",
    "voucher_validity_days": 365,
}


@pytest.fixture
def officer(make):
    return make.finance(None)


@pytest.fixture
def program(api, officer):
    response = api.as_(officer).post("/api/v1/programs", json=BASE)
    assert response.status_code == 201, response.json
    return response.json


def _patch(api, user, program_id, body):
    return api.as_(user).patch(f"/api/v1/programs/{program_id}", json=body)


def _audits(app, program_id):
    with app.app_context():
        return list(
            db.session.scalars(
                select(AuditEntry)
                .where(AuditEntry.action == "update_program", AuditEntry.object_id == str(program_id))
                .order_by(AuditEntry.id)
            )
        )


def _snapshot(app, program_id):
    with app.app_context():
        program = db.session.get(Program, program_id)
        transactions = db.session.query(JournalTransaction).count()
        return (
            program.name,
            program.budget_fen,
            program.valid_to,
            program.eligible_payees,
            program.rate_bp_by_kind,
            program.annual_team_cap_fen,
            transactions,
        )


def test_new_programmes_carry_no_rules_until_given(program):
    assert program["eligible_payees"] is None
    assert program["rate_bp_by_kind"] == {}
    assert program["annual_team_cap_fen"] is None


def test_rules_are_accepted_at_creation_and_returned(api, officer, make):
    lab, provider = make.lab(), make.provider()
    body = {
        **BASE,
        "eligible_payees": [{"kind": "provider", "id": provider.id}, {"kind": "lab", "id": lab.id}],
        "rate_bp_by_kind": {"compute": 5000, "instrument": 0},
        "annual_team_cap_fen": 80_000,
    }
    response = api.as_(officer).post("/api/v1/programs", json=body)
    assert response.status_code == 201, response.json
    assert response.json["eligible_payees"] == [
        {"kind": "lab", "id": lab.id},
        {"kind": "provider", "id": provider.id},
    ]
    assert response.json["rate_bp_by_kind"] == {"compute": 5000, "instrument": 0}
    assert response.json["annual_team_cap_fen"] == 80_000
    again = api.as_(officer).get(f"/api/v1/programs/{response.json['id']}").json
    assert again["rate_bp_by_kind"] == {"compute": 5000, "instrument": 0}


def test_the_name_changes_and_is_audited(api, officer, program, app):
    response = _patch(api, officer, program["id"], {"name": "  新名称   2027 "})
    assert response.status_code == 200, response.json
    assert response.json["name"] == "新名称 2027"
    (entry,) = _audits(app, program["id"])
    assert entry.actor_id == officer.id and entry.object_type == "programs"
    assert entry.before == {"name": "重庆市科技创新券"} and entry.after == {"name": "新名称 2027"}


def test_a_budget_top_up_is_funded_in_the_ledger_and_the_summary(api, officer, program, app):
    response = _patch(api, officer, program["id"], {"budget_fen": 1_500_000})
    assert response.status_code == 200 and response.json["budget_fen"] == 1_500_000
    summary = api.as_(officer).get(f"/api/v1/programs/{program['id']}/summary").json
    assert summary["budget_fen"] == 1_500_000 and summary["unissued_fen"] == 1_500_000
    assert summary["issued_fen"] == 0
    with app.app_context():
        funds = db.session.scalars(
            select(JournalTransaction)
            .where(JournalTransaction.program_id == program["id"], JournalTransaction.kind == "fund")
            .order_by(JournalTransaction.id)
        ).all()
        assert len(funds) == 2  # the budget at creation, then the top-up
        top_up = db.session.scalars(select(Posting).where(Posting.transaction_id == funds[1].id)).all()
        assert sorted(p.amount_fen for p in top_up) == [-500_000, 500_000]
        assert ledger_breaches() == []
    (entry,) = _audits(app, program["id"])
    assert entry.before == {"budget_fen": 1_000_000} and entry.after == {"budget_fen": 1_500_000}


def test_the_budget_falls_to_what_is_issued_but_never_below(api, officer, program, make, app):
    team = make.team(verified=True)
    make.voucher(team, SimpleNamespace(id=program["id"], created_by_id=officer.id), 100_000)
    before = _snapshot(app, program["id"])
    refused = _patch(api, officer, program["id"], {"budget_fen": 99_999, "name": "不应改变"})
    assert refused.status_code == 422
    assert refused.json["error"]["code"] == "below_issued"
    assert "budget_fen" in refused.json["error"]["details"]
    assert _snapshot(app, program["id"]) == before  # nothing changed, not even the name
    assert _audits(app, program["id"]) == []
    response = _patch(api, officer, program["id"], {"budget_fen": 100_000})
    assert response.status_code == 200, response.json
    summary = api.as_(officer).get(f"/api/v1/programs/{program['id']}/summary").json
    assert (summary["budget_fen"], summary["issued_fen"], summary["unissued_fen"]) == (100_000, 100_000, 0)
    with app.app_context():
        assert ledger_breaches() == []


def test_the_budget_never_falls_below_the_cap_per_team(api, officer, program):
    response = _patch(api, officer, program["id"], {"budget_fen": 99_999})
    assert response.status_code == 422 and "budget_fen" in response.json["error"]["details"]


def test_extending_the_last_day_extends_vouchers_the_old_end_cut_short(api, officer, make, app):
    body = {**BASE, "valid_to": (clock.now().date() + timedelta(days=30)).isoformat()}
    program = api.as_(officer).post("/api/v1/programs", json=body).json
    team = make.team(verified=True)
    voucher = make.voucher(team, SimpleNamespace(id=program["id"], created_by_id=officer.id), 50_000)
    with app.app_context():
        old_end = end_of(date.fromisoformat(body["valid_to"]))
        assert db.session.get(Voucher, voucher.id).expires_at == old_end
    new_to = clock.now().date() + timedelta(days=400)  # beyond issue + 365 days
    response = _patch(api, officer, program["id"], {"valid_to": new_to.isoformat()})
    assert response.status_code == 200 and response.json["valid_to"] == new_to.isoformat()
    with app.app_context():
        extended = db.session.get(Voucher, voucher.id)
        assert extended.expires_at == extended.issued_at + timedelta(days=365)  # its own validity binds now
    (entry,) = _audits(app, program["id"])
    assert entry.before == {"valid_to": body["valid_to"]}
    assert entry.after == {"valid_to": new_to.isoformat(), "vouchers_extended": 1}
    shorter = _patch(api, officer, program["id"], {"valid_to": body["valid_to"]})
    assert shorter.status_code == 422 and "valid_to" in shorter.json["error"]["details"]


def test_rules_change_by_patch_and_are_audited(api, officer, program, make, app):
    lab = make.lab()
    body = {
        "eligible_payees": [{"kind": "lab", "id": lab.id}],
        "rate_bp_by_kind": {"instrument": 6000},
        "annual_team_cap_fen": 50_000,
    }
    response = _patch(api, officer, program["id"], body)
    assert response.status_code == 200, response.json
    assert response.json["eligible_payees"] == [{"kind": "lab", "id": lab.id}]
    assert response.json["rate_bp_by_kind"] == {"instrument": 6000}
    assert response.json["annual_team_cap_fen"] == 50_000
    (entry,) = _audits(app, program["id"])
    assert entry.before == {"eligible_payees": None, "rate_bp_by_kind": {}, "annual_team_cap_fen": None}
    assert entry.after == body
    cleared = _patch(
        api,
        officer,
        program["id"],
        {"eligible_payees": None, "rate_bp_by_kind": None, "annual_team_cap_fen": None},
    )
    assert cleared.status_code == 200
    assert (cleared.json["eligible_payees"], cleared.json["rate_bp_by_kind"]) == (None, {})
    assert cleared.json["annual_team_cap_fen"] is None
    assert len(_audits(app, program["id"])) == 2


def test_a_patch_changing_nothing_writes_no_audit_row(api, officer, program, app):
    assert _patch(api, officer, program["id"], {"name": BASE["name"]}).status_code == 200
    assert _audits(app, program["id"]) == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"eligible_payees": [{"kind": "lab", "id": 999_999}]}, "eligible_payees"),
        ({"eligible_payees": [{"kind": "provider", "id": 999_999}]}, "eligible_payees"),
        ({"eligible_payees": [{"kind": "team", "id": 1}]}, "eligible_payees"),
        ({"eligible_payees": [{"kind": "lab"}]}, "eligible_payees"),
        ({"rate_bp_by_kind": {"compute": 10_001}}, "rate_bp_by_kind"),
        ({"rate_bp_by_kind": {"compute": -1}}, "rate_bp_by_kind"),
        ({"rate_bp_by_kind": {"gpu": 100}}, "rate_bp_by_kind"),
        ({"rate_bp_by_kind": {"service": 100}}, "rate_bp_by_kind"),  # not a kind it covers
        ({"annual_team_cap_fen": 0}, "annual_team_cap_fen"),
        ({"annual_team_cap_fen": "100"}, "annual_team_cap_fen"),
        ({"budget_fen": 0}, "budget_fen"),
        ({"budget_fen": None}, "budget_fen"),
        ({"valid_to": "2027-02-30"}, "valid_to"),
        ({"valid_to": "2020-01-01"}, "valid_to"),
        ({"name": ""}, "name"),
        ({"rate_bp": 5000}, "rate_bp"),  # not changeable
    ],
)
def test_bad_changes_are_422_naming_the_field_and_change_nothing(api, officer, program, app, body, field):
    before = _snapshot(app, program["id"])
    response = _patch(api, officer, program["id"], body)
    assert response.status_code == 422, response.json
    assert set(response.json["error"]) >= {"code", "message", "details"}
    assert field in response.json["error"]["details"], response.json
    assert _snapshot(app, program["id"]) == before


def test_who_may_change_a_programme(api, make, app):
    district_officer = make.finance("500106")
    program = make.program(level="district", district_code="500106", officer=district_officer)
    path = f"/api/v1/programs/{program.id}"
    body = {"name": "改名"}
    assert api.as_(make.finance("500112")).patch(path, json=body).status_code == 404  # another district
    assert api.as_(make.finance(None)).patch(path, json=body).status_code == 404  # municipal: not its own
    assert api.as_(make.user("founder")).patch(path, json=body).status_code == 403
    assert api.as_(make.user("lab_manager")).patch(path, json=body).status_code == 403
    assert api.as_(make.finance("500106")).patch(path, json=body).status_code == 200  # the district's office
    assert api.as_(make.user("admin")).patch(path, json={"name": "管理员改名"}).status_code == 200
    assert api.patch(path, json=body).status_code == 401
    admin_change = _audits(app, program.id)[-1]
    assert len(_audits(app, program.id)) == 2 and admin_change.after == {"name": "管理员改名"}
