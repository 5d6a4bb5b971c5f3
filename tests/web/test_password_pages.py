"""The HTML side of forgotten passwords, password changes and signing out everywhere."""

from __future__ import annotations

from booking.core.db import db
from booking.models import User
from tests.api.test_password_reset import NEW_PASSWORD, mails_to, me, new_token, reset_secret
from tests.conftest import PASSWORD, csrf_token, sign_in


def _post(client, path: str, data: dict, token_page: str | None = None):
    return client.post(path, data={**data, "csrf_token": csrf_token(client, token_page or path)})


def signed_in(client) -> bool:
    return client.get("/account").status_code == 200


# --- forgotten password ---------------------------------------------------------------------------------


def test_the_sign_in_page_links_to_the_reset_page(client):
    page = client.get("/sign-in").get_data(as_text=True)
    assert 'href="/password-reset"' in page
    assert "忘记密码？" in page


def test_asking_shows_the_same_page_whether_or_not_the_account_exists(app, client, make):
    user = make.user("founder")
    known = _post(client, "/password-reset", {"email": user.email})
    unknown = _post(client, "/password-reset", {"email": "nobody-here@example.cn"})
    assert known.status_code == unknown.status_code == 200
    strip = lambda page: page.get_data(as_text=True).split('name="csrf_token"')[0]  # noqa: E731
    assert "如果该邮箱对应一个账户" in strip(known)
    assert strip(known) == strip(unknown)
    assert len(mails_to(app, user.email)) == 1


def test_the_link_shows_a_form_without_spending_it_then_sets_the_password(app, client, make):
    user = make.user("founder")
    _post(client, "/password-reset", {"email": user.email})
    secret = reset_secret(app, user.email)
    path = f"/password-reset/confirm?token={secret}"

    for _ in range(2):  # looking twice does not spend it
        form = client.get(path)
        assert form.status_code == 200 and 'name="new_password"' in form.get_data(as_text=True)
        assert form.headers["Referrer-Policy"] == "no-referrer"

    differ = _post(client, path, {"new_password": NEW_PASSWORD, "new_password_again": NEW_PASSWORD + "x"})
    assert differ.status_code == 422 and "两次输入的密码不一致" in differ.get_data(as_text=True)
    weak = _post(client, path, {"new_password": "aaaaaaaaaaaa", "new_password_again": "aaaaaaaaaaaa"})
    assert weak.status_code == 422
    done = _post(client, path, {"new_password": NEW_PASSWORD, "new_password_again": NEW_PASSWORD})

    assert done.status_code == 302 and done.headers["Location"].endswith("/sign-in")
    assert not signed_in(client)  # never signed in by the reset
    assert "您的密码已更改" in client.get("/sign-in").get_data(as_text=True)
    sign_in(client, user, NEW_PASSWORD)
    again = client.get(path)
    assert "此链接已失效" in again.get_data(as_text=True)
    assert 'href="/password-reset"' in again.get_data(as_text=True)


def test_an_unknown_link_shows_a_friendly_page(client):
    page = client.get("/password-reset/confirm?token=nonsense").get_data(as_text=True)
    assert "此链接已失效" in page and 'name="new_password"' not in page
    assert "invalid_token" not in page


def test_the_reset_page_refuses_too_many_requests_from_one_client(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "PASSWORD_RESET_REQUESTS_PER_CLIENT", "5 per hour")
    assert client.post("/api/v1/auth/password-reset", json={"email": "api@example.cn"}).status_code == 202
    for n in range(4):  # the API's request counted: one counter per client address
        assert _post(client, "/password-reset", {"email": f"x{n}@example.cn"}).status_code == 200
    refused = _post(client, "/password-reset", {"email": "x@example.cn"})
    assert refused.status_code == 429 and "请求过多" in refused.get_data(as_text=True)


# --- change password on the account page ----------------------------------------------------------------


def change(client, current: str, new: str, again: str | None = None):
    data = {
        "password-current_password": current,
        "password-new_password": new,
        "password-new_password_again": new if again is None else again,
    }
    return _post(client, "/account/password", data, "/account")


def test_a_wrong_current_password_is_refused_beside_the_field(app, client, make, login):
    user = make.user("founder")
    login(user)
    response = change(client, "not-my-password", NEW_PASSWORD)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert 'id="password-current_password-errors"' in page and "当前密码不正确" in page
    assert new_token(client, user.email, PASSWORD).status_code == 201
    assert mails_to(app, user.email, "password_changed") == []


def test_changing_keeps_this_browser_and_signs_out_the_others(app, client, make, login):
    user = make.user("founder")
    token = make.token_for(user)
    other_browser = app.test_client()
    sign_in(other_browser, user)
    login(user)

    response = change(client, PASSWORD, NEW_PASSWORD)

    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    page = client.get("/account")
    assert page.status_code == 200 and "密码已更改" in page.get_data(as_text=True)
    assert not signed_in(other_browser)
    assert me(client, token).status_code == 401
    assert new_token(client, user.email, NEW_PASSWORD).status_code == 201
    assert len(mails_to(app, user.email, "password_changed")) == 1


def test_guessing_the_current_password_is_limited(client, make, login):
    user = make.user("founder")
    login(user)
    answers = [change(client, f"guess-{n}-wrong", NEW_PASSWORD).status_code for n in range(11)]
    assert answers == [422] * 10 + [429]
    assert signed_in(client)


# --- sign out everywhere on the account page ------------------------------------------------------------


def test_sign_out_everywhere_needs_the_box_ticked(client, make, login):
    login(make.user("founder"))
    response = _post(client, "/account/sign-out-everywhere", {}, "/account")
    assert response.status_code == 422
    assert signed_in(client)


def test_sign_out_everywhere_ends_this_and_every_other_sign_in(app, client, make, login):
    user = make.user("founder")
    token = make.token_for(user)
    other_browser = app.test_client()
    sign_in(other_browser, user)
    login(user)
    page = client.get("/account").get_data(as_text=True)
    assert "在所有设备上退出登录" in page

    response = _post(client, "/account/sign-out-everywhere", {"everywhere-confirm": "y"}, "/account")

    assert response.status_code == 302 and response.headers["Location"].endswith("/sign-in")
    assert "您已在所有设备上退出登录" in client.get("/sign-in").get_data(as_text=True)
    assert not signed_in(client)
    assert not signed_in(other_browser)
    assert me(client, token).status_code == 401
    with app.app_context():
        assert db.session.get(User, user.id).is_active  # nothing else changed
