"""The HTML side: sign-in and sessions, language choice, CSRF, and the team pages.

Pages are asserted in Chinese (the default UI language) unless a test switches to English.
"""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from booking.core.db import db
from booking.models import Team, TeamMember
from tests.conftest import PASSWORD, csrf_token, sign_in


def text(response) -> str:
    return response.get_data(as_text=True)


def session_data(client) -> dict:
    with client.session_transaction() as sess:
        return dict(sess)


def signed_in_user_id(client) -> str | None:
    return session_data(client).get("_user_id")


def team_count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Team))


def member_ids(app, team_id: int) -> dict[int, str]:
    with app.app_context():
        rows = db.session.execute(
            select(TeamMember.user_id, TeamMember.role).where(TeamMember.team_id == team_id)
        )
        return {user_id: role for user_id, role in rows}


def team_form(token: str | None = None, **fields) -> dict:
    """The team registration form's fields, filled in validly unless overridden."""
    data = {
        "name": "星火算法",
        "university": "重庆大学",
        "organization": "星火科技有限公司",
        "district_code": "500106",
    }
    data.update(fields)
    if token is not None:
        data["csrf_token"] = token
    return data


@pytest.fixture
def other_client(app):
    """A second browser, for a second user."""
    return app.test_client()


# --- language --------------------------------------------------------------------------------------------


def test_sign_in_page_is_in_chinese_by_default(client):
    response = client.get("/sign-in")
    assert response.status_code == 200
    page = text(response)
    assert '<html lang="zh-CN">' in page
    assert "<h1>登录</h1>" in page
    assert "邮箱" in page and "密码" in page
    assert "Password" not in page
    # the switcher marks the current language and links to the other one
    assert "<strong>中文</strong>" in page
    assert 'href="/language/en?next=/sign-in"' in page


def test_switching_to_english_sticks_across_requests(client):
    response = client.get("/language/en?next=/sign-in")
    assert response.status_code == 302
    assert response.headers["Location"] == "/sign-in"

    page = text(client.get("/sign-in"))
    assert '<html lang="en">' in page
    assert "<h1>Sign in</h1>" in page
    assert "Password" in page
    assert "登录" not in page
    assert "<strong>English</strong>" in page
    # a later request, another page: still English
    assert "<h1>Compute vouchers & open labs</h1>" in text(client.get("/"))

    client.get("/language/zh_CN")
    assert "<h1>登录</h1>" in text(client.get("/sign-in"))


def test_unknown_language_is_not_found_and_changes_nothing(client):
    client.get("/language/en")
    response = client.get("/language/fr")
    assert response.status_code == 404
    assert session_data(client)["locale"] == "en"


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/phish",
        "//evil.example/phish",
        "/\\evil.example/phish",
        "javascript:alert(1)",
        "/\r\nLocation: https://evil.example",
        "/\t/evil.example",
    ],
)
def test_language_switch_never_redirects_off_site(client, target):
    response = client.get("/language/en", query_string={"next": target})
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


def test_language_switch_returns_to_the_page_it_came_from(client):
    response = client.get("/language/en", query_string={"next": "/sign-in?next=%2Fteams"})
    assert response.headers["Location"] == "/sign-in?next=%2Fteams"


def test_signed_in_users_language_is_saved_for_their_next_session(client, other_client, make, login):
    founder = make.user("founder")
    login(founder)
    client.get("/language/en")

    sign_in(other_client, founder)  # a new browser: no language in its session
    page = text(other_client.get("/teams"))
    assert "<h1>Teams</h1>" in page
    assert "· founder</span>" in page  # the role label, in English


def test_role_is_shown_by_its_translated_label(client, make, login):
    login(make.user("lab_manager"))
    page = text(client.get("/", follow_redirects=True))
    assert "· 实验室管理员</span>" in page
    assert "lab_manager" not in page


# --- sign-in, sessions -----------------------------------------------------------------------------------


def test_wrong_password_shows_an_error_and_signs_nobody_in(client, make):
    founder = make.user("founder")
    token = csrf_token(client, "/sign-in")
    response = client.post(
        "/sign-in", data={"email": founder.email, "password": "wrong password", "csrf_token": token}
    )
    assert response.status_code == 422
    assert "邮箱或密码错误" in text(response)
    assert signed_in_user_id(client) is None
    assert client.get("/teams").status_code == 302


def test_unknown_email_is_refused_like_a_wrong_password(client):
    token = csrf_token(client, "/sign-in")
    response = client.post(
        "/sign-in", data={"email": "nobody@example.cn", "password": PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 422
    assert "邮箱或密码错误" in text(response)
    assert signed_in_user_id(client) is None


def test_sign_in_renews_the_session_but_keeps_the_language(client, make):
    founder = make.user("founder")
    client.get("/language/en")
    token = csrf_token(client, "/sign-in")
    with client.session_transaction() as sess:
        sess["planted"] = "fixed by someone else"
        raw_csrf_before = sess["csrf_token"]
    cookie_before = client.get_cookie("session").value

    response = client.post(
        "/sign-in", data={"email": founder.email, "password": PASSWORD, "csrf_token": token}
    )

    assert response.status_code == 302
    assert client.get_cookie("session").value != cookie_before
    after = session_data(client)
    assert "planted" not in after
    assert after.get("csrf_token") != raw_csrf_before
    assert after["_user_id"] == str(founder.id)
    assert after["locale"] == "en"


def test_sign_in_goes_to_a_same_site_next_page(client, make):
    founder = make.user("founder")
    response = client.get("/teams")
    assert response.status_code == 302
    assert response.headers["Location"] == "/sign-in?next=%2Fteams"
    assert "请先登录再查看此页面" in text(client.get("/sign-in?next=%2Fteams"))  # flashed, in Chinese

    token = csrf_token(client, "/sign-in?next=%2Fteams")
    response = client.post(
        "/sign-in?next=%2Fteams", data={"email": founder.email, "password": PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/teams"
    assert client.get("/teams").status_code == 200


@pytest.mark.parametrize("target", ["https://evil.example/phish", "//evil.example/phish", "/\\evil.example"])
def test_sign_in_ignores_an_external_next(client, make, target):
    founder = make.user("founder")
    path = "/sign-in?" + f"next={target}"
    token = csrf_token(client, path)
    response = client.post(
        "/sign-in",
        query_string={"next": target},
        data={"email": founder.email, "password": PASSWORD, "csrf_token": token},
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    assert signed_in_user_id(client) == str(founder.id)


def test_sign_out_ends_the_session_and_keeps_the_language(client, make, login):
    login(make.user("founder"))
    client.get("/language/en")
    token = csrf_token(client, "/")
    response = client.post("/sign-out", data={"csrf_token": token})
    assert response.status_code == 302
    assert signed_in_user_id(client) is None
    assert client.get("/teams").status_code == 302
    assert session_data(client)["locale"] == "en"


# --- CSRF ------------------------------------------------------------------------------------------------


def test_sign_in_without_csrf_token_is_refused(client, make):
    founder = make.user("founder")
    client.get("/sign-in")
    response = client.post("/sign-in", data={"email": founder.email, "password": PASSWORD})
    assert response.status_code == 400
    assert "请求未被受理" in text(response)
    assert signed_in_user_id(client) is None


def test_sign_in_with_a_forged_csrf_token_is_refused(client, make):
    founder = make.user("founder")
    client.get("/sign-in")
    response = client.post(
        "/sign-in", data={"email": founder.email, "password": PASSWORD, "csrf_token": "forged.token.value"}
    )
    assert response.status_code == 400
    assert signed_in_user_id(client) is None


def test_sign_out_without_csrf_token_does_not_sign_out(client, make, login):
    founder = make.user("founder")
    login(founder)
    response = client.post("/sign-out")
    assert response.status_code == 400
    assert signed_in_user_id(client) == str(founder.id)
    assert client.get("/teams").status_code == 200


def test_register_team_without_csrf_token_creates_nothing(app, client, make, login):
    login(make.user("founder"))
    response = client.post(
        "/teams/new",
        data=team_form(name="Forged"),
    )
    assert response.status_code == 400
    assert team_count(app) == 0


def test_add_member_without_csrf_token_adds_nobody(app, client, make, login):
    owner = make.user("founder")
    team = make.team(owner=owner)
    newcomer = make.user("founder")
    login(owner)
    response = client.post(f"/teams/{team.id}/members", data={"email": newcomer.email})
    assert response.status_code == 400
    assert member_ids(app, team.id) == {owner.id: "owner"}


def test_verify_without_csrf_token_verifies_nothing(app, client, make, login):
    team = make.team()
    login(make.finance("500106"))
    response = client.post(f"/teams/{team.id}/verify")
    assert response.status_code == 400
    with app.app_context():
        assert db.session.get(Team, team.id).verified is False


# --- team pages ------------------------------------------------------------------------------------------


def test_founder_registers_a_team_through_the_form(app, client, make, login):
    founder = make.user("founder")
    login(founder)
    token = csrf_token(client, "/teams/new")
    response = client.post(
        "/teams/new",
        data=team_form(token, name="  星火算法  ", organization="重庆星火科技有限公司"),
    )
    assert response.status_code == 302
    match = re.fullmatch(r"/teams/(\d+)", response.headers["Location"])
    assert match
    team_id = int(match.group(1))
    with app.app_context():
        team = db.session.get(Team, team_id)
        assert team.name == "星火算法"
        assert team.owner_id == founder.id
        assert team.district_code == "500106"
        assert team.university.name == "重庆大学"
        assert team.organization.name == "重庆星火科技有限公司"
        assert team.verified is False
    assert member_ids(app, team_id) == {founder.id: "owner"}

    page = text(client.get(f"/teams/{team_id}"))
    assert "团队已登记" in page  # the flash, in Chinese
    assert "待审核" in page


def test_team_form_offers_districts_in_the_current_language(client, make, login):
    login(make.user("founder"))
    assert "沙坪坝区 (500106)" in text(client.get("/teams/new"))
    client.get("/language/en")
    assert "(500106)</option>" in text(client.get("/teams/new"))
    assert "沙坪坝区" not in text(client.get("/teams/new"))


def test_incomplete_team_form_is_refused_with_field_errors(app, client, make, login):
    login(make.user("founder"))
    token = csrf_token(client, "/teams/new")
    response = client.post(
        "/teams/new",
        data=team_form(token, name=""),
    )
    assert response.status_code == 422
    assert 'aria-invalid="true"' in text(response)
    assert team_count(app) == 0


def test_team_form_refuses_a_district_that_is_not_offered(app, client, make, login):
    login(make.user("founder"))
    token = csrf_token(client, "/teams/new")
    response = client.post(
        "/teams/new",
        data=team_form(token, district_code="999999"),
    )
    assert response.status_code == 422
    assert team_count(app) == 0


def test_founder_sees_own_teams_only(client, make, login):
    founder = make.user("founder")
    mine = make.team(owner=founder, name="我的团队")
    theirs = make.team(name="别人的团队")
    login(founder)

    page = text(client.get("/teams"))
    assert "我的团队" in page
    assert "别人的团队" not in page
    assert client.get(f"/teams/{mine.id}").status_code == 200

    response = client.get(f"/teams/{theirs.id}")
    assert response.status_code == 404
    assert "页面不存在" in text(response)
    assert "别人的团队" not in text(response)


def test_owner_adds_a_member_by_email(app, client, make, login):
    owner = make.user("founder")
    team = make.team(owner=owner)
    newcomer = make.user("founder")
    login(owner)
    token = csrf_token(client, f"/teams/{team.id}")
    response = client.post(
        f"/teams/{team.id}/members", data={"email": f"  {newcomer.email.upper()} ", "csrf_token": token}
    )
    assert response.status_code == 302
    assert response.headers["Location"] == f"/teams/{team.id}"
    assert member_ids(app, team.id) == {owner.id: "owner", newcomer.id: "member"}
    page = text(client.get(f"/teams/{team.id}"))
    assert "成员已添加" in page
    assert newcomer.email in page


def test_adding_an_unknown_email_adds_nobody(app, client, make, login):
    owner = make.user("founder")
    team = make.team(owner=owner)
    login(owner)
    token = csrf_token(client, f"/teams/{team.id}")
    client.post(f"/teams/{team.id}/members", data={"email": "ghost@example.cn", "csrf_token": token})
    assert member_ids(app, team.id) == {owner.id: "owner"}
    assert "没有使用此邮箱的用户" in text(client.get(f"/teams/{team.id}"))


def test_adding_a_non_founder_is_refused_with_a_message(app, client, make, login):
    owner = make.user("founder")
    team = make.team(owner=owner)
    manager = make.user("lab_manager")
    login(owner)
    token = csrf_token(client, f"/teams/{team.id}")
    response = client.post(f"/teams/{team.id}/members", data={"email": manager.email, "csrf_token": token})
    assert response.status_code == 302
    assert member_ids(app, team.id) == {owner.id: "owner"}
    assert 'class="flash error"' in text(client.get(f"/teams/{team.id}"))


def test_only_the_owner_adds_members(app, client, other_client, make, login):
    owner = make.user("founder")
    member = make.user("founder")
    outsider = make.user("founder")
    team = make.team(owner=owner)
    login(owner)
    token = csrf_token(client, f"/teams/{team.id}")
    client.post(f"/teams/{team.id}/members", data={"email": member.email, "csrf_token": token})

    sign_in(other_client, member)
    token = csrf_token(other_client, f"/teams/{team.id}")
    response = other_client.post(
        f"/teams/{team.id}/members", data={"email": outsider.email, "csrf_token": token}
    )
    assert response.status_code == 403
    assert outsider.id not in member_ids(app, team.id)


def test_add_member_reveals_no_accounts_to_outsiders(client, make, login):
    """A known and an unknown address get the same answer from someone who cannot see the team."""
    team = make.team()
    known = make.user("founder")
    login(make.user("founder"))
    token = csrf_token(client, "/teams")
    for email in ("ghost@example.cn", known.email):
        response = client.post(f"/teams/{team.id}/members", data={"email": email, "csrf_token": token})
        assert response.status_code == 404


def test_only_the_owner_gets_the_add_member_form(client, other_client, make, login):
    owner = make.user("founder")
    member = make.user("founder")
    team = make.team(owner=owner)
    login(owner)
    token = csrf_token(client, f"/teams/{team.id}")
    client.post(f"/teams/{team.id}/members", data={"email": member.email, "csrf_token": token})
    assert f'action="/teams/{team.id}/members"' in text(client.get(f"/teams/{team.id}"))

    sign_in(other_client, member)
    page = text(other_client.get(f"/teams/{team.id}"))
    assert team.name in page
    assert f'action="/teams/{team.id}/members"' not in page


def test_district_finance_verifies_a_team(app, client, make, login):
    owner = make.user("founder")
    team = make.team(owner=owner, district_code="500106")
    officer = make.finance("500106")
    login(officer)

    page = text(client.get(f"/teams/{team.id}"))
    assert f'action="/teams/{team.id}/verify"' in page
    assert 'value="审核通过"' in page

    token = csrf_token(client, f"/teams/{team.id}")
    response = client.post(f"/teams/{team.id}/verify", data={"csrf_token": token})
    assert response.status_code == 302
    with app.app_context():
        verified = db.session.get(Team, team.id)
        assert verified.verified is True
        assert verified.verified_by_id == officer.id
    page = text(client.get(f"/teams/{team.id}"))
    assert "团队已审核通过" in page
    assert f'action="/teams/{team.id}/verify"' not in page


def test_verify_button_only_for_the_teams_district_finance(client, other_client, make, login):
    owner = make.user("founder")
    team = make.team(owner=owner, district_code="500106")

    login(owner)
    assert f'action="/teams/{team.id}/verify"' not in text(client.get(f"/teams/{team.id}"))

    sign_in(other_client, make.finance(None))  # municipal finance: sees every team, verifies none
    page = text(other_client.get(f"/teams/{team.id}"))
    assert team.name in page
    assert f'action="/teams/{team.id}/verify"' not in page


def test_finance_of_another_district_cannot_see_the_team(client, make, login):
    team = make.team(district_code="500106")
    login(make.finance("500103"))
    assert client.get(f"/teams/{team.id}").status_code == 404
    assert team.name not in text(client.get("/teams"))


def test_lab_manager_may_not_register_teams(app, client, make, login):
    login(make.user("lab_manager"))
    response = client.get("/teams/new")
    assert response.status_code == 403
    assert "您无权执行此操作" in text(response)

    token = csrf_token(client, "/teams")
    response = client.post(
        "/teams/new",
        data=team_form(token),
    )
    assert response.status_code == 403
    assert team_count(app) == 0


def test_register_link_only_for_founders(client, other_client, make, login):
    login(make.user("founder"))
    assert 'href="/teams/new"' in text(client.get("/teams"))
    sign_in(other_client, make.finance("500106"))
    assert 'href="/teams/new"' not in text(other_client.get("/teams"))


def test_anonymous_visitor_is_sent_to_sign_in(client, make):
    team = make.team()
    for path in ("/teams", "/teams/new", f"/teams/{team.id}"):
        response = client.get(path)
        assert response.status_code == 302, path
        assert response.headers["Location"].startswith("/sign-in?next="), path


def test_finance_dashboard_is_in_the_menu_for_finance_only(client, login, make):
    login(make.finance("500106"))
    assert 'href="/finance"' in client.get("/", follow_redirects=True).get_data(as_text=True)
    login(make.user("founder"))  # signing in replaces the session
    assert 'href="/finance"' not in client.get("/", follow_redirects=True).get_data(as_text=True)
