"""Domain errors raised by operations, shared by the JSON API and the HTML views.

The API turns them into ``{"error": {"code", "message", "details"}}`` with their status; the HTML
views show the message next to the form.
"""

from __future__ import annotations

from flask import request

API_PREFIX = "/api/"


def is_api_request() -> bool:
    """Whether the current request is the JSON API's (its errors take the API's shape)."""
    return request.path.startswith(API_PREFIX)


def error_body(code: str, message: str, details: dict | None = None) -> dict:
    """The API's error shape: ``{"error": {"code", "message", "details"}}``."""
    return {"error": {"code": code, "message": message, "details": details or {}}}


class DomainError(Exception):
    status = 422
    code = "invalid"

    def __init__(self, message: str, *, code: str | None = None, details: dict | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.details = details or {}


class Invalid(DomainError):
    """The request is well-formed but breaks a rule (422)."""


class NotFound(DomainError):
    status = 404
    code = "not_found"


class Forbidden(DomainError):
    status = 403
    code = "forbidden"


class Conflict(DomainError):
    status = 409
    code = "conflict"


class Unauthorized(DomainError):
    status = 401
    code = "unauthorized"


def unknown_reference(field: str, what: str) -> Invalid:
    """An id or code in a request body that names nothing (422, not 404: the path was fine)."""
    return Invalid(f"Unknown {what}.", code="unknown_reference", details={field: [f"Unknown {what}."]})


class ServiceUnavailable(DomainError):
    """A service we depend on (the payments API) is unreachable (503)."""

    status = 503
    code = "payments_unavailable"
