"""Single sign-on end to end: the app's test client and a real OpenID Connect provider on loopback
(tests/support/oidc_provider.py) — the login redirect, the provider's authorize form, the callback."""

from __future__ import annotations

import itertools
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
from sqlalchemy import func, select

from booking.core.db import db
from booking.models import User
from tests.conftest import sign_in
from tests.support.oidc_provider import CLIENT_ID, serve_provider, single_sign_on_app

# the provider's own server code (oidc-provider-mock on Authlib) uses an API Authlib deprecates
pytestmark = pytest.mark.filterwarnings("ignore:get_jwt_config:DeprecationWarning")
_subjects = itertools.count(1)


@pytest.fixture(scope="module")
def provider():
    with serve_provider() as provider:
        yield provider


@pytest.fixture(scope="module")
def sso_app(app, provider):
    sso_app = single_sign_on_app(app, provider.issuer)
    yield sso_app
    with sso_app.app_context():
        db.engine.dispose()


@pytest.fixture(autouse=True)
def in_app(app):
    """The test's own queries run in an app context of the session's app (the same connection)."""
    with app.app_context():
        yield


@pytest.fixture
def browser(sso_app):
    """A test client of the single sign-on app, in English (the refusals are read in English)."""
    client = sso_app.test_client()
    client.get("/language/en")
    return client


def new_subject() -> str:
    return f"person-{next(_subjects)}"


def start(browser, next_page: str | None = None) -> str:
    """``/auth/oidc/login``: the redirect to the provider's authorize endpoint."""
    response = browser.get("/auth/oidc/login" + (f"?{urlencode({'next': next_page})}" if next_page else ""))
    assert response.status_code == 302
    return response.headers["Location"]


def come_back(browser, location: str):
    """Follow the provider's redirect back to the app's callback."""
    parts = urlsplit(location)
    assert parts.path == "/auth/oidc/callback", location
    return browser.get(f"{parts.path}?{parts.query}")


def single_sign_on(browser, provider, sub: str, next_page: str | None = None):
    return come_back(browser, provider.authorize(start(browser, next_page), sub))


def signed_in_id(browser) -> str | None:
    with browser.session_transaction() as session:
        return session.get("_user_id")


def user_count() -> int:
    return db.session.scalar(select(func.count()).select_from(User))


def reloaded(user: User) -> User:
    db.session.expire_all()
    return db.session.get(User, user.id)


def refusal_on_sign_in_page(browser, response) -> str:
    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == "/sign-in"
    assert signed_in_id(browser) is None
    return browser.get("/sign-in").get_data(as_text=True)


def test_the_login_asks_the_provider_for_openid_email_profile_with_pkce_state_and_nonce(browser, provider):
    location = start(browser)
    assert location.startswith(provider.issuer + "/oauth2/authorize?")
    query = dict(parse_qsl(urlsplit(location).query))
    assert query["client_id"] == CLIENT_ID
    assert query["response_type"] == "code"
    assert query["scope"].split() == ["openid", "email", "profile"]
    assert query["redirect_uri"] == "http://localhost/auth/oidc/callback"
    assert query["code_challenge_method"] == "S256" and len(query["code_challenge"]) >= 43
    assert query["state"] and query["nonce"]


def test_a_new_verified_email_makes_a_founder_and_signs_them_in(browser, provider, app):
    sub = new_subject()
    provider.person(sub, email="Zhang.Wei@CQU.edu.cn", email_verified=True, name="张伟")
    before = user_count()

    response = single_sign_on(browser, provider, sub, next_page="/teams")

    assert response.status_code == 302 and response.headers["Location"] == "/teams"
    assert user_count() == before + 1
    user = db.session.scalar(select(User).where(User.email == "zhang.wei@cqu.edu.cn"))
    assert (user.role, user.name, user.oidc_subject, user.email_verified) == ("founder", "张伟", sub, True)
    assert user.is_active
    assert signed_in_id(browser) == str(user.id)
    assert "张伟" in browser.get("/teams").get_data(as_text=True)
    # a password nobody knows: the password form does not let anyone in with a guess
    assert browser.post("/sign-in", data={"email": user.email, "password": ""}).status_code != 302


def test_without_a_name_the_founder_is_named_after_the_email(browser, provider):
    sub = new_subject()
    provider.person(sub, email="li.lei@cqu.edu.cn", email_verified=True)
    single_sign_on(browser, provider, sub)
    assert db.session.scalar(select(User.name).where(User.oidc_subject == sub)) == "li.lei"


def test_an_existing_account_with_the_email_is_linked_and_signed_in(browser, provider, make):
    manager = make.user("lab_manager", email="wang.fang@cqu.edu.cn", email_verified=False)
    sub = new_subject()
    provider.person(sub, email="WANG.FANG@cqu.edu.cn", email_verified=True, name="Someone else")
    before = user_count()

    response = single_sign_on(browser, provider, sub)

    assert response.status_code == 302
    assert user_count() == before
    assert signed_in_id(browser) == str(manager.id)
    manager = reloaded(manager)
    assert (manager.role, manager.oidc_subject, manager.email_verified) == ("lab_manager", sub, True)
    assert manager.name != "Someone else"


def test_a_later_sign_in_finds_the_account_by_subject_even_when_the_email_changed(browser, provider, sso_app):
    sub = new_subject()
    provider.person(sub, email="chen.jing@cqu.edu.cn", email_verified=True)
    single_sign_on(browser, provider, sub)
    first = db.session.scalar(select(User).where(User.oidc_subject == sub))
    before = user_count()

    provider.person(sub, email="jing.chen@alumni.cqu.edu.cn", email_verified=True)
    again = sso_app.test_client()
    single_sign_on(again, provider, sub)

    assert user_count() == before
    assert signed_in_id(again) == str(first.id)


def test_a_sign_in_over_a_live_session_starts_a_fresh_one(browser, provider, make):
    other = make.user("founder")
    sign_in(browser, other)  # with the password first, then single sign-on as someone else
    with browser.session_transaction() as session:
        session["planted"] = "by an attacker"
    sub = new_subject()
    provider.person(sub, email="fresh@cqu.edu.cn", email_verified=True)
    single_sign_on(browser, provider, sub)
    with browser.session_transaction() as session:
        assert "planted" not in session
        assert session["locale"] == "en"
        assert session["_user_id"] != str(other.id)


def test_a_tampered_state_is_refused_and_nobody_is_signed_in(browser, provider):
    sub = new_subject()
    provider.person(sub, email="tamper@cqu.edu.cn", email_verified=True)
    location = provider.authorize(start(browser), sub)
    parts = urlsplit(location)
    query = dict(parse_qsl(parts.query))
    query["state"] = query["state"][::-1] + "x"
    before = user_count()

    response = browser.get(f"{parts.path}?{urlencode(query)}")

    page = refusal_on_sign_in_page(browser, response)
    assert "was not started here or has expired" in page
    assert user_count() == before


def test_a_callback_nobody_started_is_refused(browser):
    response = browser.get("/auth/oidc/callback?code=forged&state=forged")
    assert "was not started here or has expired" in refusal_on_sign_in_page(browser, response)


def test_a_code_cannot_be_used_twice(browser, provider):
    sub = new_subject()
    provider.person(sub, email="twice@cqu.edu.cn", email_verified=True)
    location = provider.authorize(start(browser), sub)
    come_back(browser, location)
    with browser.session_transaction() as session:  # signed out, then the same callback replayed
        session.clear()
    response = come_back(browser, location)
    assert signed_in_id(browser) is None
    assert response.status_code == 302 and urlsplit(response.headers["Location"]).path == "/sign-in"


def test_an_unverified_email_is_refused(browser, provider):
    sub = new_subject()
    provider.person(sub, email="unverified@cqu.edu.cn", email_verified=False)
    before = user_count()

    page = refusal_on_sign_in_page(browser, single_sign_on(browser, provider, sub))

    assert "has no verified e-mail address" in page and "Sign up with your e-mail address" in page
    assert user_count() == before


def test_no_email_at_all_is_refused(browser, provider):
    sub = new_subject()
    provider.person(sub, name="No Mail")
    page = refusal_on_sign_in_page(browser, single_sign_on(browser, provider, sub))
    assert "has no verified e-mail address" in page


def test_an_unverified_email_is_not_linked_to_the_account_with_that_address(browser, provider, make):
    founder = make.user("founder", email="victim@cqu.edu.cn")
    sub = new_subject()
    provider.person(sub, email="victim@cqu.edu.cn", email_verified=False)
    refusal_on_sign_in_page(browser, single_sign_on(browser, provider, sub))
    assert reloaded(founder).oidc_subject is None


def test_a_disabled_account_is_refused(browser, provider, make):
    founder = reloaded(make.user("founder", email="gone@cqu.edu.cn"))
    founder.is_active = False
    db.session.flush()
    sub = new_subject()
    provider.person(sub, email="gone@cqu.edu.cn", email_verified=True)

    page = refusal_on_sign_in_page(browser, single_sign_on(browser, provider, sub))

    assert "This account is disabled" in page
    assert reloaded(founder).oidc_subject is None


def test_denying_at_the_provider_signs_nobody_in(browser, provider):
    location = provider.authorize(start(browser), deny=True)
    page = refusal_on_sign_in_page(browser, come_back(browser, location))
    assert "Single sign-on was cancelled" in page


def test_the_next_page_stays_on_this_site(browser, provider):
    sub = new_subject()
    provider.person(sub, email="next@cqu.edu.cn", email_verified=True)
    response = single_sign_on(browser, provider, sub, next_page="https://evil.example/")
    assert response.headers["Location"] == "/"


def test_an_unreachable_provider_is_told_in_words(app):
    sso_app = single_sign_on_app(app, "http://127.0.0.1:9", OIDC_TIMEOUT_SECONDS=2)
    client = sso_app.test_client()
    client.get("/language/en")
    response = client.get("/auth/oidc/login")
    assert response.status_code == 302 and urlsplit(response.headers["Location"]).path == "/sign-in"
    assert "Single sign-on is not available right now" in client.get("/sign-in").get_data(as_text=True)
    with sso_app.app_context():
        db.engine.dispose()


def test_the_sign_in_page_shows_the_button_when_configured(browser, app, provider):
    page = browser.get("/sign-in?next=/teams").get_data(as_text=True)
    assert "University single sign-on" in page
    assert 'href="/auth/oidc/login?next=/teams"' in page
    assert page.index("/auth/oidc/login") < page.index('name="password"')
    labelled = single_sign_on_app(app, provider.issuer, OIDC_BUTTON_LABEL="重庆大学统一身份认证")
    assert "重庆大学统一身份认证" in labelled.test_client().get("/sign-in").get_data(as_text=True)
    with labelled.app_context():
        db.engine.dispose()


def test_the_chinese_button_says_统一身份认证登录(sso_app):
    assert "统一身份认证登录" in sso_app.test_client().get("/sign-in").get_data(as_text=True)


def test_without_an_issuer_the_routes_are_404_and_no_button_shows(client):
    assert client.get("/auth/oidc/login").status_code == 404
    assert client.get("/auth/oidc/callback?code=x&state=y").status_code == 404
    page = client.get("/sign-in").get_data(as_text=True)
    assert "/auth/oidc/login" not in page and "统一身份认证登录" not in page


def test_an_id_token_for_another_nonce_is_refused(browser, provider):
    """Authlib keeps the nonce it sent with the state in the session; an ID token must carry it back."""
    sub = new_subject()
    provider.person(sub, email="replayed@cqu.edu.cn", email_verified=True)
    location = start(browser)
    key = "_state_oidc_" + dict(parse_qsl(urlsplit(location).query))["state"]
    with browser.session_transaction() as session:
        kept = session[key]
        kept["data"]["nonce"] = "not-the-nonce-the-provider-saw"
        session[key] = kept
    before = user_count()

    page = refusal_on_sign_in_page(browser, come_back(browser, provider.authorize(location, sub)))

    assert "Single sign-on failed" in page
    assert user_count() == before
