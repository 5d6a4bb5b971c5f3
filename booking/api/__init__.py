"""The public JSON API (v1): flask-smorest blueprints, OpenAPI at /api/v1/openapi.json."""

from __future__ import annotations

from flask import Flask, render_template
from flask_smorest import Api
from flask_smorest.spec.plugins import integerconverter2paramschema
from sqlalchemy.exc import DataError, IntegrityError
from werkzeug.routing import IntegerConverter

from booking.api import (
    auth,
    booking_series,
    bookings,
    calendar,
    claims,
    closures,
    compute,
    invitations,
    onboarding,
    passwords,
    payee,
    payments,
    providers,
    service_orders,
    services,
    teams,
    training,
    usage,
    users,
    waitlist,
)
from booking.api import finance as finance_api
from booking.api import instrument_search as search_api
from booking.api import instruments as labs_api
from booking.api import reconciliation as reconciliation_api
from booking.api import vouchers as vouchers_api
from booking.api.common import MAX_ID, ErrorSchema, public
from booking.core import body_limits
from booking.core.errors import DomainError, error_body, is_api_request

HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    500: "internal_error",
    503: "service_unavailable",
}


def _flatten_webargs_messages(messages: dict) -> dict:
    """webargs reports ``{location: {field: [msgs]}}``; clients want ``{field: [msgs]}``."""
    details: dict = {}
    for location, value in messages.items():
        if isinstance(value, dict):  # keys as strings: a list body reports items by index (an int)
            details.update({str(key): messages for key, messages in value.items()})
        else:
            details[location] = value
    return details


class PlatformApi(Api):
    ERROR_SCHEMA = ErrorSchema

    def handle_http_exception(self, error):
        if not is_api_request():
            return render_template("error.html", error=error), error.code
        code = HTTP_CODES.get(error.code, "error")
        message = error.description or error.name
        details: dict = {}
        headers = {}
        data = getattr(error, "data", None) or {}
        if "messages" in data:
            details = _flatten_webargs_messages(data["messages"])
            if error.code == 400:
                code, message = "malformed_json", "The request body is not valid JSON."
            else:
                message = "Some fields are not valid: " + ", ".join(sorted(details)) + "."
        if error.code == 413:  # also when a chunked body is cut while read (no description of ours)
            message = body_limits.too_large_message()
        if "message" in data:
            message = data["message"]
        if "headers" in data:
            headers = data["headers"]
        if error.code == 401:
            headers.setdefault("WWW-Authenticate", "Bearer")
        return error_body(code, message, details), error.code, headers


def handle_domain_error(error: DomainError):
    # the request boundary (booking.core.app) has rolled the unit of work back already
    if is_api_request():
        headers = {"WWW-Authenticate": "Bearer"} if error.status == 401 else {}
        if error.status == 429 and "retry_after_seconds" in error.details:
            headers["Retry-After"] = str(error.details["retry_after_seconds"])
        return error_body(error.code, error.message, error.details), error.status, headers
    return render_template("error.html", error=error), error.status


def handle_integrity_error(error: IntegrityError):
    """A constraint the operation did not foresee: a lost race, never a server fault."""
    body = error_body("conflict", "The change conflicts with data saved meanwhile; reload and retry.")
    if is_api_request():
        return body, 409
    return render_template("error.html", error=DomainError(body["error"]["message"])), 409


class IdConverter(IntegerConverter):
    """``<int:...>`` in every route (API and pages): at most ``MAX_ID``. A larger number is 404
    instead of overflowing the database's integer (a 500 the API fuzz test found)."""

    def __init__(self, map, *args, **kwargs):
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)


def handle_data_error(error: DataError):
    """A value the database cannot store (a NUL character in text, a number out of range) that
    validation let through: the request's fault, so 422, never a 500."""
    body = error_body("invalid_data", "A value in the request cannot be stored (e.g. a NUL character).")
    if is_api_request():
        return body, 422
    return render_template("error.html", error=DomainError(body["error"]["message"])), 422


def init_api(app: Flask) -> None:
    app.url_map.converters["int"] = IdConverter  # before any route is added
    app.config.setdefault("API_SPEC_OPTIONS", {})
    app.config["API_SPEC_OPTIONS"].update(
        {
            "components": {
                "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}},
            },
            "info": {"description": "Compute vouchers (算力券) and shared instruments for Chongqing teams."},
        }
    )
    api = PlatformApi(app)
    api.register_converter(IdConverter, integerconverter2paramschema)
    public(app.view_functions["api-docs.openapi_json"].__func__)  # the contract itself is public
    app.register_error_handler(DomainError, handle_domain_error)
    app.register_error_handler(IntegrityError, handle_integrity_error)
    app.register_error_handler(DataError, handle_data_error)

    for module in (
        auth,
        passwords,
        onboarding,
        users,
        teams,
        invitations,
        providers,
        compute,
        usage,
        labs_api,
        training,
        search_api,
        services,
        service_orders,
        bookings,
        booking_series,
        calendar,
        payments,
        vouchers_api,
        reconciliation_api,
        finance_api,
        payee,
        closures,
        waitlist,
        claims,
    ):
        api.register_blueprint(module.blp)
