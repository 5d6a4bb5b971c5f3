"""Bad input never gets through and never causes a 500: oversized bodies (413 before parsing), JSON
that is too deep or has absurd numbers (400), lone surrogates and NULs in text (422, the field named),
instants whose UTC conversion overflows (422 everywhere), malformed webhooks (400), and a malformed
usage record that is rejected alone while the rest of its batch is taken.
"""

from __future__ import annotations

import json
import time
from datetime import timedelta

import marshmallow as ma
import pytest
from flask import request
from sqlalchemy import func, select
from werkzeug.test import EnvironBuilder, run_wsgi_app

from booking.api.common import BodySchema, Day, Instant, PlatformParser
from booking.core import clock
from booking.core.db import db
from booking.flow.payments.wire import sign_payload
from booking.models import UsageRecord
from tests.web.test_access_matrix import _next_weekday_10am

MB = 1024 * 1024
OVERFLOWING_INSTANTS = ("0001-01-01T00:00:00+14:00", "9999-12-31T23:00:00-14:00")


def _error_code(response) -> str:
    return response.get_json()["error"]["code"]


# --- body size --------------------------------------------------------------------------------------------


def test_a_body_over_the_limit_is_413_before_it_is_parsed(app, client, monkeypatch):
    parsed = []
    monkeypatch.setattr("booking.api.common.parse_json", lambda body: parsed.append(body) or {})
    body = b'{"email": "' + b"a" * (3 * MB) + b'", "password": "x"}'
    response = client.post("/api/v1/auth/tokens", data=body, content_type="application/json")
    assert response.status_code == 413
    assert _error_code(response) == "payload_too_large"
    assert "2 MB" in response.get_json()["error"]["message"]
    assert parsed == []


def test_a_chunked_body_without_length_is_cut_at_the_limit(app):
    """No Content-Length (chunked transfer, which gunicorn marks ``wsgi.input_terminated``): the
    stream is cut where it passes the limit as it is read."""
    environ = EnvironBuilder(
        path="/api/v1/auth/tokens", method="POST", data=b" " * (3 * MB), content_type="application/json"
    ).get_environ()
    del environ["CONTENT_LENGTH"]
    environ["wsgi.input_terminated"] = True
    body, status, _headers = run_wsgi_app(app, environ, buffered=True)
    assert status.startswith("413")
    assert json.loads(b"".join(body))["error"]["code"] == "payload_too_large"


def test_a_body_just_under_the_limit_is_parsed(client):
    body = json.dumps({"email": "a" * 200 + "@example.cn", "password": "x" * 1000, "pad": " " * (MB)})
    response = client.post("/api/v1/auth/tokens", data=body, content_type="application/json")
    assert response.status_code == 422  # read and validated (the unknown field), not refused for its size


def test_an_html_form_over_the_limit_gets_a_friendly_page(client):
    response = client.post("/sign-in", data={"email": "a" * (3 * MB), "password": "x"})
    assert response.status_code == 413
    page = response.get_data(as_text=True)
    assert "<html" in page and "提交的内容过大" in page and "payload_too_large" not in page


def test_the_limit_is_configurable(app, client):
    app.config["MAX_CONTENT_LENGTH"] = 1000
    try:
        response = client.post("/api/v1/auth/tokens", json={"email": "x" * 2000, "password": "y"})
    finally:
        app.config["MAX_CONTENT_LENGTH"] = 2 * MB
    assert response.status_code == 413
    assert "1000 bytes" in response.get_json()["error"]["message"]


def test_the_limit_comes_from_the_environment(monkeypatch):
    from booking.core.config import Config

    monkeypatch.setenv("MAX_CONTENT_LENGTH", "5242880")
    assert Config.from_environ()["MAX_CONTENT_LENGTH"] == 5 * MB
    assert Config.MAX_CONTENT_LENGTH == 2 * MB


# --- JSON that cannot be taken ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        "[" * 5000 + "]" * 5000,
        '{"a":' * 5000 + "1" + "}" * 5000,
        '{"email": ' + "[" * 100 + "]" * 100 + ', "password": "x"}',
        '{"email": "a@b.cn", "password": "x", "n": ' + "9" * 5000 + "}",
        '{"email": "a@b.cn", "password": "x", "n": 1.' + "9" * 5000 + "}",
        '{"email": "a@b.cn", "password": "x", "n": 1e999}',
        '{"email": "a@b.cn", "password": "x", "n": NaN}',
        '{"email": "a@b.cn", "password": "x", "n": -Infinity}',
    ],
    ids=["deep-array", "deep-object", "deep-field", "long-int", "long-float", "inf", "nan", "-inf"],
)
def test_json_too_deep_or_with_absurd_numbers_is_400(client, body):
    response = client.post("/api/v1/auth/tokens", data=body, content_type="application/json")
    assert response.status_code == 400, response.get_data(as_text=True)[:300]
    assert _error_code(response) == "malformed_json"


def test_a_5000_digit_number_in_an_integer_field_is_400(api, make):
    admin = make.user("admin")
    response = api.as_(admin).post(
        "/api/v1/labs/1/managers", data='{"user_id": ' + "7" * 5000 + "}", content_type="application/json"
    )
    assert response.status_code == 400 and _error_code(response) == "malformed_json"


# --- text ---------------------------------------------------------------------------------------------------


def test_lone_surrogates_in_any_text_field_are_422_naming_it(api, make):
    admin = make.user("admin")
    manager = make.user("lab_manager")
    lab = make.lab(manager=manager)
    instrument = make.instrument(lab)
    cases = [
        (admin, "/api/v1/providers", {"name": "a\ud800b", "organization": "Org"}, "name"),
        (None, "/api/v1/auth/tokens", {"email": "a\udfff@example.cn", "password": "x"}, "email"),
        (None, "/api/v1/auth/tokens", {"email": "a@example.cn", "password": "p\ud800"}, "password"),
        (manager, f"/api/v1/instruments/{instrument.id}", {"description": "x\ud800"}, "description"),
        (manager, f"/api/v1/instruments/{instrument.id}", {"timezone": "Asia/\udc00"}, "timezone"),
        (
            manager,
            f"/api/v1/instruments/{instrument.id}/blackouts",
            {
                "starts_at": "2027-01-01T00:00:00+08:00",
                "ends_at": "2027-01-02T00:00:00+08:00",
                "reason": "\ud83d",
            },
            "reason",
        ),
    ]
    for user, path, body, field in cases:
        client = api.as_(user) if user else api
        send = client.patch if path.endswith(str(instrument.id)) else client.post
        response = send(path, data=json.dumps(body), content_type="application/json")
        assert response.status_code == 422, (path, body, response.get_data(as_text=True)[:300])
        assert field in response.get_json()["error"]["details"], (path, response.get_json())


def test_a_surrogate_pair_is_ordinary_text(api, make):
    admin = make.user("admin")
    response = api.as_(admin).post(
        "/api/v1/providers",
        data=json.dumps({"name": "算力 \U0001f680", "organization": "Org"}),  # "\ud83d\ude80" in the JSON
        content_type="application/json",
    )
    assert response.status_code == 201 and response.json["name"] == "算力 \U0001f680"


def test_nul_in_a_plain_text_field_is_422_naming_it(api, make):
    manager = make.user("lab_manager")
    instrument = make.instrument(make.lab(manager=manager))
    response = api.as_(manager).patch(f"/api/v1/instruments/{instrument.id}", json={"location": "B\x00"})
    assert response.status_code == 422 and "location" in response.json["error"]["details"]


# --- instants -----------------------------------------------------------------------------------------------


@pytest.fixture
def booked(make):
    founder = make.user("founder")
    team = make.team(owner=founder, verified=True)
    manager = make.user("lab_manager")
    lab = make.lab(manager=manager)
    instrument = make.instrument(lab)
    provider = make.provider()
    offer = make.offer(provider)
    starts = _next_weekday_10am()
    booking = make.booking(team, instrument, starts, starts + timedelta(hours=1), now=clock.now())
    return {
        "founder": founder,
        "team": team,
        "manager": manager,
        "instrument": instrument,
        "offer": offer,
        "booking": booking,
        "admin": make.user("admin"),
    }


@pytest.mark.parametrize("instant", OVERFLOWING_INSTANTS)
def test_instants_whose_utc_conversion_overflows_are_422_everywhere(api, booked, instant):
    w = booked
    good = "2027-01-04T10:00:00+08:00"
    from urllib.parse import quote

    q = quote(instant)
    cases = [
        (
            w["founder"],
            "post",
            "/api/v1/bookings",
            {
                "team_id": w["team"].id,
                "instrument_id": w["instrument"].id,
                "starts_at": instant,
                "ends_at": good,
            },
        ),
        (
            w["founder"],
            "post",
            "/api/v1/bookings",
            {
                "team_id": w["team"].id,
                "instrument_id": w["instrument"].id,
                "starts_at": good,
                "ends_at": instant,
            },
        ),
        (w["admin"], "get", f"/api/v1/bookings?from={q}", None),
        (w["admin"], "get", f"/api/v1/bookings?to={q}", None),
        (w["manager"], "post", f"/api/v1/bookings/{w['booking'].id}/check-in", {"at": instant}),
        (w["manager"], "post", f"/api/v1/bookings/{w['booking'].id}/check-out", {"at": instant}),
        (
            w["manager"],
            "post",
            f"/api/v1/instruments/{w['instrument'].id}/blackouts",
            {"starts_at": instant, "ends_at": good},
        ),
        (
            w["manager"],
            "post",
            f"/api/v1/instruments/{w['instrument'].id}/blackouts",
            {"starts_at": good, "ends_at": instant},
        ),
        (w["admin"], "get", f"/api/v1/finance/audit?since={q}", None),
        (w["admin"], "get", f"/api/v1/finance/audit?until={q}", None),
        (w["founder"], "get", f"/api/v1/instruments?free_from={q}&free_to={quote(good)}", None),
        (w["founder"], "get", f"/api/v1/instruments?free_from={quote(good)}&free_to={q}", None),
        (
            w["founder"],
            "get",
            f"/api/v1/instruments/{w['instrument'].id}/availability?from={q}&to={quote(good)}",
            None,
        ),
        (
            w["founder"],
            "get",
            f"/api/v1/instruments/{w['instrument'].id}/availability?from={quote(good)}&to={q}",
            None,
        ),
        (
            w["founder"],
            "get",
            f"/api/v1/compute/offers/{w['offer'].id}/availability?from={q}&to={quote(good)}",
            None,
        ),
        (
            w["founder"],
            "get",
            f"/api/v1/compute/offers/{w['offer'].id}/availability?from={quote(good)}&to={q}",
            None,
        ),
    ]
    for user, method, path, body in cases:
        client = api.as_(user)
        response = getattr(client, method)(path, json=body) if body is not None else client.get(path)
        assert response.status_code == 422, (method, path, body, response.get_data(as_text=True)[:300])
        details = response.get_json()["error"]["details"]
        assert details, (path, response.get_json())


# --- the payments webhook -----------------------------------------------------------------------------------


@pytest.fixture
def webhook_secret(app):
    app.config["PAYMENTS_WEBHOOK_SECRET"] = "whsec_input"
    yield "whsec_input"
    app.config["PAYMENTS_WEBHOOK_SECRET"] = None


@pytest.mark.parametrize("stamp", ["²", "١٧٠٠٠٠٠٠٠٠", "9" * 5000, "-1", " 1"])
def test_a_webhook_timestamp_that_is_not_ascii_digits_is_400(client, webhook_secret, stamp):
    response = client.post(
        "/api/v1/payments/webhook",
        data=b'{"id": "evt_1"}',
        headers={"Stripe-Signature": f"t={stamp},v1=00", "Content-Type": "application/json"},
    )
    assert response.status_code == 400 and _error_code(response) == "bad_signature"


@pytest.mark.parametrize(
    "payload",
    [b"[1, 2]", b'"event"', b"null", b"[" * 5000 + b"]" * 5000, b'{"id": 1' + b"0" * 5000 + b"}", b"\xff"],
    ids=["array", "string", "null", "deep", "long-number", "not-utf8"],
)
def test_a_signed_webhook_body_that_is_not_an_event_object_is_400(client, webhook_secret, payload):
    header = sign_payload(payload, webhook_secret, int(time.time()))
    response = client.post(
        "/api/v1/payments/webhook",
        data=payload,
        headers={"Stripe-Signature": header, "Content-Type": "application/json"},
    )
    assert response.status_code == 400, response.get_data(as_text=True)[:300]
    assert _error_code(response) == "bad_request"


# --- usage batches ------------------------------------------------------------------------------------------


@pytest.fixture
def compute_world(make):
    provider = make.provider()
    user = make.user("provider", provider_id=provider.id)
    team = make.team(owner=make.user("founder"), verified=True)
    offer = make.offer(provider)
    starts = _next_weekday_10am()
    booking = make.compute_booking(team, offer, starts, starts + timedelta(hours=2), now=clock.now())
    return {"user": user, "booking": booking, "starts": starts}


def _record(world, external_id: str, **changes) -> dict:
    starts = world["starts"]
    return {
        "external_id": external_id,
        "booking_id": world["booking"].id,
        "started_at": starts.isoformat(),
        "ended_at": (starts + timedelta(hours=1)).isoformat(),
        "gpu_hours": "1.5",
        **changes,
    }


def _usage_count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(UsageRecord))


@pytest.mark.parametrize(
    ("bad", "shown_id"),
    [
        ({"external_id": "job\x00nul"}, "job\x00nul"),
        ({"external_id": "job\ud800"}, "job\ud800"),
        ({"gpu_hours": "1\x00"}, "bad"),
        ({"started_at": "2026-01-01T00:00:00+08:00\x00"}, "bad"),
        ({"started_at": OVERFLOWING_INSTANTS[0]}, "bad"),
        ({"ended_at": OVERFLOWING_INSTANTS[1]}, "bad"),
        ({"started_at": "0001-01-01T00:00:00+00:00", "ended_at": "0001-01-01T01:00:00+00:00"}, "bad"),
        ({"gpu_hours": "١٢"}, "bad"),
        ({"gpu_hours": "１２"}, "bad"),
        ({"gpu_hours": "1\n"}, "bad"),
        ({"gpu_hours": "1.5\n"}, "bad"),
        ({"gpu_hours": "1." + "5" * 5000}, "bad"),
    ],
    ids=[
        "nul-id",
        "surrogate-id",
        "nul-hours",
        "nul-time",
        "overflow-start",
        "overflow-end",
        "year-1",
        "arabic-digits",
        "fullwidth-digits",
        "newline",
        "newline-decimal",
        "long-decimal",
    ],
)
def test_one_malformed_usage_record_is_rejected_and_the_rest_is_taken(app, api, compute_world, bad, shown_id):
    w = compute_world
    bad_record = {**_record(w, "bad"), **bad}
    records = [_record(w, "good-1"), bad_record, _record(w, "good-2")]
    response = api.as_(w["user"]).post(
        "/api/v1/usage-records", data=json.dumps({"records": records}), content_type="application/json"
    )
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    assert response.json["accepted"] == 2
    assert response.json["rejected"] == [{"external_id": shown_id, "code": "invalid"}]
    assert _usage_count(app) == 2


# --- one place for all: every operation uses the shared rules --------------------------------------------


def _argument_schemas(app):
    """(operation, location, schema instance) of every ``@blp.arguments`` of the API."""
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/"):
            continue
        view = app.view_functions[rule.endpoint]
        view_class = getattr(view, "view_class", None)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            func = getattr(view_class, method.lower(), None) if view_class else view
            for parameter in getattr(func, "_apidoc", {}).get("arguments", {}).get("parameters", []):
                schema = parameter["schema"]
                yield (
                    f"{method} {rule.rule}",
                    parameter["in"],
                    schema() if isinstance(schema, type) else schema,
                )


def _fields(schema):
    stack = list(schema.load_fields.values())
    while stack:
        field = stack.pop()
        yield field
        if isinstance(field, ma.fields.Nested):
            stack.extend(field.schema.load_fields.values())
        elif isinstance(field, ma.fields.List):
            stack.append(field.inner)


def test_every_api_blueprint_reads_bodies_with_the_platform_parser(app):
    import flask_smorest

    blueprints = [bp for bp in app.blueprints.values() if isinstance(bp, flask_smorest.Blueprint)]
    assert len(blueprints) > 10
    strays = [bp.name for bp in blueprints if not isinstance(bp.ARGUMENTS_PARSER, PlatformParser)]
    assert not strays, (
        f"blueprints that parse JSON without the platform's limits (use common.Blueprint): {strays}"
    )


def test_every_instant_and_date_an_operation_reads_is_range_checked(app):
    checked, strays = 0, []
    for operation, _location, schema in _argument_schemas(app):
        for field in _fields(schema):
            if isinstance(field, ma.fields.DateTime | ma.fields.Date):
                checked += 1
                if not isinstance(field, Instant | Day):
                    strays.append(f"{operation} {field.name}")
    assert checked >= 10
    assert not strays, f"instants or dates read without the range check (common.Instant, Day): {strays}"


@pytest.mark.parametrize("day", ["9999-12-31", "0001-01-01"])
def test_programme_dates_at_the_ends_of_the_calendar_are_422(api, make, day):
    officer = make.finance(None)
    body = {
        "name": "P",
        "level": "municipal",
        "resource_kinds": ["instrument"],
        "rate_bp": 5000,
        "budget_fen": 100_000,
        "per_team_cap_fen": 10_000,
        "valid_from": "2026-01-01" if day > "2026" else day,
        "valid_to": day if day > "2026" else "2030-12-31",
        "voucher_validity_days": 30,
    }
    response = api.as_(officer).post("/api/v1/programs", json=body)
    assert response.status_code == 422, response.get_data(as_text=True)[:300]
    assert set(response.json["error"]["details"]) == {"valid_to" if day > "2026" else "valid_from"}


def test_every_json_body_is_checked_for_unstorable_text(app):
    bodies, strays = 0, []
    for operation, location, schema in _argument_schemas(app):
        if location != "json":
            continue
        bodies += 1
        text_fields = [f for f in _fields(schema) if isinstance(f, ma.fields.String)]
        if not isinstance(schema, BodySchema) and not all(
            any(isinstance(v, ma.validate.Regexp | ma.validate.OneOf) for v in f.validators)
            for f in text_fields
        ):
            strays.append(operation)
    assert bodies >= 20
    assert not strays, f"JSON bodies whose free text is not checked (derive from BodySchema): {strays}"


# --- mail about a name stored with a line break -------------------------------------------------------------


def test_a_subject_with_a_line_break_still_makes_a_mail(app):
    from datetime import UTC, datetime

    from booking.flow.mail import email_for
    from booking.models.outbox import OutboxMessage

    message = OutboxMessage(
        id=1,
        kind="booking_confirmed",
        recipient="a@example.cn",
        subject="预约已确认：拉曼\r\nBcc: x@example.cn",
        body="…",
        created_at=datetime(2026, 12, 1, tzinfo=UTC),
    )
    with app.app_context():
        email = email_for(message)
        assert email["Subject"] == "预约已确认：拉曼 Bcc: x@example.cn"
        assert email["Bcc"] is None
        assert "\nBcc:" not in email.as_string()


# --- digits are ASCII digits, and nothing follows them -----------------------------------------------------


def test_codes_periods_and_times_take_ascii_digits_only(api, make):
    admin = make.user("admin")
    municipal = make.finance(None)
    manager = make.user("lab_manager")
    instrument = make.instrument(make.lab(manager=manager))
    hours = f"/api/v1/instruments/{instrument.id}/opening-hours"
    cases = [
        (
            admin,
            "post",
            "/api/v1/labs",
            {"name": "L", "university": "U", "organization": "O", "district_code": "５００１０６"},
            "district_code",
        ),
        (
            admin,
            "post",
            "/api/v1/labs",
            {"name": "L", "university": "U", "organization": "O", "district_code": "500106\n"},
            "district_code",
        ),
        (manager, "put", hours, [{"weekday": 0, "opens": "٠٩:٠٠", "closes": "17:00"}], "0"),
        (manager, "put", hours, [{"weekday": 0, "opens": "09:00", "closes": "17:00\n"}], "0"),
        (municipal, "post", "/api/v1/finance/periods/2026-01%0A/close", None, "period"),
        (municipal, "get", "/api/v1/finance/statements?period=2026-01%0A", None, "period"),
        (municipal, "get", "/api/v1/finance/statements?period=２０２６-01", None, "period"),
    ]
    for user, method, path, body, field in cases:
        client = api.as_(user)
        response = (
            getattr(client, method)(path, json=body) if body is not None else getattr(client, method)(path)
        )
        assert response.status_code == 422, (
            path,
            body,
            response.status_code,
            response.get_data(as_text=True)[:300],
        )
        assert field in response.get_json()["error"]["details"], (path, response.get_json())


def test_every_operation_with_a_body_documents_400_and_413(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    with_body = [
        (method, path, set(operation["responses"]))
        for path, operations in spec["paths"].items()
        for method, operation in operations.items()
        if method != "parameters" and ("requestBody" in operation or path.endswith("/payments/webhook"))
    ]
    assert len(with_body) >= 20
    undocumented = [(method, path) for method, path, codes in with_body if not {"400", "413"} <= codes]
    assert not undocumented
    too_large = spec["components"]["responses"]["REQUEST_ENTITY_TOO_LARGE"]
    assert too_large["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}


def test_a_view_declares_a_larger_limit_on_a_function_or_a_method_view(app):
    """How a future upload (result files, invoice scans) gets its own limit: ``@body_limit`` on the
    view function or on the method of a ``MethodView``, under other decorators too."""
    from functools import wraps

    from flask import Flask
    from flask.views import MethodView

    from booking.core.body_limits import body_limit, init_body_limits

    def passing_through(func):
        @wraps(func)
        def wrapper(*args, **kwargs):
            return func(*args, **kwargs)

        return wrapper

    small = Flask("limits")
    small.config["MAX_CONTENT_LENGTH"] = 100
    init_body_limits(small)

    @small.post("/plain")
    def plain():
        return str(len(request.get_data()))

    @small.post("/upload")
    @passing_through
    @body_limit(1000)
    def upload():
        return str(len(request.get_data()))

    class Scans(MethodView):
        @passing_through
        @body_limit(500)
        def post(self):
            return str(len(request.get_data()))

    small.add_url_rule("/scans", view_func=Scans.as_view("scans"))
    client = small.test_client()
    assert client.post("/plain", data=b"x" * 100).status_code == 200
    assert client.post("/plain", data=b"x" * 101).status_code == 413
    assert client.post("/upload", data=b"x" * 1000).get_data() == b"1000"
    assert client.post("/upload", data=b"x" * 1001).status_code == 413
    assert client.post("/scans", data=b"x" * 500).get_data() == b"500"
    assert client.post("/scans", data=b"x" * 501).status_code == 413
