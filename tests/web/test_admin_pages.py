"""The administration pages: users, labs and their managers, compute providers, through the same domain
functions as the admin-only API. Only administrators may open them; a refused form shows the reason next
to the field and changes nothing.

Pages are asserted in Chinese (the default UI language) unless a test switches to English.
"""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from booking.core.db import db
from booking.models import Organization, Provider, User
from instruments.models import Lab, LabManager
from tests.conftest import csrf_token

PAGES = ("/admin", "/admin/users", "/admin/labs", "/admin/providers")


def text(response) -> str:
    return response.get_data(as_text=True)


def count(app, model) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def user_by_email(app, email: str) -> User | None:
    with app.app_context():
        return db.session.scalar(select(User).where(User.email == email))


def field_errors(html: str, field_id: str) -> str:
    match = re.search(rf'<ul class="errors" id="{re.escape(field_id)}-errors">(.*?)</ul>', html, re.S)
    assert match, f"no errors shown next to {field_id}"
    return match.group(1)


@pytest.fixture
def admin(make, login):
    user = make.user("admin")
    login(user)
    return user


def new_user(token: str, **fields) -> dict:
    return {
        "csrf_token": token,
        "email": "new.person@example.cn",
        "name": "New Person",
        "role": "founder",
        "password": "s3cret-pass",
        "district_code": "",
        "provider_id": "",
        "lab_id": "",
        **fields,
    }


# --- access ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", PAGES)
def test_every_page_renders_for_an_administrator_with_the_navigation(client, admin, path):
    response = client.get(path)
    assert response.status_code == 200
    html = text(response)
    assert 'href="/admin"' in html and "系统管理" in html  # the main navigation's link
    assert 'aria-current="page"' in html  # the sub-navigation marks where we are


@pytest.mark.parametrize("role", ["founder", "lab_manager", "provider", "finance"])
def test_other_roles_get_403_and_no_navigation_link(client, make, login, role):
    login(make.user(role))
    for path in PAGES:
        assert client.get(path).status_code == 403, path
    assert 'href="/admin"' not in text(client.get("/", follow_redirects=True))


def test_anonymous_is_sent_to_sign_in(client):
    response = client.get("/admin/users")
    assert response.status_code == 302 and "/sign-in" in response.headers["Location"]


def test_the_overview_counts_users_by_role_and_links_the_sections(client, admin, make):
    make.user("lab_manager")
    make.provider()
    html = text(client.get("/admin"))
    for href in ('href="/admin/users"', 'href="/admin/labs"', 'href="/admin/providers"'):
        assert href in html
    assert 'href="/admin/users?role=lab_manager"' in html and "实验室管理员" in html


def test_both_languages_render(client, admin):
    client.get("/language/en")
    for path in PAGES:
        html = text(client.get(path))
        assert "Administration" in html and "系统管理" not in html, path
    assert "New user" in text(client.get("/admin/users"))
    assert "Add manager" in text(client.get("/admin/labs")) or "No labs yet." in text(
        client.get("/admin/labs")
    )
    client.get("/language/zh_CN")
    html = text(client.get("/admin/users"))
    assert "新建用户" in html and "New user" not in html


# --- users -----------------------------------------------------------------------------------------------


def test_the_user_list_is_newest_first_with_translated_roles_and_filters_by_role(client, admin, make):
    older = make.user("lab_manager", name="Older Manager")
    newer = make.user("finance", district_code="500106", name="Newer Finance")
    html = text(client.get("/admin/users"))
    assert html.index("Newer Finance") < html.index("Older Manager")
    assert "财政人员" in html and 'data-label="角色"' in html and "v-table" in html
    filtered = text(client.get("/admin/users?role=lab_manager"))
    assert older.email in filtered and newer.email not in filtered
    bad = client.get("/admin/users?role=wizard")
    assert bad.status_code == 422 and field_errors(text(bad), "role-filter")


def test_the_user_list_pages_by_50(client, admin, make):
    created = [make.user("founder", name=f"Paged {i:02d}") for i in range(51)]
    first = text(client.get("/admin/users?role=founder"))
    assert created[-1].email in first and created[0].email not in first
    older = re.search(r'href="(/admin/users\?[^"]*before=\d+[^"]*)"', first)
    assert older, "no link to older users"
    second = text(client.get(older.group(1).replace("&amp;", "&")))
    assert created[0].email in second and created[-1].email not in second
    assert client.get("/admin/users?before=99999999999999999999").status_code == 200


def test_an_administrator_creates_a_user(client, app, admin):
    token = csrf_token(client, "/admin/users")
    response = client.post("/admin/users", data=new_user(token, email=" New.Person@Example.cn "))
    assert response.status_code == 302 and response.headers["Location"].endswith("/admin/users")
    html = text(client.get("/admin/users"))
    assert "已创建用户 new.person@example.cn" in html
    user = user_by_email(app, "new.person@example.cn")
    assert user.role == "founder" and user.name == "New Person" and user.password_hash != "s3cret-pass"
    # the new account signs in with its password
    other = app.test_client()
    sign_token = csrf_token(other, "/sign-in")
    signed = other.post(
        "/sign-in", data={"email": user.email, "password": "s3cret-pass", "csrf_token": sign_token}
    )
    assert signed.status_code == 302


def test_finance_users_get_a_district_or_are_municipal(client, app, admin):
    token = csrf_token(client, "/admin/users")
    client.post(
        "/admin/users", data=new_user(token, email="d@example.cn", role="finance", district_code="500103")
    )
    client.post("/admin/users", data=new_user(token, email="m@example.cn", role="finance"))
    assert user_by_email(app, "d@example.cn").district_code == "500103"
    municipal = user_by_email(app, "m@example.cn")
    assert municipal.role == "finance" and municipal.district_code is None


def test_provider_users_need_a_provider_and_get_it(client, app, admin, make):
    provider = make.provider(name="Cloud One")
    token = csrf_token(client, "/admin/users")
    refused = client.post("/admin/users", data=new_user(token, email="p@example.cn", role="provider"))
    assert refused.status_code == 422
    assert "需要" in field_errors(text(refused), "provider_id")
    assert user_by_email(app, "p@example.cn") is None
    client.post(
        "/admin/users",
        data=new_user(token, email="p@example.cn", role="provider", provider_id=str(provider.id)),
    )
    assert user_by_email(app, "p@example.cn").provider_id == provider.id


def test_a_lab_manager_can_be_created_for_a_lab(client, app, admin, make):
    lab = make.lab()
    token = csrf_token(client, "/admin/users")
    response = client.post(
        "/admin/users", data=new_user(token, email="lm@example.cn", role="lab_manager", lab_id=str(lab.id))
    )
    assert response.status_code == 302
    user = user_by_email(app, "lm@example.cn")
    with app.app_context():
        assert db.session.get(LabManager, (lab.id, user.id)) is not None


def test_a_duplicate_email_is_refused_next_to_the_field(client, app, admin, make):
    existing = make.user("founder")
    before = count(app, User)
    token = csrf_token(client, "/admin/users")
    response = client.post("/admin/users", data=new_user(token, email=existing.email.upper(), name="Copy"))
    assert response.status_code == 409
    assert "已存在" in field_errors(text(response), "email")
    assert count(app, User) == before


@pytest.mark.parametrize(
    "fields, field",
    [
        ({"email": ""}, "email"),
        ({"email": "not-an-address"}, "email"),
        ({"name": "   "}, "name"),
        ({"password": "short"}, "password"),
        ({"role": "wizard"}, "role"),
        ({"role": "finance", "district_code": "999999"}, "district_code"),
        ({"role": "founder", "district_code": "500106"}, "district_code"),
        ({"role": "founder", "lab_id": "1"}, "lab_id"),
        ({"name": "bad\x00name"}, "name"),
    ],
)
def test_bad_user_input_is_refused_next_to_the_field_and_changes_nothing(client, app, admin, fields, field):
    before = count(app, User)
    token = csrf_token(client, "/admin/users")
    response = client.post("/admin/users", data=new_user(token, **fields))
    assert response.status_code == 422
    assert field_errors(text(response), field)
    assert count(app, User) == before


def test_a_lab_that_disappeared_is_reported_next_to_the_field(client, app, admin, monkeypatch):
    """The select offers only existing labs; the domain layer's refusal of an unknown one (a stale page)
    is shown next to the field too, and nothing is created."""
    from booking.web import admin_forms

    monkeypatch.setattr(admin_forms.SelectField, "pre_validate", lambda self, form: None)
    token = csrf_token(client, "/admin/users")
    response = client.post(
        "/admin/users", data=new_user(token, email="x@example.cn", role="lab_manager", lab_id="2147483000")
    )
    assert response.status_code == 422
    assert field_errors(text(response), "lab_id")
    assert user_by_email(app, "x@example.cn") is None


# --- labs and managers -----------------------------------------------------------------------------------


def test_an_administrator_creates_a_lab(client, app, admin):
    token = csrf_token(client, "/admin/labs")
    data = {
        "csrf_token": token,
        "name": " 材料  分析中心 ",
        "university": "重庆大学",
        "district_code": "500106",
        "organization": "重庆大学",
    }
    response = client.post("/admin/labs", data=data)
    assert response.status_code == 302
    with app.app_context():
        lab = db.session.scalar(select(Lab).where(Lab.name == "材料 分析中心"))
        assert lab is not None and lab.district_code == "500106" and lab.university.name == "重庆大学"
    html = text(client.get("/admin/labs"))
    assert "已创建实验室" in html and f'id="lab-{lab.id}"' in html and 'data-label="管理员"' in html


@pytest.mark.parametrize(
    "fields, field",
    [
        ({"name": ""}, "name"),
        ({"university": ""}, "university"),
        ({"organization": ""}, "organization"),
        ({"district_code": "999999"}, "district_code"),
        ({"district_code": ""}, "district_code"),
    ],
)
def test_bad_lab_input_is_refused_next_to_the_field(client, app, admin, fields, field):
    before_labs, before_orgs = count(app, Lab), count(app, Organization)
    token = csrf_token(client, "/admin/labs")
    data = {
        "csrf_token": token,
        "name": "L",
        "university": "重庆大学",
        "district_code": "500106",
        "organization": "New Org Ltd",
        **fields,
    }
    response = client.post("/admin/labs", data=data)
    assert response.status_code == 422
    assert field_errors(text(response), field)
    assert (count(app, Lab), count(app, Organization)) == (before_labs, before_orgs)


def test_an_administrator_adds_a_lab_manager_idempotently(client, app, admin, make):
    lab = make.lab(name="Cryo Lab")
    manager = make.user("lab_manager", name="Wang Manager")
    html = text(client.get("/admin/labs"))
    assert f'<option value="{manager.id}">' in html
    token = csrf_token(client, "/admin/labs")
    for _ in range(2):
        response = client.post(
            f"/admin/labs/{lab.id}/managers", data={"csrf_token": token, "user_id": manager.id}
        )
        assert response.status_code == 302
    with app.app_context():
        assert db.session.scalars(select(LabManager.user_id).where(LabManager.lab_id == lab.id)).all() == [
            manager.id
        ]
    html = text(client.get("/admin/labs"))
    assert "Wang Manager" in html and manager.email in html


@pytest.mark.parametrize("who", ["founder", "unknown", "garbage", "huge"])
def test_only_lab_managers_can_be_added_to_a_lab(client, app, admin, make, who):
    lab = make.lab()
    make.user("lab_manager")  # so the forms are shown
    user_id = {
        "founder": lambda: make.user("founder").id,
        "unknown": lambda: 2147483000,
        "garbage": lambda: "abc",
        "huge": lambda: 10**30,
    }[who]()
    token = csrf_token(client, "/admin/labs")
    response = client.post(f"/admin/labs/{lab.id}/managers", data={"csrf_token": token, "user_id": user_id})
    assert response.status_code == 422
    assert field_errors(text(response), f"manager-{lab.id}")
    assert count(app, LabManager) == 0


def test_adding_a_manager_to_an_unknown_lab_is_404(client, admin, make):
    manager = make.user("lab_manager")
    token = csrf_token(client, "/admin/labs")
    response = client.post(
        "/admin/labs/2147483000/managers", data={"csrf_token": token, "user_id": manager.id}
    )
    assert response.status_code == 404


# --- providers -------------------------------------------------------------------------------------------


def test_an_administrator_creates_a_provider(client, app, admin):
    token = csrf_token(client, "/admin/providers")
    response = client.post(
        "/admin/providers", data={"csrf_token": token, "name": "Yun GPU", "organization": "云算科技有限公司"}
    )
    assert response.status_code == 302
    with app.app_context():
        provider = db.session.scalar(select(Provider).where(Provider.name == "Yun GPU"))
        assert provider.organization.name == "云算科技有限公司"
    html = text(client.get("/admin/providers"))
    assert "Yun GPU" in html and "云算科技有限公司" in html and f"provider_id={provider.id}" in html
    # and it is offered when creating its users
    assert f'<option value="{provider.id}">Yun GPU' in text(client.get("/admin/users"))


@pytest.mark.parametrize("fields, field", [({"name": ""}, "name"), ({"organization": " "}, "organization")])
def test_bad_provider_input_is_refused_next_to_the_field(client, app, admin, fields, field):
    before = count(app, Provider)
    token = csrf_token(client, "/admin/providers")
    data = {"csrf_token": token, "name": "P", "organization": "Org", **fields}
    response = client.post("/admin/providers", data=data)
    assert response.status_code == 422
    assert field_errors(text(response), field)
    assert count(app, Provider) == before


def test_forms_of_other_roles_are_refused(client, app, make, login):
    login(make.user("finance"))
    before = count(app, Provider)
    token = csrf_token(client, "/")
    response = client.post("/admin/providers", data={"csrf_token": token, "name": "P", "organization": "Org"})
    assert response.status_code == 403
    assert count(app, Provider) == before
