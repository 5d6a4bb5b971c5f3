"""What every API endpoint shares: the error shape, bearer authentication, pagination, strict fields."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from copy import deepcopy
from functools import wraps
from http import HTTPStatus

import flask_smorest
import marshmallow as ma
from flask import current_app, g, request
from sqlalchemy import Select
from webargs.flaskparser import FlaskParser, abort, is_json_request

from booking.core import input_rules
from booking.core.db import MAX_ID, db
from booking.core.errors import Forbidden, Invalid, Unauthorized
from booking.core.input_rules import parse_json
from booking.models import User
from booking.people import accounts

# --- the error shape ------------------------------------------------------------------------------------


class ErrorBodySchema(ma.Schema):
    code = ma.fields.String(required=True, metadata={"description": "machine-readable snake_case code"})
    message = ma.fields.String(required=True)
    details = ma.fields.Dict(required=True, metadata={"description": "field names → messages, or context"})


class ErrorSchema(ma.Schema):
    error = ma.fields.Nested(ErrorBodySchema, required=True)


# --- reading bodies -------------------------------------------------------------------------------------


class PlatformParser(FlaskParser):
    """webargs' parser with the platform's JSON rules (``input_rules.parse_json``): a body too deep,
    with an absurd number or NaN is 400 ``malformed_json``, never a RecursionError or ValueError (500)."""

    def _raw_load_json(self, req):
        if not is_json_request(req):
            return ma.missing
        body = req.get_data(cache=True)
        if not body:
            return ma.missing
        try:
            return parse_json(body)
        except input_rules.MalformedJson as error:
            abort(400, exc=error, messages={"json": [str(error)]})


class Blueprint(flask_smorest.Blueprint):
    """Every API blueprint: its ``arguments`` read bodies with the platform's parser, and an
    operation with a body documents 400 (malformed JSON) and 413 (over the size limit)."""

    ARGUMENTS_PARSER = PlatformParser()

    def arguments(self, schema, *, location="json", **kwargs):
        decorator = super().arguments(schema, location=location, **kwargs)
        if location not in ("json", "form", "files", "json_or_form"):
            return decorator

        def documented(func):
            func = decorator(func)
            _add_doc(func, codes=(400, 413))
            return func

        return documented

    def paged_list(
        self,
        item_schema: type[ma.Schema],
        *roles: str,
        args: type[ma.Schema] | None = None,
        codes: tuple[int, ...] = (),
    ) -> Callable:
        """A paged list's GET: ``{"items", "next_cursor"}`` of ``item_schema`` (``page_of``), for the
        bearer's ``roles`` (``api_auth``; none: anyone signed in), reading ``limit``, ``cursor`` and the
        list's filters from the query string (``args``, a ``PageArgs``); ``codes``: its other error
        statuses (``documents``). The view returns ``paginate(...)``."""

        def decorator(func):
            func = self.arguments(args or PageArgs, location="query")(func)
            func = api_auth(*roles)(func)
            if codes:
                func = documents(*codes)(func)
            return self.response(200, page_of(item_schema))(func)

        return decorator

    def also_as(self, *content_types: str, json_object: bool = False) -> Callable:
        """Document the download formats next to JSON (``format=csv``/``xlsx`` stream a file);
        ``json_object``: the JSON form has no schema of its own."""
        content = {kind: {"schema": {"type": "string", "format": "binary"}} for kind in content_types}
        if json_object:
            content["application/json"] = {"schema": {"type": "object"}}
        return self.doc(responses={200: {"content": content}})


# --- documentation helpers ------------------------------------------------------------------------------


def _add_doc(func: Callable, *, codes: tuple[int, ...] = (), security: bool = False) -> None:
    func._apidoc = deepcopy(getattr(func, "_apidoc", {}))
    responses = func._apidoc.setdefault("response", {}).setdefault("responses", {})
    for code in codes:
        refs = responses.setdefault(code, [])
        name = HTTPStatus(code).name
        if name not in refs:
            refs.append(name)
    if security:
        func._apidoc.setdefault("manual_doc", {})["security"] = [{"bearerAuth": []}]


def documents(*codes: int) -> Callable:
    """Document the error statuses an operation can return (beyond auth's 401/403 and 422)."""

    def decorator(func):
        _add_doc(func, codes=codes)
        return func

    return decorator


# --- authentication -------------------------------------------------------------------------------------


def bearer_secret() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        return None
    return secret.strip()


def current_actor() -> User:
    """The user of this API request (set by ``api_auth``)."""
    return g.api_user


def api_auth(*roles: str) -> Callable:
    """Require a valid bearer token (401) and, when roles are given, one of them (403).

    Authentication runs before the body is validated, so an anonymous caller learns nothing about
    the endpoint beyond 401. The decorator also documents security, 401 and 403 in the OpenAPI.
    """

    def decorator(func):
        @wraps(func)
        def wrapper(*args, **kwargs):
            secret = bearer_secret()
            if secret is None:
                raise Unauthorized("Sign in: send 'Authorization: Bearer <token>'.")
            user, _token = accounts.user_for_token(secret)
            if roles and user.role not in roles:
                raise Forbidden("Your role may not do this.")
            g.api_user = user
            return func(*args, **kwargs)

        # 503: the token is looked up in the database, which may be unreachable
        _add_doc(wrapper, codes=(401, 403, 429, 503) if roles else (401, 429, 503), security=True)
        wrapper._access_roles = roles or ("*",)
        return wrapper

    return decorator


def public(func: Callable) -> Callable:
    """Mark an endpoint as needing no authentication (the access matrix test reads this)."""
    func._access_roles = ("public",)
    return func


# --- strict fields --------------------------------------------------------------------------------------


class Text(ma.fields.String):
    """A trimmed, non-blank string of bounded length, on one line (whitespace runs collapsed)."""

    def __init__(self, max_length: int = 200, **kwargs):
        kwargs.setdefault("validate", ma.validate.Length(min=1, max=max_length))
        super().__init__(**kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        value = super()._deserialize(value, attr, data, **kwargs)
        if problem := input_rules.text_problem(value):
            raise ma.ValidationError(problem)
        return input_rules.one_line(value)


class Instant(ma.fields.AwareDateTime):
    """An ISO 8601 instant with its UTC offset, in UTC years 1900 to 2199: one whose UTC conversion
    would overflow (``0001-01-01T00:00:00+14:00``) is 422, never a 500 further on. Every instant an
    API operation reads is one of these (tests/api/test_bad_input.py checks)."""

    def __init__(self, **kwargs):
        metadata = kwargs.setdefault("metadata", {})
        metadata.setdefault("description", "ISO 8601 with offset, UTC years 1900 to 2199")
        super().__init__(**kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        value = super()._deserialize(value, attr, data, **kwargs)
        if not input_rules.instant_in_range(value):
            raise ma.ValidationError(input_rules.INSTANT_RANGE_MESSAGE)
        return value


class Day(ma.fields.Date):
    """A calendar date ``YYYY-MM-DD`` in the years 1900 to 2199 (a day at datetime's ends overflows
    when the platform takes the instant it ends: ``9999-12-31`` plus one day)."""

    def _deserialize(self, value, attr, data, **kwargs):
        value = super()._deserialize(value, attr, data, **kwargs)
        if not input_rules.EARLIEST_INSTANT.year <= value.year < input_rules.LATEST_INSTANT.year:
            raise ma.ValidationError("Must be a date in the years 1900 to 2199.")
        return value


def Integer(**kwargs) -> ma.fields.Integer:
    """An integer that refuses strings and floats (``"12"`` and ``12.5`` are 422)."""
    return ma.fields.Integer(strict=True, **kwargs)


# The largest id: what the database's INTEGER keys hold (PostgreSQL refuses larger numbers in a
# comparison with them, SQLite beyond 64 bits). Larger ids are refused (404/422), never queried.


def Id(**kwargs) -> ma.fields.Integer:
    return ma.fields.Integer(strict=True, validate=ma.validate.Range(min=1, max=MAX_ID), **kwargs)


def QueryId(**kwargs) -> ma.fields.Integer:
    """An id in the query string (a string there, so not strict), in the same range as ``Id``."""
    return ma.fields.Integer(validate=ma.validate.Range(min=1, max=MAX_ID), **kwargs)


class StrictBoolean(ma.fields.Boolean):
    truthy = {True}
    falsy = {False}


DistrictCode = ma.fields.String(validate=ma.validate.Regexp(r"^[0-9]{6}\Z", error="Six digits, e.g. 500106."))


class BodySchema(ma.Schema):
    """A JSON body: unknown fields refused, and no text anywhere in it (nested too, keys too) that
    cannot be stored: a NUL or a lone surrogate is 422 naming the field, whatever its type. ``Raw``
    fields are left to their operation (usage records are judged one by one), and so are the fields a
    schema names in ``judged_by_operation`` (a new password: its rules answer 422 ``weak_password``)."""

    judged_by_operation: frozenset[str] = frozenset()

    class Meta:
        unknown = ma.RAISE

    @ma.pre_load
    def _storable_text(self, data, **kwargs):
        if not isinstance(data, dict):
            return data
        by_key = {field.data_key or name: field for name, field in self.load_fields.items()}
        errors = {}
        for key, value in data.items():
            field = by_key.get(key)
            if field is not None and isinstance(_inner(field), ma.fields.Raw):
                continue
            if key in self.judged_by_operation and isinstance(value, str):
                continue
            if problem := _text_problem_in(key, value):
                errors[key] = [problem]
        if errors:
            raise ma.ValidationError(errors)
        return data


def _inner(field: ma.fields.Field) -> ma.fields.Field:
    return field.inner if isinstance(field, ma.fields.List) else field


def _text_problem_in(key, value) -> str | None:
    """The first unstorable text in a key and a JSON value (iterative: depth is bounded by the parser)."""
    stack = [key, value]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            if problem := input_rules.text_problem(node):
                return problem
        elif isinstance(node, dict):
            stack.extend(node.keys())
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return None


# --- pagination -----------------------------------------------------------------------------------------


class PageArgs(ma.Schema):
    class Meta:
        unknown = ma.EXCLUDE

    limit = ma.fields.Integer(validate=ma.validate.Range(min=1, max=500), load_default=None)
    cursor = ma.fields.String(validate=ma.validate.Length(max=100), load_default=None)


_page_schemas: dict[str, type[ma.Schema]] = {}


def page_of(item_schema: type[ma.Schema]) -> type[ma.Schema]:
    """``{"items": [...], "next_cursor": ...}`` around an item schema (one class per item schema)."""
    name = item_schema.__name__.removesuffix("Schema") + "PageSchema"
    if name not in _page_schemas:
        _page_schemas[name] = type(
            name,
            (ma.Schema,),
            {
                "items": ma.fields.List(ma.fields.Nested(item_schema), required=True),
                "next_cursor": ma.fields.String(allow_none=True, required=True),
            },
        )
    return _page_schemas[name]


def _decode_cursor(cursor: str) -> int:
    try:
        value = int(base64.urlsafe_b64decode(cursor.encode() + b"==").decode())
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise Invalid("The cursor is not valid.", details={"cursor": ["Not a cursor from this list."]})
    if value < 0:
        raise Invalid("The cursor is not valid.", details={"cursor": ["Not a cursor from this list."]})
    return value


def _encode_cursor(value: int) -> str:
    return base64.urlsafe_b64encode(str(value).encode()).decode().rstrip("=")


def paginate(query: Select, id_column, args: dict) -> dict:
    """Keyset pagination by ascending id: stable under concurrent inserts, O(limit) per page."""
    limit = args.get("limit") or current_app.config["PAGE_DEFAULT_LIMIT"]
    limit = min(limit, current_app.config["PAGE_MAX_LIMIT"])
    if args.get("cursor"):
        query = query.where(id_column > _decode_cursor(args["cursor"]))
    rows = list(db.session.scalars(query.order_by(id_column).limit(limit + 1)).unique())
    next_cursor = _encode_cursor(rows[limit - 1].id) if len(rows) > limit else None
    return {"items": rows[:limit], "next_cursor": next_cursor}
