"""The schema comes from the migrations (no drift from the models), and SQLite gives real transactions."""

from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from booking.core.db import UTCDateTime, db, install_sqlite_transactions, sqlite_engine_options, write_intent


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


def test_usage_migration_converts_gpu_hours_to_exact_microhours(tmp_path):
    """0011 turns the stored GPU-hours (a REAL on SQLite) into integer micro-GPU-hours, and back."""
    import flask_migrate

    from booking.core.config import TestConfig
    from booking.factory import create_app

    app = create_app(
        {
            **{k: getattr(TestConfig, k) for k in dir(TestConfig) if k.isupper()},
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'm.sqlite3'}",
            "SECRET_KEY": "test-secret",
        }
    )
    hours = ["0.000001", "1.5", "0.333333", "123456.789012"]
    with app.app_context():
        flask_migrate.upgrade(revision="0010")
        # the rows' parents do not matter here: foreign keys off, for the raw insert and the migration's copy
        db.engine.dispose()
        sa.event.listen(db.engine, "connect", lambda dbapi, _: dbapi.execute("PRAGMA foreign_keys = OFF"))
        with sqlite3.connect(tmp_path / "m.sqlite3") as raw:
            raw.executemany(
                "INSERT INTO usage_records (provider_id, external_id, booking_id, started_at, ended_at, "
                "gpu_hours, received_at) VALUES (1, ?, 1, '2026-12-01 00:00:00', '2026-12-01 01:00:00', "
                "?, '2026-12-01 01:00:00')",
                [(f"r{i}", h) for i, h in enumerate(hours)],
            )
        raw.close()
        flask_migrate.upgrade()
        with db.engine.connect() as conn:
            stored = conn.execute(
                sa.text("SELECT gpu_microhours FROM usage_records ORDER BY external_id")
            ).scalars()
            assert list(stored) == [1, 1_500_000, 333_333, 123_456_789_012]
        flask_migrate.downgrade(revision="0010")
        with db.engine.connect() as conn:
            back = conn.execute(sa.text("SELECT gpu_hours FROM usage_records ORDER BY external_id")).scalars()
            assert [f"{v:.6f}" for v in back] == ["0.000001", "1.500000", "0.333333", "123456.789012"]
        db.engine.dispose()
