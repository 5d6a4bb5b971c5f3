"""CSRF on every HTML form, generated from the URL map: a POST without a token (or with a forged one),
by a signed-in user whose role may use the form, is refused with 400 and changes nothing.

The role and the form data come from the access matrix (tests/web/test_access_matrix.py), so a new HTML
POST route is covered as soon as it has its row there.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from booking.core.db import db
from tests.conftest import CSRF_RE, sign_in
from tests.web.test_access_matrix import ROLES, RULES, Caller, _fill, world  # noqa: F401 - world is a fixture

HTML_POSTS = sorted(key for key in RULES if key[0].startswith("web.") and key[1] == "POST")


def _html_post_routes(app) -> set[tuple[str, str]]:
    return {
        (rule.endpoint, "POST")
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith("web.") and "POST" in rule.methods
    }


def _allowed_role(statuses: str) -> str:
    """The first signed-in role that may use the form (anonymous for public forms)."""
    expected = dict(zip(ROLES, statuses.split(), strict=True))
    if expected["anonymous"] == "ok":
        return "anonymous"
    return next(role for role in ROLES[1:] if expected[role] == "ok")


def snapshot(app) -> dict[str, list]:
    """Every row of every table, to prove a refused request changed nothing."""
    with app.app_context():
        return {
            table.name: sorted(map(repr, db.session.execute(sa.select(table)).all()))
            for table in db.metadata.sorted_tables
        }


def test_every_html_post_route_is_covered(app):
    missing = _html_post_routes(app) - set(HTML_POSTS)
    assert not missing, f"add rows to RULES in tests/web/test_access_matrix.py for {sorted(missing)}"


@pytest.mark.parametrize("forged", [False, True], ids=["no-token", "forged-token"])
@pytest.mark.parametrize("key", HTML_POSTS, ids=lambda key: key[0])
def test_post_without_csrf_token_is_refused(app, make, world, key, forged):  # noqa: F811
    path_template, body_template, statuses = RULES[key]
    role = _allowed_role(statuses)
    # the role's session, signed in through the form once for the module (tests/web/test_access_matrix.py);
    # for anonymous, the session of a visit to /sign-in: a session exists, only the token is missing
    client = Caller(app, make, world.users[role], world, role).browser()
    body = dict(_fill(body_template, world.ids) or {})
    if forged:
        body["csrf_token"] = "IjAxMjM0NTY3ODlhYmNkZWYi.ZZZZZZ.forged-signature"
    before = snapshot(app)
    response = client.post(_fill(path_template, world.ids), data=body)
    assert response.status_code == 400, (role, response.status_code, response.get_data(as_text=True)[:300])
    assert "text/html" in response.content_type
    assert snapshot(app) == before
    if world.users[role] is not None:  # still signed in: the refusal did not sign the user out
        assert client.get("/bookings").status_code == 200


def test_token_of_another_session_is_refused(app, make, client):
    """A token is bound to its session: one lifted from another browser does not work."""
    victim, attacker = make.user("founder"), make.user("founder")
    other = app.test_client()
    sign_in(other, attacker)
    stolen = CSRF_RE.search(other.get("/teams/new").get_data(as_text=True)).group(1)
    sign_in(client, victim)
    before = snapshot(app)
    response = client.post(
        "/teams/new",
        data={
            "name": "Evil",
            "university": "重庆大学",
            "district_code": "500106",
            "organization": "Evil Ltd",
            "csrf_token": stolen,
        },
    )
    assert response.status_code == 400
    assert snapshot(app) == before


def test_the_same_form_with_its_token_goes_through(app, make, client):
    """The control case: the refusals above are about the token, not the request."""
    founder = make.user("founder")
    sign_in(client, founder)
    token = CSRF_RE.search(client.get("/teams/new").get_data(as_text=True)).group(1)
    response = client.post(
        "/teams/new",
        data={
            "name": "Good",
            "university": "重庆大学",
            "district_code": "500106",
            "organization": "Good Ltd",
            "csrf_token": token,
        },
    )
    assert response.status_code == 302


def test_api_is_exempt_because_it_ignores_cookies(app, make, client):
    """The JSON API is CSRF-exempt: it authenticates by bearer token only, never by the session
    cookie, so a signed-in browser's cookie alone gets 401, not access."""
    sign_in(client, make.user("founder"))
    response = client.post(
        "/api/v1/teams",
        json={"name": "T", "university": "重庆大学", "district_code": "500106", "organization": "T Co"},
    )
    assert response.status_code == 401
