"""The database unreachable, hung or too busy: 503 ``service_unavailable`` with ``Retry-After`` (the
API's error shape, or a page that needs no database), never a 500.

Only connection-level failures count: a server that refuses or drops connections, a connect,
statement or lock timeout, SQLite's file that cannot be opened or stays locked. A missing table or
bad SQL is a bug and stays a 500.
"""

from __future__ import annotations

import contextlib
import logging

from flask import Flask, current_app, request, session
from flask_babel import force_locale
from sqlalchemy import exc

from booking.core.db import db
from booking.core.errors import error_body, is_api_request

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5

# PostgreSQL SQLSTATEs that mean "not now" rather than "wrong": connection exceptions (08…), too many
# connections / out of resources (53…), the server shutting down or cancelling (57…, incl. 57014 the
# statement_timeout), lock_timeout (55P03).
_UNAVAILABLE_SQLSTATE_CLASSES = ("08", "53", "57")
_UNAVAILABLE_SQLSTATES = frozenset({"55P03"})
# SQLite reports both outages and bugs as OperationalError; these messages are the outages.
_SQLITE_OUTAGES = (
    "unable to open database file",
    "database is locked",
    "disk i/o error",
    "readonly database",
    "database or disk is full",
)


def database_unavailable(error: BaseException) -> bool:
    """Whether ``error`` means the database cannot be reached or did not answer in time."""
    if isinstance(error, exc.TimeoutError | exc.DisconnectionError):  # pool exhausted, dead connection
        return True
    if not isinstance(error, exc.DBAPIError):
        return False
    if error.connection_invalidated:
        return True
    orig = error.orig
    sqlstate = getattr(orig, "sqlstate", None)
    if sqlstate:
        return sqlstate.startswith(_UNAVAILABLE_SQLSTATE_CLASSES) or sqlstate in _UNAVAILABLE_SQLSTATES
    if type(orig).__module__.startswith("sqlite3"):
        return isinstance(error, exc.OperationalError) and any(
            m in str(orig).lower() for m in _SQLITE_OUTAGES
        )
    # psycopg raises OperationalError without a SQLSTATE when it cannot connect at all
    return isinstance(error, exc.OperationalError | exc.InterfaceError)


def _page_locale() -> str:
    """The page's language without the database: the session's choice, else Chinese."""
    chosen = session.get("locale")
    return chosen if chosen in current_app.config["LANGUAGES"] else "zh_CN"


def handle_database_error(error: exc.SQLAlchemyError):
    if not database_unavailable(error):
        raise error  # a bug: the usual 500
    log.warning("database unavailable: %s", str(error).splitlines()[0][:300])
    with contextlib.suppress(exc.SQLAlchemyError):
        db.session.rollback()
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
    if is_api_request() or request.path == "/healthz":
        body = error_body(
            "service_unavailable", "The database is unavailable right now; please try again shortly."
        )
        return body, 503, headers
    # rendered without the app's context processors: they read the signed-in user (the database)
    locale = _page_locale()
    with force_locale(locale):
        page = current_app.jinja_env.get_template("unavailable.html").render(
            current_locale=locale, request=request
        )
    return page, 503, headers


def init_outage_handling(app: Flask) -> None:
    # DBAPIError covers OperationalError and InterfaceError (subclass handlers, e.g. IntegrityError's,
    # still win for their own kind); TimeoutError is the pool's.
    app.register_error_handler(exc.DBAPIError, handle_database_error)
    app.register_error_handler(exc.TimeoutError, handle_database_error)
    app.register_error_handler(exc.DisconnectionError, handle_database_error)
