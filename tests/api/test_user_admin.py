"""PATCH /api/v1/users/{id}: editing users, deactivation and reactivation, and the audit trail."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from booking.core import clock
from booking.core.db import db
from booking.models import Booking, Team, User
from instruments.models import LabManager
from tests.conftest import PASSWORD, csrf_token, sign_in
from vouchers.models import AuditEntry


def _patch(api, admin, user_id, **body):
    return api.as_(admin).patch(f"/api/v1/users/{user_id}", json=body)


def _error(response) -> dict:
    return response.get_json()["error"]


def _entries(app, user_id) -> list[AuditEntry]:
    with app.app_context():
        return list(
            db.session.scalars(
                select(AuditEntry)
                .where(AuditEntry.object_type == "users", AuditEntry.object_id == str(user_id))
                .order_by(AuditEntry.id)
            )
        )


def _next_weekday_10am() -> datetime:
    tz = ZoneInfo("Asia/Shanghai")
    day = clock.now().astimezone(tz).date() + timedelta(days=7)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return datetime.combine(day, time(10), tzinfo=tz).astimezone(UTC)


# --- editing ---------------------------------------------------------------------------------------------


def test_rename_answers_the_user_with_active_and_email_verified(app, api, make):
    admin, founder = make.user("admin"), make.user("founder")
    response = _patch(api, admin, founder.id, name="  李  四 ")
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["name"] == "李 四"
    assert body["active"] is True and body["email_verified"] is True
    [entry] = _entries(app, founder.id)
    assert entry.action == "update_user" and entry.actor_id == admin.id
    assert entry.before["name"] == founder.name and entry.after["name"] == "李 四"


def test_role_change_to_finance_with_district_and_back(app, api, make):
    admin, user = make.user("admin"), make.user("founder")
    response = _patch(api, admin, user.id, role="finance", district_code="500106")
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["district_code"] == "500106"
    # leaving finance drops the district (the table refuses a district for other roles)
    response = _patch(api, admin, user.id, role="founder")
    assert response.status_code == 200
    assert response.get_json()["district_code"] is None and response.get_json()["role"] == "founder"
    assert [e.after["role"] for e in _entries(app, user.id)] == ["finance", "founder"]


def test_municipal_finance_by_null_district(api, make):
    admin, officer = make.user("admin"), make.finance("500106")
    response = _patch(api, admin, officer.id, district_code=None)
    assert response.status_code == 200 and response.get_json()["district_code"] is None


def test_role_change_to_provider_needs_a_provider(api, make):
    admin, user, provider = make.user("admin"), make.user("founder"), make.provider()
    refused = _patch(api, admin, user.id, role="provider")
    assert refused.status_code == 422 and "provider_id" in _error(refused)["details"]
    response = _patch(api, admin, user.id, role="provider", provider_id=provider.id)
    assert response.status_code == 200 and response.get_json()["provider_id"] == provider.id
    back = _patch(api, admin, user.id, role="founder")
    assert back.status_code == 200 and back.get_json()["provider_id"] is None


def test_lab_id_makes_a_lab_manager_manage_that_lab(app, api, make):
    admin, user, lab = make.user("admin"), make.user("founder"), make.lab()
    response = _patch(api, admin, user.id, role="lab_manager", lab_id=lab.id)
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["lab_ids"] == [lab.id]
    # leaving the role ends the lab memberships (no founder manages a lab)
    assert _patch(api, admin, user.id, role="founder").status_code == 200
    with app.app_context():
        assert db.session.scalar(select(LabManager).where(LabManager.user_id == user.id)) is None
    assert _entries(app, user.id)[-1].before["lab_ids"] == [lab.id]


@pytest.mark.parametrize(
    ("role", "field", "value"),
    [
        ("founder", "district_code", "500106"),
        ("founder", "provider_id", "provider"),
        ("founder", "lab_id", "lab"),
        ("finance", "lab_id", "lab"),
        ("lab_manager", "provider_id", "provider"),
    ],
)
def test_references_that_do_not_fit_the_role_are_422_naming_the_field(app, api, make, role, field, value):
    admin, user = make.user("admin"), make.user("founder")
    value = {"provider": lambda: make.provider().id, "lab": lambda: make.lab().id}.get(value, lambda: value)()
    response = _patch(api, admin, user.id, role=role, **{field: value})
    assert response.status_code == 422
    assert field in _error(response)["details"]
    with app.app_context():
        assert db.session.get(User, user.id).role == "founder"  # nothing changed
    assert _entries(app, user.id) == []


@pytest.mark.parametrize(
    ("role", "field", "value"),
    [
        ("finance", "district_code", "999999"),
        ("provider", "provider_id", 99999),
        ("lab_manager", "lab_id", 99999),
    ],
)
def test_unknown_references_are_422_unknown_reference(api, make, role, field, value):
    admin, user = make.user("admin"), make.user("founder")
    response = _patch(api, admin, user.id, role=role, **{field: value})
    assert response.status_code == 422
    assert _error(response)["code"] == "unknown_reference" and field in _error(response)["details"]


def test_bad_role_is_422(api, make):
    admin, user = make.user("admin"), make.user("founder")
    response = _patch(api, admin, user.id, role="king")
    assert response.status_code == 422 and "role" in _error(response)["details"]


def test_unknown_user_is_404(api, make):
    assert _patch(api, make.user("admin"), 99999, name="X").status_code == 404


@pytest.mark.parametrize("role", ["founder", "lab_manager", "finance"])
def test_only_admins_may_patch(api, make, role):
    user = make.finance() if role == "finance" else make.user(role)
    target = make.user("founder")
    response = _patch(api, user, target.id, name="X")
    assert response.status_code == 403


# --- the admins ------------------------------------------------------------------------------------------


def test_an_admin_cannot_deactivate_itself(app, api, make):
    admin = make.user("admin")
    make.user("admin")  # not the last one: the self rule alone refuses
    response = _patch(api, admin, admin.id, active=False)
    assert response.status_code == 422 and _error(response)["code"] == "cannot_deactivate_self"
    with app.app_context():
        assert db.session.get(User, admin.id).is_active


def test_the_last_active_admin_cannot_be_demoted(app, api, make):
    admin = make.user("admin")
    response = _patch(api, admin, admin.id, role="founder")
    assert response.status_code == 422 and _error(response)["code"] == "last_admin"
    second = make.user("admin")
    assert _patch(api, admin, second.id, active=False).status_code == 200
    # the deactivated admin does not count: demoting the only active one is still refused
    assert _error(_patch(api, admin, admin.id, role="founder"))["code"] == "last_admin"
    assert _patch(api, admin, second.id, active=True).status_code == 200
    assert _patch(api, admin, admin.id, role="founder").status_code == 200


# --- deactivation and reactivation -----------------------------------------------------------------------


def test_deactivation_signs_out_everywhere_and_keeps_what_it_owns(app, api, client, make):
    admin, founder = make.user("admin"), make.user("founder")
    team = make.team(founder, verified=True)
    starts = _next_weekday_10am()
    booking = make.booking(team, make.instrument(), starts, starts + timedelta(hours=1))
    token = make.token_for(founder)
    browser = app.test_client()
    sign_in(browser, founder)
    assert browser.get("/account").status_code == 200

    response = _patch(api, admin, founder.id, active=False)
    assert response.status_code == 200 and response.get_json()["active"] is False

    refused = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert refused.status_code == 401
    page = browser.get("/account")
    assert page.status_code == 302 and "/sign-in" in page.headers["Location"]
    sign_in_api = client.post("/api/v1/auth/tokens", json={"email": founder.email, "password": PASSWORD})
    assert sign_in_api.status_code == 401 and _error(sign_in_api)["code"] == "account_disabled"
    wrong = client.post("/api/v1/auth/tokens", json={"email": founder.email, "password": "wrong-password-1"})
    assert wrong.status_code == 401 and _error(wrong)["code"] == "invalid_credentials"
    with app.app_context():
        assert db.session.get(Team, team.id) is not None
        assert db.session.get(Booking, booking.id) is not None
    [entry] = _entries(app, founder.id)
    assert entry.action == "deactivate_user"
    assert entry.before["active"] is True and entry.after["active"] is False


def test_reactivation_lets_the_user_sign_in_again_but_old_tokens_stay_dead(app, api, client, make):
    admin, founder = make.user("admin"), make.user("founder")
    token = make.token_for(founder)
    assert _patch(api, admin, founder.id, active=False).status_code == 200
    response = _patch(api, admin, founder.id, active=True)
    assert response.status_code == 200 and response.get_json()["active"] is True
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    fresh = client.post("/api/v1/auth/tokens", json={"email": founder.email, "password": PASSWORD})
    assert fresh.status_code == 201
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {fresh.get_json()['token']}"})
    assert me.status_code == 200
    assert [e.action for e in _entries(app, founder.id)] == ["deactivate_user", "reactivate_user"]


def test_browser_sessions_ended_by_a_deactivation_stay_ended_after_reactivation(app, api, make):
    admin, founder = make.user("admin"), make.user("founder")
    browser = app.test_client()
    sign_in(browser, founder)
    assert _patch(api, admin, founder.id, active=False).status_code == 200
    assert _patch(api, admin, founder.id, active=True).status_code == 200
    page = browser.get("/account")
    assert page.status_code == 302 and "/sign-in" in page.headers["Location"]


def test_html_sign_in_of_a_disabled_account_says_so_only_with_the_right_password(app, api, client, make):
    admin, founder = make.user("admin"), make.user("founder")
    assert _patch(api, admin, founder.id, active=False).status_code == 200
    client.get("/language/en")
    token = csrf_token(client, "/sign-in")
    right = client.post("/sign-in", data={"email": founder.email, "password": PASSWORD, "csrf_token": token})
    assert right.status_code == 422
    assert "account is disabled" in right.get_data(as_text=True)
    wrong = client.post(
        "/sign-in", data={"email": founder.email, "password": "wrong-password-1", "csrf_token": token}
    )
    assert wrong.status_code == 422
    assert "account is disabled" not in wrong.get_data(as_text=True)
    assert "password is wrong" in wrong.get_data(as_text=True)


def test_a_disabled_users_session_cookie_loads_no_one_even_if_its_session_row_survived(app, make):
    founder = make.user("founder")
    browser = app.test_client()
    sign_in(browser, founder)
    with app.app_context():  # a deactivation that forgot to end the sessions: the loader still refuses
        db.session.get(User, founder.id).is_active = False
        db.session.commit()
    page = browser.get("/account")
    assert page.status_code == 302 and "/sign-in" in page.headers["Location"]
