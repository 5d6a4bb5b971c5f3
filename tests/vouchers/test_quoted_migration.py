"""Migration 0012 gives existing subsidy lines back the amount their booking quoted, from the
ledger's commit postings (a line whose committed_fen settlement raised, and one it created)."""

from __future__ import annotations

import sqlite3

import sqlalchemy as sa

from booking.core.db import db


def test_quoted_amounts_are_restored_from_the_commit_postings(tmp_path):
    import flask_migrate

    from booking.core.config import TestConfig
    from booking.factory import create_app

    path = tmp_path / "q.sqlite3"
    app = create_app(
        {
            **{k: getattr(TestConfig, k) for k in dir(TestConfig) if k.isupper()},
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}",
            "SECRET_KEY": "test-secret",
        }
    )
    with app.app_context():
        flask_migrate.upgrade(revision="0011")
        # the rows' parents do not matter here: foreign keys off, for the raw inserts and the migration's copy
        db.engine.dispose()
        sa.event.listen(db.engine, "connect", lambda dbapi, _: dbapi.execute("PRAGMA foreign_keys = OFF"))
        with sqlite3.connect(path) as raw:
            raw.executemany(
                "INSERT INTO ledger_accounts (id, key, kind, program_id, voucher_id, balance_fen) "
                "VALUES (?, ?, ?, 1, ?, 0)",
                [
                    (1, "committed:7", "committed", 7),
                    (2, "available:7", "available", 7),
                    (3, "committed:8", "committed", 8),
                ],
            )
            raw.executemany(
                "INSERT INTO journal_transactions (id, kind, occurred_at, period, voucher_id, booking_id, memo) "
                "VALUES (?, ?, '2026-12-01 00:00:00', '2026-12', ?, ?, '')",
                [(1, "commit", 7, 5), (2, "settle", None, 5), (3, "commit", 7, 6)],
            )
            raw.executemany(
                "INSERT INTO postings (transaction_id, account_id, amount_fen) VALUES (?, ?, ?)",
                [
                    (1, 2, -2000),
                    (1, 1, 2000),
                    (2, 1, -2000),
                    (2, 2, -100),
                    (2, 3, -500),
                    (3, 2, -900),
                    (3, 1, 900),
                ],
            )
            # booking 5: quoted 2,000 on voucher 7, settled 2,100 (committed raised to 2,100); voucher 8
            # only paid at settlement; booking 6: quoted 900, not settled
            raw.executemany(
                "INSERT INTO subsidy_lines (booking_id, voucher_id, program_id, level, position, committed_fen, "
                "released_fen, settled_fen) VALUES (?, ?, 1, 'municipal', ?, ?, 0, ?)",
                [(5, 7, 1, 2100, 2100), (5, 8, 2, 500, 500), (6, 7, 1, 900, 0)],
            )
        raw.close()
        flask_migrate.upgrade()
        with db.engine.connect() as conn:
            quoted = conn.execute(
                sa.text(
                    "SELECT booking_id, voucher_id, quoted_fen FROM subsidy_lines ORDER BY booking_id, voucher_id"
                )
            ).all()
        assert [tuple(r) for r in quoted] == [(5, 7, 2000), (5, 8, 0), (6, 7, 900)]
        flask_migrate.downgrade(revision="0011")
        with db.engine.connect() as conn:
            columns = [c["name"] for c in sa.inspect(conn).get_columns("subsidy_lines")]
        assert "quoted_fen" not in columns
        db.engine.dispose()
