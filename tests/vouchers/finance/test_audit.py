"""The audit log: officer actions are recorded with their transaction; scoped reading."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy import select

from booking.core.db import db
from vouchers.models import AuditEntry


def entries(api, user, **query):
    response = api.as_(user).get("/api/v1/finance/audit", query_string=query)
    assert response.status_code == 200, response.json
    return response.json["items"]


def test_officer_actions_are_audited(api, make):
    officer = make.finance("500106")
    program = make.program(officer=officer, level="district", district_code="500106")
    owner = make.user("founder")
    team = make.team(owner=owner, district_code="500106")
    assert api.as_(officer).post(f"/api/v1/teams/{team.id}/verify").status_code == 200
    applications = [
        api.as_(owner)
        .post(
            f"/api/v1/programs/{program.id}/applications",
            json={"team_id": team.id, "amount_fen": 1000, "purpose": "GPU"},
        )
        .json["id"]
        for _ in range(2)
    ]
    approved = api.as_(officer).post(f"/api/v1/applications/{applications[0]}/approve", json={})
    assert approved.status_code == 200
    assert (
        api.as_(officer)
        .post(f"/api/v1/applications/{applications[1]}/reject", json={"reason": "no"})
        .status_code
        == 200
    )
    voucher_id = approved.json["voucher"]["id"]
    assert (
        api.as_(officer).post(f"/api/v1/vouchers/{voucher_id}/revoke", json={"reason": "misuse"}).status_code
        == 200
    )

    logged = entries(api, officer)
    assert [e["action"] for e in logged] == [
        "verify_team",
        "approve_application",
        "reject_application",
        "revoke_voucher",
    ]
    assert all(e["actor_id"] == officer.id and e["district_code"] == "500106" for e in logged)
    assert logged[0]["object_type"] == "teams" and logged[0]["object_id"] == str(team.id)
    assert logged[1]["after"] == {"status": "approved", "amount_fen": 1000, "voucher_id": voucher_id}
    assert logged[3]["after"]["returned_fen"] == 1000
    assert [e["action"] for e in entries(api, officer, action="revoke_voucher")] == ["revoke_voucher"]
    # scope: another district sees nothing, municipal finance and admins see all, others may not look
    assert entries(api, make.finance("500103")) == []
    assert len(entries(api, make.finance(None))) == 4
    assert len(entries(api, make.user("admin"), object_type="voucher_applications")) == 2
    assert api.as_(owner).get("/api/v1/finance/audit").status_code == 403
    assert api.get("/api/v1/finance/audit").status_code == 401


def test_a_refused_action_leaves_no_entry(api, make):
    officer = make.finance("500106")
    team = make.team(district_code="500103")
    assert api.as_(officer).post(f"/api/v1/teams/{team.id}/verify").status_code == 404
    assert entries(api, make.user("admin")) == []


def test_audit_entries_cannot_be_changed(api, make, app):
    team = make.team(district_code="500106")
    api.as_(make.finance("500106")).post(f"/api/v1/teams/{team.id}/verify")
    with app.app_context():
        entry = db.session.scalars(select(AuditEntry)).one()
        with pytest.raises(sa.exc.DBAPIError), db.session.begin_nested():
            db.session.execute(sa.update(AuditEntry).where(AuditEntry.id == entry.id).values(action="x"))


def test_bad_filters_are_422(api, make):
    assert api.as_(make.user("admin")).get("/api/v1/finance/audit?action=nope").status_code == 422
