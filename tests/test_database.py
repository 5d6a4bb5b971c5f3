"""The schema comes from the migrations (no drift from the models), and SQLite gives real transactions."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from booking.db import UTCDateTime, db, install_sqlite_transactions, sqlite_engine_options, write_intent


def test_migrations_match_the_models(isolated_db):
    """Upgrade-to-head built the test schema; autogenerate must find nothing left to do."""
    context = MigrationContext.configure(isolated_db, opts={"compare_type": True})
    assert compare_metadata(context, db.metadata) == []


def test_migration_loads_all_38_districts(isolated_db):
    rows = isolated_db.execute(
        sa.text("SELECT kind, count(*) FROM districts GROUP BY kind ORDER BY kind")
    ).all()
    assert [tuple(r) for r in rows] == [("county", 12), ("district", 26)]


def _sqlite_engine(path) -> sa.Engine:
    url = f"sqlite:///{path}"
    engine = sa.create_engine(url, **sqlite_engine_options(url))
    install_sqlite_transactions(engine)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"))
    return engine


def test_sqlite_pragmas(tmp_path):
    engine = _sqlite_engine(tmp_path / "p.sqlite3")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000


def test_sqlite_savepoint_really_rolls_back(tmp_path):
    engine = _sqlite_engine(tmp_path / "s.sqlite3")
    with engine.connect() as conn:
        with conn.begin():
            conn.execute(sa.text("INSERT INTO t (v) VALUES ('kept')"))
            nested = conn.begin_nested()
            conn.execute(sa.text("INSERT INTO t (v) VALUES ('dropped')"))
            nested.rollback()
        assert conn.execute(sa.text("SELECT v FROM t")).scalars().all() == ["kept"]


def test_sqlite_transaction_rollback_discards_writes(tmp_path):
    engine = _sqlite_engine(tmp_path / "r.sqlite3")
    with engine.connect() as conn:
        trans = conn.begin()
        conn.execute(sa.text("INSERT INTO t (v) VALUES ('x')"))
        trans.rollback()
        assert conn.execute(sa.text("SELECT count(*) FROM t")).scalar() == 0


def test_sqlite_write_intent_takes_the_lock_at_begin(tmp_path):
    """With write intent a transaction begins IMMEDIATE: a second writer waits before it reads."""
    engine = _sqlite_engine(tmp_path / "w.sqlite3")
    first_began, release = threading.Event(), threading.Event()
    order: list[str] = []

    def first_writer():
        with write_intent(), engine.begin() as conn:
            conn.execute(sa.text("SELECT count(*) FROM t")).scalar()
            first_began.set()
            release.wait(5)
            conn.execute(sa.text("INSERT INTO t (v) VALUES ('first')"))
            order.append("first committed")

    thread = threading.Thread(target=first_writer)
    thread.start()
    assert first_began.wait(5)
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA busy_timeout = 100")
        conn.commit()
        with pytest.raises(sa.exc.OperationalError, match="locked"), write_intent(), conn.begin():
            conn.execute(sa.text("SELECT 1"))
    release.set()
    thread.join(5)
    with write_intent(), engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO t (v) VALUES ('second')"))
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT v FROM t ORDER BY id")).scalars().all() == ["first", "second"]
    assert order == ["first committed"]


def test_utc_datetime_round_trips_aware_and_refuses_naive(tmp_path):
    engine = _sqlite_engine(tmp_path / "d.sqlite3")
    metadata = sa.MetaData()
    table = sa.Table(
        "moments", metadata, sa.Column("id", sa.Integer, primary_key=True), sa.Column("at", UTCDateTime)
    )
    metadata.create_all(engine)
    shanghai = datetime(2026, 3, 1, 9, 30, tzinfo=timezone(timedelta(hours=8)))
    with engine.begin() as conn:
        conn.execute(table.insert().values(at=shanghai))
        loaded = conn.execute(sa.select(table.c.at)).scalar()
    assert loaded == shanghai and loaded.tzinfo == UTC and loaded.hour == 1
    with pytest.raises(sa.exc.StatementError), engine.begin() as conn:
        conn.execute(table.insert().values(at=datetime(2026, 3, 1, 9, 30)))
