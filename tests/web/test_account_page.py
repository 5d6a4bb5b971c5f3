"""The account page: language preference, API tokens (secret shown once, list, revoke) and private
iCal feeds (create, revoke), through the same functions as the JSON API."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from booking.core.db import db
from booking.models import ApiToken, CalendarFeed, User
from tests.conftest import csrf_token

TOKEN_RE = re.compile(r'id="new-token" type="text" readonly value="([^"]+)"')
FEED_RE = re.compile(r'id="new-feed-url" type="url" readonly value="([^"]+)"')


def text(response) -> str:
    return response.get_data(as_text=True)


def tokens_of(app, user) -> list[ApiToken]:
    with app.app_context():
        return list(
            db.session.scalars(select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id))
        )


def feeds_of(app, user) -> list[CalendarFeed]:
    with app.app_context():
        return list(
            db.session.scalars(
                select(CalendarFeed).where(CalendarFeed.user_id == user.id).order_by(CalendarFeed.id)
            )
        )


@pytest.mark.parametrize("role", ["founder", "lab_manager", "provider", "finance", "admin"])
def test_every_signed_in_user_has_an_account_page_linked_from_the_navigation(client, make, login, role):
    user = make.user(role)
    login(user)
    home = text(client.get("/", follow_redirects=True))  # their home: a console for most roles
    assert 'href="/account"' in home and "我的账户" in home
    page = client.get("/account")
    assert page.status_code == 200
    body = text(page)
    assert user.email in body and "API 令牌" in body and "日历订阅" in body


def test_the_account_page_needs_sign_in(client):
    response = client.get("/account")
    assert response.status_code == 302 and "/sign-in" in response.headers["Location"]


def test_language_preference_is_saved_on_the_user_and_the_session(client, app, make, login):
    user = make.user("founder")
    login(user)
    token = csrf_token(client, "/account")
    response = client.post("/account/language", data={"language-csrf_token": token, "language-locale": "en"})
    assert response.status_code == 302
    page = text(client.get("/account"))
    assert "My account" in page and "Language saved." in page
    with app.app_context():
        assert db.session.get(User, user.id).locale == "en"
    # a later session (another browser) starts in the saved language
    other = app.test_client()
    other_token = csrf_token(other, "/sign-in")
    other.post("/sign-in", data={"email": user.email, "password": make.password, "csrf_token": other_token})
    assert "My account" in text(other.get("/account"))


def test_an_unknown_language_is_refused_next_to_the_field(client, app, make, login):
    user = make.user("founder")
    login(user)
    token = csrf_token(client, "/account")
    response = client.post("/account/language", data={"language-csrf_token": token, "language-locale": "fr"})
    assert response.status_code == 422
    assert 'id="language-locale-errors"' in text(response)
    with app.app_context():
        assert db.session.get(User, user.id).locale is None


def test_a_form_without_its_csrf_token_changes_nothing(client, app, make, login):
    user = make.user("founder")
    login(user)
    client.post("/account/tokens", data={})
    client.post("/account/feeds", data={"feed-target": "user"})
    assert tokens_of(app, user) == [] and feeds_of(app, user) == []


def test_a_new_token_is_shown_once_works_for_the_api_and_can_be_revoked(client, app, make, login):
    user = make.user("founder")
    login(user)
    created = client.post("/account/tokens", data={"token-csrf_token": csrf_token(client, "/account")})
    assert created.status_code == 200
    assert created.headers["Cache-Control"] == "no-store"
    secret = TOKEN_RE.search(text(created)).group(1)
    [token] = tokens_of(app, user)
    assert token.token_hash != secret and secret not in token.token_hash  # only a digest is kept
    assert f"#{token.id}" in text(created)

    me = app.test_client().get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"})
    assert me.status_code == 200 and me.get_json()["email"] == user.email
    listed = text(client.get("/account"))
    assert f"#{token.id}" in listed and secret not in listed  # never shown again

    revoke = client.post(
        f"/account/tokens/{token.id}/revoke", data={"csrf_token": csrf_token(client, "/account")}
    )
    assert revoke.status_code == 302
    assert "令牌已撤销" in text(client.get("/account"))
    gone = app.test_client().get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"})
    assert gone.status_code == 401 and gone.get_json()["error"]["code"] == "token_revoked"
    assert f"#{token.id}" not in text(client.get("/account")).split('id="tokens"')[1].split("</section>")[0]


def test_tokens_made_through_the_api_are_listed_and_revocable_here(client, app, api, make, login):
    user = make.user("founder")
    api_token = make.token_for(user)
    [token] = tokens_of(app, user)
    login(user)
    assert f"撤销令牌 #{token.id}" in text(client.get("/account"))
    client.post(f"/account/tokens/{token.id}/revoke", data={"csrf_token": csrf_token(client, "/account")})
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {api_token}"}).status_code == 401


def test_someone_elses_token_or_feed_cannot_be_revoked(client, app, make, login):
    owner, intruder = make.user("founder"), make.user("founder")
    make.token_for(owner)
    [token] = tokens_of(app, owner)
    login(intruder)
    token_csrf = csrf_token(client, "/account")
    assert (
        client.post(f"/account/tokens/{token.id}/revoke", data={"csrf_token": token_csrf}).status_code == 404
    )
    assert client.post("/account/feeds/999999/revoke", data={"csrf_token": token_csrf}).status_code == 404
    assert tokens_of(app, owner)[0].revoked_at is None


def test_a_user_feed_url_is_shown_once_serves_the_calendar_and_can_be_revoked(client, app, make, login):
    user = make.user("founder")
    login(user)
    token = csrf_token(client, "/account")
    created = client.post("/account/feeds", data={"feed-csrf_token": token, "feed-target": "user"})
    assert created.status_code == 200 and created.headers["Cache-Control"] == "no-store"
    url = FEED_RE.search(text(created)).group(1)
    assert url.startswith("http://localhost/ical/") and url.endswith(".ics")
    [feed] = feeds_of(app, user)
    assert feed.scope == "user" and feed.instrument_id is None

    path = url.removeprefix("http://localhost")
    served = app.test_client().get(path)
    assert served.status_code == 200 and served.mimetype == "text/calendar"
    assert url not in text(client.get("/account"))  # the URL is not shown again

    revoke = client.post(
        f"/account/feeds/{feed.id}/revoke", data={"csrf_token": csrf_token(client, "/account")}
    )
    assert revoke.status_code == 302
    assert "订阅已撤销" in text(client.get("/account"))
    assert app.test_client().get(path).status_code == 404
    # revoking twice: the feed is gone
    again = client.post(
        f"/account/feeds/{feed.id}/revoke", data={"csrf_token": csrf_token(client, "/account")}
    )
    assert again.status_code == 404


def test_lab_managers_subscribe_to_an_instrument_they_manage_and_no_other(client, app, make, login):
    manager = make.user("lab_manager")
    mine = make.instrument(make.lab(manager=manager), name="冷冻电镜")
    theirs = make.instrument(make.lab(), name="质谱仪")
    login(manager)
    page = text(client.get("/account"))
    assert f'value="instrument:{mine.id}"' in page and f'value="instrument:{theirs.id}"' not in page

    token = csrf_token(client, "/account")
    refused = client.post(
        "/account/feeds", data={"feed-csrf_token": token, "feed-target": f"instrument:{theirs.id}"}
    )
    assert refused.status_code == 422 and 'id="feed-target-errors"' in text(refused)
    assert feeds_of(app, manager) == []

    created = client.post(
        "/account/feeds", data={"feed-csrf_token": token, "feed-target": f"instrument:{mine.id}"}
    )
    assert created.status_code == 200
    [feed] = feeds_of(app, manager)
    assert feed.scope == "instrument" and feed.instrument_id == mine.id
    assert "冷冻电镜的预约" in text(client.get("/account"))


def test_founders_cannot_pick_an_instrument_feed(client, app, make, login):
    founder = make.user("founder")
    instrument = make.instrument()
    login(founder)
    token = csrf_token(client, "/account")
    response = client.post(
        "/account/feeds", data={"feed-csrf_token": token, "feed-target": f"instrument:{instrument.id}"}
    )
    assert response.status_code == 422
    assert feeds_of(app, founder) == []
