"""The browser session: cookie flags, renewal at sign-in (no session fixation), sign-out."""

from __future__ import annotations

import re
from datetime import timedelta
from http.cookies import SimpleCookie

import pytest
from sqlalchemy import select

from booking.core.config import ProductionConfig
from booking.core.db import db
from booking.factory import create_app
from booking.models import ApiToken, User
from tests.conftest import CSRF_RE, PASSWORD, csrf_token, sign_in


def _cookie(response, name: str = "session") -> dict:
    """The attributes of one Set-Cookie header, lower-cased (``{"httponly": True, ...}``)."""
    for header in response.headers.getlist("Set-Cookie"):
        parsed = SimpleCookie()
        parsed.load(header)
        if name in parsed:
            morsel = parsed[name]
            flags = {k.lower(): v for k, v in morsel.items() if v}
            # SimpleCookie drops flags without a value on some Pythons: read them from the raw header
            lowered = header.lower()
            flags["httponly"] = "httponly" in lowered
            flags["secure"] = "; secure" in lowered
            return {"value": morsel.value, **flags}
    raise AssertionError(f"no {name} cookie set: {response.headers.getlist('Set-Cookie')}")


def test_session_cookie_is_httponly_and_samesite_lax(client, make):
    response = sign_in(client, make.user("founder"))
    cookie = _cookie(response)
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"
    assert cookie["secure"] is False  # development and tests run on plain http://localhost


@pytest.fixture
def production_app(tmp_path, monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "a-long-random-production-secret-for-this-test")
    monkeypatch.setenv("DATABASE_URL", "sqlite:///" + str(tmp_path / "prod.sqlite3"))
    monkeypatch.delenv("SESSION_COOKIE_SECURE", raising=False)
    app = create_app(ProductionConfig)
    yield app
    with app.app_context():
        from booking.core.db import db

        db.engine.dispose()


def test_production_cookies_are_secure_and_https_is_enforced_by_hsts(production_app):
    assert production_app.config["SESSION_COOKIE_SECURE"] is True
    assert production_app.config["REMEMBER_COOKIE_SECURE"] is True
    client = production_app.test_client()
    response = client.get("/language/en", base_url="https://booking.example.cn")
    cookie = _cookie(response)
    assert cookie["secure"] is True and cookie["httponly"] is True and cookie["samesite"] == "Lax"
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


def test_production_selected_by_app_env_also_sets_secure_cookies(tmp_path, monkeypatch):
    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "a-long-random-production-secret-for-this-test")
    monkeypatch.setenv("DATABASE_URL", "sqlite:///" + str(tmp_path / "prod.sqlite3"))
    monkeypatch.delenv("SESSION_COOKIE_SECURE", raising=False)
    app = create_app()
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["SESSION_COOKIE_HTTPONLY"] is True
    assert app.config["SESSION_COOKIE_SAMESITE"] == "Lax"


def test_sign_in_renews_the_session(client, make):
    """Anything planted in the session before sign-in (e.g. by an attacker who set the victim's
    cookie) is gone afterwards; the language choice is kept; the cookie itself changes."""
    user = make.user("founder")
    client.get("/language/en")
    with client.session_transaction() as session:
        session["planted"] = "attacker"
        session["_user_id"] = "999999"  # a forged sign-in is never honoured either
    planted_cookie = client.get_cookie("session").value
    old_csrf = csrf_token(client, "/sign-in")
    response = client.post(
        "/sign-in", data={"email": user.email, "password": PASSWORD, "csrf_token": old_csrf}
    )
    assert response.status_code == 302
    assert client.get_cookie("session").value != planted_cookie
    with client.session_transaction() as session:
        assert "planted" not in session
        assert session["_user_id"] == str(user.id)
        assert session["locale"] == "en"
    # the CSRF token of the anonymous session is not valid in the signed-in one
    refused = client.post("/sign-out", data={"csrf_token": old_csrf})
    assert refused.status_code == 400
    new_csrf = CSRF_RE.search(client.get("/").get_data(as_text=True)).group(1)
    assert new_csrf != old_csrf


def test_failed_sign_in_keeps_the_user_signed_out(client, make):
    user = make.user("founder")
    token = csrf_token(client, "/sign-in")
    response = client.post(
        "/sign-in", data={"email": user.email, "password": "wrong-password", "csrf_token": token}
    )
    assert response.status_code == 422
    with client.session_transaction() as session:
        assert "_user_id" not in session
    assert client.get("/bookings").status_code == 302


def test_sign_out_clears_the_session(client, make):
    user = make.user("founder")
    client.get("/language/en")
    sign_in(client, user)
    token = CSRF_RE.search(client.get("/").get_data(as_text=True)).group(1)
    response = client.post("/sign-out", data={"csrf_token": token})
    assert response.status_code == 302
    with client.session_transaction() as session:
        assert "_user_id" not in session and "csrf_token" not in session
        assert session.get("locale") == "en"
    assert client.get("/bookings").status_code == 302


def test_session_is_refused_from_another_browser_identity(client, make):
    """Session protection "strong": a session cookie replayed with another User-Agent is dropped."""
    user = make.user("founder")
    sign_in(client, user)
    assert client.get("/bookings").status_code == 200
    stolen = client.get_cookie("session").value
    thief = client.application.test_client()
    thief.set_cookie("session", stolen)
    response = thief.get("/bookings", headers={"User-Agent": "curl/8.0"})
    assert response.status_code == 302 and "/sign-in" in response.headers["Location"]


# --- sign-out ends the session on the server, not only in this browser -----------------------------------


def _account_csrf(client) -> str:
    match = re.search(r'name="token-csrf_token" type="hidden" value="([^"]+)"', client.get("/account").text)
    assert match, "no token form on /account"
    return match.group(1)


def test_a_copied_session_cookie_is_dead_after_sign_out(client, make, app):
    """Someone who copied the cookie (a shared lab PC, a stolen backup) is signed out by the owner's
    sign-out: the replayed cookie neither opens pages nor mints API tokens."""
    user = make.user("founder")
    sign_in(client, user)
    copied_csrf = _account_csrf(client)
    copied = client.get_cookie("session").value  # with its CSRF token: the thief can post forms
    thief = app.test_client()
    thief.set_cookie("session", copied)
    assert thief.get("/bookings").status_code == 200  # the copy works while the owner is signed in

    token = CSRF_RE.search(client.get("/").get_data(as_text=True)).group(1)
    assert client.post("/sign-out", data={"csrf_token": token}).status_code == 302

    thief = app.test_client()
    thief.set_cookie("session", copied)
    page = thief.get("/bookings")
    assert page.status_code == 302 and "/sign-in" in page.headers["Location"]
    thief.set_cookie("session", copied)
    minted = thief.post("/account/tokens", data={"token-csrf_token": copied_csrf})
    assert minted.status_code == 302 and "/sign-in" in minted.headers["Location"]
    with app.app_context():
        assert db.session.scalars(select(ApiToken).where(ApiToken.user_id == user.id)).all() == []


def test_sign_out_ends_only_this_browser_session(client, make, app):
    """Each sign-in is its own server-side session: signing out on the lab PC leaves the phone signed in."""
    user = make.user("founder")
    phone = app.test_client()
    sign_in(phone, user)
    sign_in(client, user)
    token = CSRF_RE.search(client.get("/").get_data(as_text=True)).group(1)
    client.post("/sign-out", data={"csrf_token": token})
    assert client.get("/bookings").status_code == 302
    assert phone.get("/bookings").status_code == 200
    # and signing in again on the lab PC works as before
    sign_in(client, user)
    assert client.get("/bookings").status_code == 200


def test_ending_every_session_of_a_user_signs_out_all_browsers(client, make, app):
    """What a password change or a deactivation calls: every browser session of the user ends at once."""
    from booking.people import browser_sessions

    user = make.user("founder")
    phone = app.test_client()
    sign_in(phone, user)
    sign_in(client, user)
    with app.app_context():
        browser_sessions.end_browser_sessions(db.session.get(User, user.id))
        db.session.commit()
    assert client.get("/bookings").status_code == 302
    assert phone.get("/bookings").status_code == 302
    sign_in(client, user)
    assert client.get("/bookings").status_code == 200


def test_a_session_ends_a_cookie_lifetime_after_its_sign_in(client, make, app):
    """However often the cookie is re-signed, the session it names ends PERMANENT_SESSION_LIFETIME after
    the sign-in (31 days), on the real clock."""
    from booking.models import BrowserSession

    user = make.user("founder")
    sign_in(client, user)
    assert client.get("/bookings").status_code == 200
    with app.app_context():
        row = db.session.scalars(select(BrowserSession).where(BrowserSession.user_id == user.id)).one()
        row.created_at -= app.permanent_session_lifetime + timedelta(minutes=1)
        db.session.commit()
    assert client.get("/bookings").status_code == 302


def test_signing_in_over_a_live_session_replaces_it(client, make, app):
    from booking.models import BrowserSession

    user = make.user("founder")
    sign_in(client, user)
    sign_in(client, user)
    with app.app_context():
        rows = db.session.scalars(select(BrowserSession).where(BrowserSession.user_id == user.id)).all()
    assert len(rows) == 1
    assert client.get("/bookings").status_code == 200
