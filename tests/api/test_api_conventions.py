"""API.md conventions: the error shape, 400/422 rules, pagination, the OpenAPI document."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from booking.core.db import db
from booking.models import Team, User


def _count(app, model) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def _assert_error(response, status: int, code: str | None = None):
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.json
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    if code:
        assert body["error"]["code"] == code
    return body["error"]


@pytest.mark.parametrize(
    "raw",
    ['{"email": ', "not json at all", '{"a": 1,}', "\x00\x01", "[1, 2"],
)
def test_malformed_json_is_400_never_500(api, make, app, raw):
    admin = make.user("admin")
    before = _count(app, User)
    response = api.as_(admin).post("/api/v1/users", data=raw, content_type="application/json")
    _assert_error(response, 400, "malformed_json")
    assert _count(app, User) == before


BAD_TEAMS = [
    ({}, {"name", "university", "district_code", "organization"}),
    ({"name": 12, "university": "U", "district_code": "500106", "organization": "O"}, {"name"}),
    ({"name": "T", "university": "U", "district_code": 500106, "organization": "O"}, {"district_code"}),
    ({"name": "x" * 201, "university": "U", "district_code": "500106", "organization": "O"}, {"name"}),
    ({"name": "   ", "university": "U", "district_code": "500106", "organization": "O"}, {"name"}),
    ({"name": "T", "university": "U", "district_code": "5001", "organization": "O"}, {"district_code"}),
    ({"name": "T", "university": "U", "district_code": "500106", "organization": "O", "x": 1}, {"x"}),
    ({"name": None, "university": "U", "district_code": "500106", "organization": "O"}, {"name"}),
]


@pytest.mark.parametrize(("body", "fields"), BAD_TEAMS)
def test_validation_errors_name_the_fields_and_write_nothing(api, make, app, body, fields):
    founder = make.user("founder")
    before = _count(app, Team)
    error = _assert_error(api.as_(founder).post("/api/v1/teams", json=body), 422, "validation_error")
    assert fields <= set(error["details"])
    assert _count(app, Team) == before


def test_body_that_is_not_an_object_is_422(api, make):
    response = api.as_(make.user("founder")).post("/api/v1/teams", json=[1, 2, 3])
    _assert_error(response, 422)


def test_unknown_district_code_is_422_unknown_reference(api, make, app):
    before = _count(app, Team)
    response = api.as_(make.user("founder")).post(
        "/api/v1/teams", json={"name": "T", "university": "U", "district_code": "999999", "organization": "O"}
    )
    error = _assert_error(response, 422, "unknown_reference")
    assert "district_code" in error["details"]
    assert _count(app, Team) == before


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"role": "finance", "district_code": "110101"}, "district_code"),
        ({"role": "founder", "district_code": "500106"}, "district_code"),
        ({"role": "provider"}, "provider_id"),
        ({"role": "provider", "provider_id": 999999}, "provider_id"),
        ({"role": "lab_manager", "lab_id": 999999}, "lab_id"),
        ({"role": "founder", "provider_id": "1"}, "provider_id"),
        ({"role": "superuser"}, "role"),
    ],
)
def test_user_creation_reference_errors_are_422(api, make, app, extra, field):
    admin = make.user("admin")
    before = _count(app, User)
    body = {"email": "someone@example.cn", "password": "long enough", "name": "S", **extra}
    error = _assert_error(api.as_(admin).post("/api/v1/users", json=body), 422)
    assert field in error["details"]
    assert _count(app, User) == before


def test_duplicate_email_is_409_case_insensitive(api, make):
    admin = make.user("admin")
    body = {"email": "Dup@Example.cn", "password": "long enough", "name": "D", "role": "founder"}
    assert api.as_(admin).post("/api/v1/users", json=body).status_code == 201
    body["email"] = "dup@example.CN"
    _assert_error(api.as_(admin).post("/api/v1/users", json=body), 409, "email_taken")


def test_lab_manager_created_with_lab_manages_it(api, make):
    admin = make.user("admin")
    lab = make.lab()
    body = {
        "email": "lm@example.cn",
        "password": "long enough",
        "name": "LM",
        "role": "lab_manager",
        "lab_id": lab.id,
    }
    created = api.as_(admin).post("/api/v1/users", json=body)
    assert created.status_code == 201
    assert created.json["lab_ids"] == [lab.id]
    assert api.as_(admin).get(f"/api/v1/labs/{lab.id}").json["manager_ids"] == [created.json["id"]]


def test_unknown_path_and_method_use_the_error_shape(api, make):
    founder = make.user("founder")
    _assert_error(api.as_(founder).get("/api/v1/no-such-thing"), 404, "not_found")
    _assert_error(api.as_(founder).put("/api/v1/teams", json={}), 405, "method_not_allowed")
    _assert_error(api.as_(founder).get("/api/v1/teams/999999"), 404, "not_found")


def test_pagination_walks_every_item_once(api, make):
    admin = make.user("admin")
    created = [make.provider().id for _ in range(7)]
    seen, cursor = [], None
    while True:
        query = "?limit=3" + (f"&cursor={cursor}" if cursor else "")
        page = api.as_(admin).get("/api/v1/providers" + query)
        assert page.status_code == 200
        assert len(page.json["items"]) <= 3
        seen += [p["id"] for p in page.json["items"]]
        cursor = page.json["next_cursor"]
        if cursor is None:
            break
    assert seen == created


@pytest.mark.parametrize("query", ["?limit=0", "?limit=501", "?limit=abc", "?cursor=%%%", "?cursor=LTE"])
def test_bad_pagination_is_422(api, make, query):
    _assert_error(api.as_(make.user("admin")).get("/api/v1/providers" + query), 422)


def test_default_page_size_is_50(api, make):
    admin = make.user("admin")
    for _ in range(52):
        make.provider()
    page = api.as_(admin).get("/api/v1/providers").json
    assert len(page["items"]) == 50 and page["next_cursor"]


def test_openapi_document_is_public_and_complete(client, app):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    spec = response.json
    assert spec["openapi"].startswith("3.")
    assert all(path.startswith("/api/v1/") for path in spec["paths"])
    # every API route of the app is documented
    with app.app_context():
        rules = {
            re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", str(rule))
            for rule in app.url_map.iter_rules()
            if str(rule).startswith("/api/v1/") and not str(rule).endswith("openapi.json")
        }
    assert rules <= set(spec["paths"])
    error_schema = spec["components"]["schemas"]["Error"]
    assert error_schema["required"] == ["error"]
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if method == "parameters":
                continue
            codes = set(operation["responses"])
            if operation.get("security"):
                assert {"401", "429", "503"} <= codes, (method, path)
            if "requestBody" in operation:
                assert "422" in codes, (method, path)
            if "{" in path:
                assert "404" in codes, (method, path)


def test_healthz_reports_503_when_database_is_down(monkeypatch, client):
    from sqlalchemy.orm import Session

    def broken(*args, **kwargs):
        raise ConnectionError("database gone")

    monkeypatch.setattr(Session, "execute", broken)
    response = client.get("/healthz")
    assert response.status_code == 503
