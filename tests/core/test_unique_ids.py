"""Every page each role can open has unique element ids (HTML requires it; labels, ``aria-describedby``
and in-page links point at the first one only). The pages and their paths are the access matrix's."""

from __future__ import annotations

from tests.conftest import sign_in
from tests.support.sheets import duplicate_ids
from tests.web.test_access_matrix import ROLES, RULES, Caller, _fill, _is_html
from tests.web.test_access_matrix import world as world  # the matrix's fixture


def test_every_page_has_unique_ids(app, make, world, isolated_db):
    # the world's sessions, signed in once for the module (outside the savepoints below, which would
    # roll a sign-in's row back)
    callers = {role: Caller(app, make, user, world, role) for role, user in world.users.items() if user}
    pages = sorted(
        (endpoint, path)
        for (endpoint, method), (path, _body, _statuses) in RULES.items()
        if method == "GET" and _is_html(endpoint)
    )
    assert len(pages) > 20
    checked, wrong = 0, []
    for role in ROLES[1:]:
        for endpoint, path_template in pages:
            savepoint = isolated_db.begin_nested()
            try:
                response = callers[role].request(endpoint, "GET", _fill(path_template, world.ids), None)
            finally:
                savepoint.rollback()
            if response.status_code != 200 or response.mimetype != "text/html":
                continue
            checked += 1
            if found := duplicate_ids(response.get_data(as_text=True)):
                wrong.append(f"{role} {endpoint}: {found}")
    assert checked > 50
    assert not wrong, "\n".join(wrong)


def test_statement_page_ids_are_unique(client, make):
    """/finance/statements had two forms with #period, #district_code and #csrf_token."""
    sign_in(client, make.finance(None))
    body = client.get("/finance/statements?period=2026-12").get_data(as_text=True)
    assert 'id="period"' in body and 'name="kind"' in body  # both forms are there
    assert duplicate_ids(body) == []
