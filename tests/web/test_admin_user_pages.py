"""A user's administration page: edit, deactivate and reactivate (each after a confirmation page), and the
users list's status column and filters. Pages are read in English (``/language/en``) unless said."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from booking.core.db import db
from booking.models import ApiToken, OutboxMessage, User
from booking.people import email_links
from instruments.models import LabManager
from tests.conftest import csrf_token, sign_in
from vouchers.models import AuditEntry


def text(response) -> str:
    return response.get_data(as_text=True)


def reload(app, user_id: int) -> User:
    with app.app_context():
        user = db.session.get(User, user_id)
        db.session.expunge(user)
        return user


@pytest.fixture
def admin(make, login, client):
    user = make.user("admin")
    login(user)
    client.get("/language/en")
    return user


def edit(client, user_id: int, **fields):
    token = csrf_token(client, f"/admin/users/{user_id}")
    data = {"name": "Renamed", "role": "founder", "district_code": "", "provider_id": "", "lab_id": ""}
    return client.post(f"/admin/users/{user_id}", data={**data, **fields, "csrf_token": token})


def test_user_page_shows_the_account_and_an_edit_form(client, admin, make):
    founder = make.user("founder")
    html = text(client.get(f"/admin/users/{founder.id}"))
    assert founder.email in html and "Edit user" in html and "Deactivate…" in html
    assert "E-mail verified" in html
    assert client.get("/admin/users/99999").status_code == 404


def test_edit_renames_and_changes_the_role_with_its_lab(app, client, admin, make):
    user, lab = make.user("founder"), make.lab()
    response = edit(client, user.id, name="王 五", role="lab_manager", lab_id=str(lab.id))
    assert response.status_code == 302, text(response)[:2000]
    changed = reload(app, user.id)
    assert changed.name == "王 五" and changed.role == "lab_manager"
    with app.app_context():
        assert db.session.scalar(select(LabManager.lab_id).where(LabManager.user_id == user.id)) == lab.id
        assert db.session.scalar(select(AuditEntry.action).where(AuditEntry.object_id == str(user.id))) == (
            "update_user"
        )
    assert lab.name in text(client.get(f"/admin/users/{user.id}"))


def test_edit_refuses_a_district_for_a_founder_beside_the_field(app, client, admin, make):
    user = make.user("founder")
    response = edit(client, user.id, district_code="500106")
    assert response.status_code == 422
    assert re.search(r'id="district_code-errors">.*finance', text(response), re.S)
    assert reload(app, user.id).name == user.name  # nothing changed


def test_edit_refuses_demoting_the_last_admin(app, client, admin):
    response = edit(client, admin.id, name=admin.name, role="founder")
    assert response.status_code == 422
    assert "last active administrator" in text(response)
    assert reload(app, admin.id).role == "admin"


def test_deactivate_asks_first_then_signs_the_user_out(app, client, admin, make):
    founder = make.user("founder")
    make.token_for(founder)
    browser = app.test_client()
    sign_in(browser, founder)
    token = csrf_token(client, f"/admin/users/{founder.id}")

    asked = client.post(f"/admin/users/{founder.id}/deactivate", data={"csrf_token": token})
    assert asked.status_code == 200 and "Deactivate this user?" in text(asked)
    assert 'name="confirmed" type="hidden" value="yes"' in text(asked)
    assert reload(app, founder.id).is_active  # asking changes nothing

    done = client.post(
        f"/admin/users/{founder.id}/deactivate", data={"csrf_token": token, "confirmed": "yes"}
    )
    assert done.status_code == 302
    assert not reload(app, founder.id).is_active
    page = browser.get("/account")
    assert page.status_code == 302 and "/sign-in" in page.headers["Location"]
    with app.app_context():
        assert all(
            t.revoked_at is not None
            for t in db.session.scalars(select(ApiToken).filter_by(user_id=founder.id))
        )
    html = text(client.get(f"/admin/users/{founder.id}"))
    assert "Deactivated" in html and "Reactivate…" in html


def test_reactivate_asks_first_then_lets_the_user_sign_in(app, client, admin, make):
    founder = make.user("founder")
    token = csrf_token(client, f"/admin/users/{founder.id}")
    client.post(f"/admin/users/{founder.id}/deactivate", data={"csrf_token": token, "confirmed": "yes"})
    asked = client.post(f"/admin/users/{founder.id}/reactivate", data={"csrf_token": token})
    assert asked.status_code == 200 and "Reactivate this user?" in text(asked)
    assert not reload(app, founder.id).is_active
    done = client.post(
        f"/admin/users/{founder.id}/reactivate", data={"csrf_token": token, "confirmed": "yes"}
    )
    assert done.status_code == 302 and reload(app, founder.id).is_active
    sign_in(app.test_client(), founder)


def test_an_admin_cannot_deactivate_itself_here_either(app, client, admin, make):
    make.user("admin")
    token = csrf_token(client, f"/admin/users/{admin.id}")
    assert "Deactivate…" not in text(client.get(f"/admin/users/{admin.id}"))
    response = client.post(
        f"/admin/users/{admin.id}/deactivate", data={"csrf_token": token, "confirmed": "yes"}
    )
    assert response.status_code == 302
    assert reload(app, admin.id).is_active
    assert "You cannot deactivate your own account." in text(client.get(f"/admin/users/{admin.id}"))


def test_users_list_shows_status_and_filters_by_role_and_status(client, admin, make, app):
    active, disabled = make.user("founder"), make.user("founder")
    token = csrf_token(client, f"/admin/users/{disabled.id}")
    client.post(f"/admin/users/{disabled.id}/deactivate", data={"csrf_token": token, "confirmed": "yes"})
    html = text(client.get("/admin/users"))
    assert f'href="/admin/users/{active.id}"' in html and "Deactivated" in html and "E-mail verified" in html
    response = client.get("/admin/users?status=disabled")
    assert response.status_code == 200
    only_disabled = text(response)
    assert disabled.email in only_disabled and active.email not in only_disabled
    only_active_founders = text(client.get("/admin/users?role=founder&status=active"))
    assert active.email in only_active_founders and disabled.email not in only_active_founders
    assert admin.email not in only_active_founders
    assert client.get("/admin/users?status=sleeping").status_code == 422


def test_chinese_words_not_codes(client, admin, make):
    founder = make.user("founder")
    client.get("/language/zh_CN")
    html = text(client.get(f"/admin/users/{founder.id}"))
    assert "编辑用户" in html and "停用" in html
    assert "lab_manager" not in re.sub(r'value="[^"]*"|name="[^"]*"|id="[^"]*"|for="[^"]*"', "", html)


def test_an_admin_sends_a_reset_link_that_works_and_is_audited(app, client, make, login):
    admin = make.user("admin")
    person = make.user("founder")
    login(admin)
    token = csrf_token(client, f"/admin/users/{person.id}")
    response = client.post(f"/admin/users/{person.id}/password-reset", data={"csrf_token": token})
    assert response.status_code == 302
    page = client.get(f"/admin/users/{person.id}").get_data(as_text=True)
    assert person.email in page and "密码重置链接已发送" in page
    with app.app_context():
        mail = db.session.scalars(select(OutboxMessage).where(OutboxMessage.recipient == person.email)).one()
        secret = mail.body.split("token=")[1].split()[0]
        assert email_links.usable_link_user(secret, "reset_password").id == person.id
        entry = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "send_password_reset")).one()
        assert entry.actor_id == admin.id and entry.object_id == str(person.id)
