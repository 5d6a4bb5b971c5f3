"""A student signs in with the university's single sign-on: the button on the sign-in page, the
provider's authorize form (a real OpenID Connect provider on loopback, tests/support/oidc_provider.py),
and back on the platform, signed in as a new founder; a second visit finds the same account."""

from __future__ import annotations

import threading

import pytest
from playwright.sync_api import expect
from sqlalchemy import select
from werkzeug.serving import make_server

from booking.core.db import db
from booking.models import User
from tests.support.oidc_provider import serve_provider, single_sign_on_app

pytestmark = [
    pytest.mark.browser,
    # the provider's own server code (oidc-provider-mock on Authlib) uses an API Authlib deprecates
    pytest.mark.filterwarnings("ignore:get_jwt_config:DeprecationWarning"),
]


@pytest.fixture(scope="module")
def provider():
    with serve_provider() as provider:
        yield provider


@pytest.fixture(scope="module")
def sso_server(app, provider):
    """The platform with single sign-on on, served on its own loopback port (same database)."""
    sso_app = single_sign_on_app(app, provider.issuer)
    server = make_server("127.0.0.1", 0, sso_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="sso-live-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        with sso_app.app_context():
            db.engine.dispose()


@pytest.fixture
def offline_page(browser_context):
    """A page that loads nothing from the internet (the provider's page links a stylesheet on a CDN)."""
    context = browser_context(viewport={"width": 1280, "height": 800})
    context.route("https://**/*", lambda route: route.abort())
    return context.new_page()


def sign_in_with_the_university(page, sso_server: str, sub: str) -> None:
    page.goto(sso_server + "/sign-in")
    expect(page.get_by_role("heading", name="登录")).to_be_visible()
    page.get_by_role("link", name="统一身份认证登录").click()
    expect(page.get_by_role("heading", name="Authorize Client")).to_be_visible()
    page.get_by_placeholder("sub").fill(sub)
    page.get_by_role("button", name="Authorize").click()
    expect(page.get_by_role("button", name="退出登录")).to_be_visible()
    expect(page).to_have_url(sso_server + "/")


def test_a_student_signs_in_with_the_university_account(offline_page, app, provider, sso_server):
    provider.person("2026-0001", email="Xiao.Ming@cqu.edu.cn", email_verified=True, name="肖明")

    sign_in_with_the_university(offline_page, sso_server, "2026-0001")

    # signed in as the new founder, landed on the founder's home
    expect(offline_page.locator(".who")).to_contain_text("肖明")
    expect(offline_page.get_by_role("heading", name="欢迎，肖明")).to_be_visible()
    with app.app_context():
        users = db.session.scalars(select(User).where(User.email == "xiao.ming@cqu.edu.cn")).all()
        assert [(u.role, u.oidc_subject, u.email_verified) for u in users] == [("founder", "2026-0001", True)]

    offline_page.get_by_role("button", name="退出登录").click()
    sign_in_with_the_university(offline_page, sso_server, "2026-0001")
    with app.app_context():
        assert len(db.session.scalars(select(User).where(User.oidc_subject == "2026-0001")).all()) == 1
