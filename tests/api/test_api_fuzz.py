"""API fuzzing with schemathesis: every operation of ``/api/v1/openapi.json``, called in-process (WSGI)
with a bearer token of a role that may call it, on seeded data so generated ids often exist.

Checks: no 5xx, the status code is one the operation documents, the content type and the body match
the documented response schema. A second pass per operation replaces some values of the generated
data with hostile ones (``HOSTILE_TEXT``, ``HOSTILE_NUMBERS``) and checks for no 5xx and refusals in
the error shape. The number of examples per operation is bounded (CI runs it), no
shrinking, no deadline. The whole run is one test inside the usual SAVEPOINT-isolated database.
"""

from __future__ import annotations

import os
import re

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from booking.core import clock
from tests.web.test_access_matrix import _next_weekday_10am

MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "25"))
# Each operation is fuzzed twice: data the schema describes (positive) and the same data with some
# values replaced by hostile ones (below). FUZZ_MAX_EXAMPLES examples each.
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]

# Values that broke the API once or are likely to: text the database cannot store (NUL, lone
# surrogates), line breaks in names, non-ASCII digits, instants whose UTC conversion overflows, dates at
# datetime's ends, numbers beyond every integer column, huge and non-finite numbers.
HOSTILE_TEXT = [
    "a\ud800b",
    "\udfff",
    "x\x00y",
    "渝\r\nBcc: x@example.cn",
    "١٢",
    "１２",
    "1\n",
    "²",
    "\u202e",
    "0001-01-01T00:00:00+14:00",
    "9999-12-31T23:00:00-14:00",
    "0001-01-01",
    "9999-12-31",
    "9999-12",
    "0000-01",
    "9" * 5000,
    "1." + "5" * 300,
    " ",
    "",
]
URL_SAFE_TEXT = [t for t in HOSTILE_TEXT if not any("\ud800" <= c <= "\udfff" for c in t)]
HOSTILE_NUMBERS = [0, -1, 2**31, -(2**31) - 1, 2**63, 10**30, 10**99, 1e308, -1e308, 0.5, True]


def _hostile_leaf(value, draw, *, url: bool):
    if isinstance(value, str):
        return draw(st.sampled_from(URL_SAFE_TEXT if url else HOSTILE_TEXT))
    if isinstance(value, bool):
        return draw(st.sampled_from(["true", 1, None]))
    if isinstance(value, int | float):
        return draw(st.sampled_from(HOSTILE_NUMBERS))
    return value


def _make_hostile(value, draw, *, url: bool = False):
    """The same structure with some leaves (each with probability 1/2) replaced by hostile values."""
    if isinstance(value, dict):
        return {key: _make_hostile(item, draw, url=url) for key, item in value.items()}
    if isinstance(value, list):
        return [_make_hostile(item, draw, url=url) for item in value]
    if draw(st.booleans()):
        return _hostile_leaf(value, draw, url=url)
    return value


def _openapi_path(rule: str) -> str:
    return re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule)


@pytest.fixture
def seeded(make):
    """Users of every role with tokens, and one of each object (ids start at 1 in a fresh run)."""
    owner = make.user("founder")
    team = make.team(owner=owner, district_code="500106", verified=True)
    lab_manager = make.user("lab_manager")
    lab = make.lab(manager=lab_manager, district_code="500106")
    instrument = make.instrument(lab)
    provider = make.provider()
    provider_user = make.user("provider", provider_id=provider.id)
    offer = make.offer(provider)
    finance = make.finance("500106")
    municipal = make.finance(None)
    admin = make.user("admin")
    program = make.program(finance, level="district", district_code="500106")
    make.voucher(team, program, amount_fen=200_000)
    starts = _next_weekday_10am()
    from datetime import timedelta

    make.booking(team, instrument, starts, starts + timedelta(hours=1), now=clock.now())
    make.compute_booking(team, offer, starts, starts + timedelta(hours=2), now=clock.now())
    users = {
        "founder": owner,
        "lab_manager": lab_manager,
        "provider": provider_user,
        "finance": finance,
        "finance_municipal": municipal,
        "admin": admin,
    }
    return {role: make.token_for(user) for role, user in users.items()}


def _declared_roles(app) -> dict[tuple[str, str], tuple]:
    """(METHOD, OpenAPI path) → the roles its ``api_auth`` allows (``public``, ``*`` or role names)."""
    roles = {}
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        view_class = getattr(view, "view_class", None)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            func = getattr(view_class, method.lower(), None) if view_class else view
            roles[(method, _openapi_path(rule.rule))] = getattr(func, "_access_roles", ())
    return roles


def _token_for(declared: tuple, tokens: dict) -> str | None:
    """A caller who may use the operation: admin where allowed (sees everything), else the role."""
    if "public" in declared:
        return None
    if not declared or "*" in declared or "admin" in declared:
        return tokens["admin"]
    return tokens[declared[0]]


def _fuzz(operation, headers: dict, client) -> None:
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        derandomize=not os.environ.get("FUZZ_RANDOM"),
        database=None,
    )
    @given(case=operation.as_strategy())
    def run(case):
        case.call_and_validate(headers=headers, checks=CHECKS)

    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        derandomize=not os.environ.get("FUZZ_RANDOM"),
        database=None,
    )
    @given(case=operation.as_strategy(), data=st.data())
    def run_hostile(case, data):
        if isinstance(case.body, dict | list):
            case.body = _make_hostile(case.body, data.draw)
        if case.query:
            case.query = _make_hostile(case.query, data.draw, url=True)
        # Sent with Flask's test client (schemathesis cannot print a report of a lone surrogate).
        # Hostile input may be refused in ways the schema does not describe per field: a 5xx fails,
        # and a refusal must be in the error shape.
        response = client.open(
            case.formatted_path,
            method=operation.method.upper(),
            query_string=case.query or None,
            json=case.body if isinstance(case.body, dict | list) else None,
            headers=headers,
        )
        where = f"body={ascii(case.body)[:800]} query={ascii(case.query)[:300]}"
        assert response.status_code < 500, f"{response.status_code} {response.get_data()[:500]!r} {where}"
        if response.status_code >= 400 and response.is_json:
            assert set(response.get_json()["error"]) == {"code", "message", "details"}, where

    run()
    run_hostile()


def test_api_fuzz(app, seeded):
    """(schemathesis' pytest plugin needs pytest < 9, so the operations are driven here directly)"""
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    declared = _declared_roles(app)
    failures, operations = [], 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        token = _token_for(declared[(operation.method.upper(), operation.path)], seeded)
        headers = {"Authorization": f"Bearer {token}"} if token else {}

        try:
            _fuzz(operation, headers, app.test_client())
        except (Exception, BaseExceptionGroup) as error:  # collect every failing operation, then report
            failures.append(f"--- {operation.method.upper()} {operation.path}\n{error}"[:3000])
    assert operations >= 60, f"only {operations} operations in the OpenAPI document"
    assert not failures, f"{len(failures)} of {operations} operations failed:\n" + "\n".join(failures)


# --- regressions of what the fuzzing found ---------------------------------------------------------------


def test_ids_beyond_json_precision_are_404_not_a_database_overflow(api, make):
    admin = make.user("admin")
    huge = 2**31
    for path in (f"/api/v1/bookings/{huge}", f"/bookings/{huge}", f"/api/v1/applications/{huge}/approve"):
        response = api.as_(admin).get(path) if "approve" not in path else api.as_(admin).post(path, json={})
        assert response.status_code == 404, path
    listed = api.as_(admin).get(f"/api/v1/bookings?team_id={huge}")
    assert listed.status_code == 422 and "team_id" in listed.json["error"]["details"]


def test_errors_in_a_list_body_are_named_by_item_index(api, make):
    manager = make.user("lab_manager")
    instrument = make.instrument(make.lab(manager=manager))
    response = api.as_(manager).put(
        f"/api/v1/instruments/{instrument.id}/opening-hours",
        json=[
            {"weekday": 0, "opens": "09:00", "closes": "17:00"},
            {"weekday": 9, "opens": "x", "closes": "y"},
        ],
    )
    assert response.status_code == 422
    assert set(response.json["error"]["details"]) == {"1"}
    assert response.json["error"]["message"] == "Some fields are not valid: 1."


def test_periods_outside_real_years_are_422(api, make):
    officer = make.finance(None)
    for path in ("/api/v1/finance/statements?period=0000-01", "/api/v1/finance/lab-report?period=9999-12"):
        response = api.as_(officer).get(path)
        assert response.status_code == 422 and "period" in response.json["error"]["details"], path
    closed = api.as_(officer).post("/api/v1/finance/periods/0000-01/close")
    assert closed.status_code == 422 and closed.json["error"]["details"] == {
        "period": ["YYYY-MM, years 1900 to 2199."]
    }


def test_usage_record_for_an_id_beyond_the_database_integer_is_rejected_not_a_500(api, make):
    provider = make.provider()
    user = make.user("provider", provider_id=provider.id)
    record = {
        "external_id": "big",
        "booking_id": 2**40,
        "started_at": "2026-01-01T00:00:00+00:00",
        "ended_at": "2026-01-01T01:00:00+00:00",
        "gpu_hours": "1",
    }
    response = api.as_(user).post("/api/v1/usage-records", json={"records": [record]})
    assert response.status_code == 200
    assert response.json["rejected"] == [{"external_id": "big", "code": "invalid"}]


def test_nul_characters_are_422_not_a_database_error(api, make):
    admin = make.user("admin")
    named = api.as_(admin).post("/api/v1/providers", json={"name": "P\x00", "organization": "Org"})
    assert named.status_code == 422 and "name" in named.json["error"]["details"]
    # a plain string field, not validated for NUL: the database refuses it (PostgreSQL), still 422
    token = api.post("/api/v1/auth/tokens", json={"email": "a\x00@example.cn", "password": "whatever"})
    assert token.status_code in (401, 422)
