"""Database layer: the declarative base, column types, SQLite transaction semantics, write intent.

Only the request/job boundary commits (``booking.core.app.PlatformFlask.dispatch_request`` and the job runner);
everything below it only ``flush()``es.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import DateTime, MetaData, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, registry
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator):
    """A timezone-aware instant, stored in UTC on every engine.

    PostgreSQL keeps ``timestamptz``; SQLite has no zone, so the value is stored as naive UTC and
    given its zone back on load. Naive datetimes are refused: they are always a bug here.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given for a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    # The type map lives on the registry: Flask-SQLAlchemy subclasses this base, and SQLAlchemy
    # refuses a per-base type_annotation_map next to an explicit registry.
    registry = registry(
        metadata=MetaData(naming_convention=NAMING_CONVENTION),
        type_annotation_map={datetime: UTCDateTime()},
    )


db = SQLAlchemy(model_class=Base, session_options={"expire_on_commit": False})


# --- write intent -----------------------------------------------------------------------------------
# SQLite cannot upgrade a read transaction to a write one without risking SQLITE_BUSY that no busy
# timeout can wait out, so a unit of work that will write starts with BEGIN IMMEDIATE: writers queue on
# the database lock (the busy timeout) and re-check their rules inside the transaction. PostgreSQL
# ignores this flag; it relies on row locks and constraints.
_write_intent: ContextVar[bool] = ContextVar("write_intent", default=False)


# Ids are 32-bit integers on both engines; larger ones in requests are refused before any query.
MAX_ID = 2**31 - 1


def set_write_intent(value: bool):
    return _write_intent.set(value)


def reset_write_intent(token) -> None:
    _write_intent.reset(token)


@contextmanager
def write_intent() -> Iterator[None]:
    token = _write_intent.set(True)
    try:
        yield
    finally:
        _write_intent.reset(token)


def install_sqlite_transactions(engine: Engine, busy_timeout_ms: int = 30_000) -> None:
    """Give pysqlite real transactions, as SQLAlchemy's SQLite docs describe.

    The driver's own transaction handling is switched off (it defers BEGIN and breaks SAVEPOINT and
    serializable behaviour); SQLAlchemy emits BEGIN itself: IMMEDIATE when the unit of work will write.
    A writer waits at most ``busy_timeout_ms`` for the database lock, then fails ("database is locked").
    """
    if engine.dialect.name != "sqlite":
        return
    in_memory = engine.url.database in (None, "", ":memory:")

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        if not in_memory:
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        conn.exec_driver_sql("BEGIN IMMEDIATE" if _write_intent.get() else "BEGIN")


def among(column, values):
    """``column IN values`` for long lists of ids or keys, sent as one parameter: an array on
    PostgreSQL, a JSON array read by ``json_each`` on SQLite. A 2,000-item IN list costs more to
    compile, send and parse than to run."""
    values = list(values)
    if db.session.get_bind().dialect.name == "postgresql":
        from sqlalchemy import any_, literal
        from sqlalchemy.dialects.postgresql import ARRAY

        return column == any_(literal(values, ARRAY(column.type)))
    from sqlalchemy import func, literal, select
    from sqlalchemy.types import String

    return column.in_(select(func.json_each(literal(json.dumps(values), String)).table_valued("value")))


def insert_rows(table, columns: tuple[str, ...], rows: list[tuple]) -> None:
    """Bulk INSERT of plain tuples straight on the driver, for batch jobs writing thousands of rows.

    PostgreSQL: one statement with one array per column (``unnest``); SQLite: ``executemany``. Each
    value still goes through its column type's bind processor, so a datetime is stored exactly as
    the ORM stores it; what is skipped is SQLAlchemy's per-row statement machinery. Values are
    plain and hashable (numbers, text, datetimes, None), not JSON documents.
    """
    if not rows:
        return
    connection = db.session.connection()
    dialect = connection.dialect
    types = [table.c[name].type for name in columns]
    # the dialect's own processors (a datetime on SQLite becomes the ORM's text, microseconds included)
    bound = (t.dialect_impl(dialect).bind_processor(dialect) for t in types)
    processors = [(i, p) for i, p in enumerate(bound) if p is not None]
    values = [list(column) for column in zip(*rows, strict=True)]  # column by column
    for i, process in processors:
        processed: dict = {}  # a batch repeats its timestamps: each distinct value is processed once
        values[i] = [
            processed[v] if v in processed else processed.setdefault(v, process(v)) for v in values[i]
        ]
    names = ", ".join(columns)
    if dialect.name == "postgresql":
        arrays = ", ".join(f"%b::{t.compile(dialect=dialect)}[]" for t in types)
        connection.exec_driver_sql(
            f"INSERT INTO {table.name} ({names}) SELECT * FROM unnest({arrays})", tuple(values)
        )
    else:
        marks = ", ".join("?" for _ in columns)
        connection.exec_driver_sql(
            f"INSERT INTO {table.name} ({names}) VALUES ({marks})", list(zip(*values, strict=True))
        )


def execute_many(statement: str, rows: list[tuple], *, postgresql: str | None = None) -> None:
    """Run one bulk statement (a ``?``-marked statement for each row) straight on the driver.

    SQLite: ``executemany`` (in-process, cheap per row). PostgreSQL: the ``postgresql`` form, sent
    once with one array per column (``unnest``), since executemany there costs a round trip per row.
    SQLAlchemy's per-row parameter processing is skipped: these statements carry only ints and keys.
    """
    if not rows:
        return
    connection = db.session.connection()
    if connection.dialect.name == "postgresql" and postgresql:
        columns = tuple(list(column) for column in zip(*rows, strict=True))
        connection.exec_driver_sql(postgresql, columns)
    else:
        marker = "?" if connection.dialect.paramstyle == "qmark" else "%s"
        connection.exec_driver_sql(statement.replace("?", marker), rows)


def insert_ignoring_conflicts(model):
    """INSERT … ON CONFLICT DO NOTHING on the current engine (PostgreSQL and SQLite both have it)."""
    from sqlalchemy.dialects import postgresql, sqlite

    dialect = postgresql if db.session.get_bind().dialect.name == "postgresql" else sqlite
    return dialect.insert(model.__table__)


def sqlite_engine_options(uri: str, busy_timeout_ms: int = 30_000) -> dict:
    """Engine options for a SQLite URI: a driver-level timeout as well as the PRAGMA."""
    if not uri.startswith("sqlite"):
        return {}
    return {"connect_args": {"timeout": busy_timeout_ms / 1000, "check_same_thread": False}}


def engine_options(config: Mapping) -> dict:
    """Engine options that bound how long a request can wait on the database (merged under the
    app's own ``SQLALCHEMY_ENGINE_OPTIONS``).

    PostgreSQL: ``connect_timeout`` (libpq waits forever by default), ``statement_timeout`` (a
    statement, lock waits included), ``lock_timeout`` (shorter: a lock wait is the usual hang, and
    the normal ones, e.g. a booking race's wait for the winner's commit, last milliseconds), and
    ``idle_in_transaction_session_timeout`` (a transaction left open by a stuck worker, longer than
    the slowest payments call a request makes inside its transaction). 0 turns one off.
    SQLite: the busy timeout (the lock wait; see ``install_sqlite_transactions``).
    """
    uri = config["SQLALCHEMY_DATABASE_URI"]
    if uri.startswith("sqlite"):
        return sqlite_engine_options(uri, config.get("DATABASE_BUSY_TIMEOUT_MS", 30_000))
    if not uri.startswith("postgresql"):
        return {}
    settings = {
        "statement_timeout": config.get("DATABASE_STATEMENT_TIMEOUT_MS", 0),
        "lock_timeout": config.get("DATABASE_LOCK_TIMEOUT_MS", 0),
        "idle_in_transaction_session_timeout": config.get("DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS", 0),
    }
    connect_args: dict = {}
    if options := " ".join(f"-c {name}={int(ms)}" for name, ms in settings.items() if ms):
        connect_args["options"] = options
    if config.get("DATABASE_CONNECT_TIMEOUT_SECONDS"):
        # libpq takes whole seconds; at least 2 (it treats 1 as 2 anyway)
        connect_args["connect_timeout"] = max(2, int(config["DATABASE_CONNECT_TIMEOUT_SECONDS"]))
    return {"connect_args": connect_args}


def merged_engine_options(ours: dict, theirs: dict) -> dict:
    """The app's explicit options win; ``connect_args`` are merged key by key."""
    merged = {**ours, **theirs}
    if "connect_args" in ours and "connect_args" in theirs:
        merged["connect_args"] = {**ours["connect_args"], **theirs["connect_args"]}
    return merged


def add_to_totals(
    table: str, keys: tuple[str, ...], values: tuple[str, ...], rows: dict[tuple, tuple[int, ...]]
) -> None:
    """Add ``rows`` ({key tuple: amounts}) to a running-total table, atomically, in key order.

    ``INSERT … ON CONFLICT DO UPDATE SET v = v + excluded.v`` on SQLite (3.24+) and PostgreSQL alike;
    PostgreSQL gets every row in one statement as arrays (its executemany costs a round trip per row).
    Key columns are integers or text, amounts integers. Writing in key order after the rows that
    caused them are locked means two writers cannot deadlock here.
    """
    ordered = [(*key, *amounts) for key, amounts in sorted(rows.items()) if any(amounts)]
    if not ordered:
        return
    columns = ", ".join(keys + values)
    add = ", ".join(f"{v} = {table}.{v} + excluded.{v}" for v in values)
    conflict = f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {add}"
    connection = db.session.connection()
    if connection.dialect.name == "postgresql":
        types = ["text" if isinstance(x, str) else "bigint" for x in ordered[0]]
        arrays = ", ".join(f"%b::{t}[]" for t in types)
        connection.exec_driver_sql(
            f"INSERT INTO {table} ({columns}) SELECT * FROM unnest({arrays}) {conflict}",
            tuple(list(column) for column in zip(*ordered, strict=True)),
        )
    else:
        marks = ", ".join("?" for _ in ordered[0])
        connection.exec_driver_sql(f"INSERT INTO {table} ({columns}) VALUES ({marks}) {conflict}", ordered)
