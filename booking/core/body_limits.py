"""Request bodies are bounded before anything reads them.

``MAX_CONTENT_LENGTH`` (2 MB by default, from the environment) holds for every route. A route whose
upload needs more declares its own limit on the view, HTML or API alike::

    @blp.route("/provider/usage/upload", methods=["POST"])
    @page("provider")
    @body_limit(9 * MB)
    def provider_usage_upload(): ...

(on a ``MethodView`` API resource, decorate the method). The limit is applied in the first
``before_request`` hook, before CSRF reads a form and before authentication: a body declared larger
(``Content-Length``) is refused at once, a body without a length (chunked) once more than the limit
has arrived; Flask's per-request ``request.max_content_length`` is set to the same limit. Either way the answer is
413: ``payload_too_large`` in the API's error shape, a friendly page on the HTML side.
"""

from __future__ import annotations

import io
from collections.abc import Callable

from flask import Flask, current_app, request
from werkzeug.exceptions import RequestEntityTooLarge

MB = 1024 * 1024


def body_limit(max_bytes: int) -> Callable:
    """Allow bodies of up to ``max_bytes`` on this view (instead of ``MAX_CONTENT_LENGTH``)."""

    def decorator(func):
        func._max_content_length = max_bytes
        return func

    return decorator


def _declared_limit(func) -> int | None:
    while func is not None:  # through functools.wraps layers (the auth and argument decorators)
        if (limit := getattr(func, "_max_content_length", None)) is not None:
            return limit
        func = getattr(func, "__wrapped__", None)
    return None


def limit_for_request() -> int | None:
    """The body limit of the route this request goes to."""
    view = current_app.view_functions.get(request.endpoint) if request.endpoint else None
    view_class = getattr(view, "view_class", None)
    if view_class is not None:
        view = getattr(view_class, request.method.lower(), None)
    declared = _declared_limit(view)
    return declared if declared is not None else current_app.config.get("MAX_CONTENT_LENGTH")


def describe(limit: int | None) -> str:
    if limit is None:
        return "no limit"
    return f"{limit // MB} MB" if limit % MB == 0 else f"{limit} bytes"


def too_large_message() -> str:
    return f"The request body is larger than {describe(request.max_content_length)}."


def enforce_body_limit() -> None:
    limit = limit_for_request()
    request.max_content_length = limit
    if limit is None:
        return
    if request.content_length is not None:
        if request.content_length > limit:
            raise RequestEntityTooLarge(too_large_message())
    elif request.environ.get("wsgi.input_terminated"):
        # A chunked body: Werkzeug would silently stop reading at the limit (a truncated body, then
        # a misleading 400). Read one byte past it to tell, and hand on what was read.
        data = request.environ["wsgi.input"].read(limit + 1)
        if len(data) > limit:
            raise RequestEntityTooLarge(too_large_message())
        request.environ["wsgi.input"] = io.BytesIO(data)


def init_body_limits(app: Flask) -> None:
    """Call before any extension that reads the body in ``before_request`` (CSRF)."""
    app.before_request(enforce_body_limit)
