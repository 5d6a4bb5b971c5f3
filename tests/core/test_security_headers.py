"""Security headers on HTML pages and API responses alike."""

import re

import pytest

from tests.web.test_access_matrix import world  # noqa: F401 - a fixture


@pytest.mark.parametrize("path", ["/", "/sign-in", "/api/v1/openapi.json", "/api/v1/me", "/no-such-page"])
def test_every_response_carries_the_security_headers(client, path):
    response = client.get(path)
    policy = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in policy
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"


def test_pages_use_no_inline_script_or_style(client, login, make):
    login(make.user("founder"))
    for path in ("/", "/teams", "/instruments", "/bookings", "/programs"):
        html = client.get(path).get_data(as_text=True)
        assert "<script>" not in html and "<style" not in html and ' style="' not in html, path


def test_no_page_has_inline_script_or_style(app, make, world):  # noqa: F811 - world is a fixture
    """Every HTML page of the URL map (from the access matrix), as a role that may open it: the CSP
    forbids inline scripts and styles, so none may rely on them."""
    from tests.conftest import sign_in
    from tests.web.test_access_matrix import ROLES, RULES, _fill

    clients = {}
    checked = 0
    for (endpoint, method), (path, _body, statuses) in sorted(RULES.items()):
        if not endpoint.startswith("web.") or method != "GET":
            continue
        expected = dict(zip(ROLES, statuses.split(), strict=True))
        role = next((r for r in ROLES if expected[r] == "ok"), None)
        if role is None:
            continue  # a route that is off in the matrix's app (single sign-on without OIDC_ISSUER)
        if role not in clients:
            clients[role] = app.test_client()
            if world.users[role] is not None:
                sign_in(clients[role], world.users[role])
        response = clients[role].get(_fill(path, world.ids))
        if "text/html" not in response.content_type:
            continue  # downloads (CSV, XLSX) and redirects
        html = response.get_data(as_text=True)
        assert "<script>" not in html and "<style" not in html and ' style="' not in html, endpoint
        assert not re.search(r"\son[a-z]+=\"", html), f"inline event handler on {endpoint}"
        assert response.headers["Content-Security-Policy"].count("frame-ancestors 'none'") == 1
        checked += 1
    assert checked >= 20
