"""What one SQL statement costs in Python: ``python -m bench.statement_cost`` (bench/README.md).

The booking path's time goes into the Python around its statements, not into PostgreSQL (see
``bench/booking_floor.py``'s CPU per request). This measures that per-statement cost on one read the
booking path makes: the API token with its user, by the token's digest, run the same way each time
in one transaction, as

1. the ORM, the entity with ``joinedload``, the statement built at each call (as the booking path
   built it until 2026-12-06),
2. the same statement built once, with a bound parameter (``user_for_token`` now: SQLAlchemy keeps
   the ORM's compiled state of a statement object it has seen),
3. the ORM selecting two entities (no eager-loading machinery),
4. a Core ``select`` of the same columns through the session (no ORM objects),
5. the driver itself: the same SQL text through psycopg, prepared (no SQLAlchemy at all),

and prints the CPU microseconds (this process's ``time.process_time``) and the wall time per run.
The database is that of ``BENCH_DATABASE_URL`` (default: a SQLite file in a temporary directory;
PostgreSQL's schema ``public`` is dropped and rebuilt by the migrations, so its name must contain
"bench"). ``BENCH_REPEATS`` (default 2,000) runs per way, after 200 warm-up runs, twice each in turn.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from datetime import timedelta

from sqlalchemy import bindparam, select
from sqlalchemy.orm import joinedload

from bench.availability import migrated_app
from booking.core.db import db, write_intent
from booking.models import ApiToken, User
from booking.people.accounts import create_user, issue_token

REPEATS = int(os.environ.get("BENCH_REPEATS", "2000"))
WARM_UP = 200


def ways(digest: str) -> dict:
    tokens, users = ApiToken.__table__, User.__table__
    core = (
        select(tokens, users).join(users, tokens.c.user_id == users.c.id).where(tokens.c.token_hash == digest)
    )

    def orm_joinedload():
        db.session.scalar(
            select(ApiToken).options(joinedload(ApiToken.user)).where(ApiToken.token_hash == digest)
        )
        db.session.expunge_all()  # each request starts with an empty identity map

    built_once = (
        select(ApiToken).options(joinedload(ApiToken.user)).where(ApiToken.token_hash == bindparam("digest"))
    )

    def orm_built_once():
        db.session.scalar(built_once, {"digest": digest})
        db.session.expunge_all()

    def orm_two_entities():
        db.session.execute(
            select(ApiToken, User)
            .join(User, ApiToken.user_id == User.id)
            .where(ApiToken.token_hash == digest)
        ).first()
        db.session.expunge_all()

    def core_select():
        db.session.execute(core).first()

    ways = {
        "ORM, entity with joinedload": orm_joinedload,
        "the same, statement built once": orm_built_once,
        "ORM, two entities": orm_two_entities,
        "Core select via the session": core_select,
    }
    connection = db.session.connection()
    if connection.dialect.name == "postgresql":
        sql = str(core.compile(dialect=connection.dialect)).replace("%(token_hash_1)s", "%s")
        driver = connection.connection.driver_connection

        def psycopg_prepared():
            driver.execute(sql, (digest,), prepare=True).fetchone()

        ways["psycopg, prepared (no SQLAlchemy)"] = psycopg_prepared
    return ways


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp, migrated_app(tmp):
        with write_intent():
            user = create_user(
                email="bench@example.com",
                password="correct horse battery staple 42",
                name="Bench",
                role="founder",
            )
            token, _secret = issue_token(user, timedelta(days=1))
            digest = token.token_hash
            db.session.commit()
        print(f"{db.engine.dialect.name}: one read (API token with its user), {REPEATS} runs per way")
        results: dict[str, list[tuple[float, float]]] = {}
        for _turn in range(2):
            for name, run in ways(digest).items():
                for _ in range(WARM_UP):
                    run()
                cpu, wall = time.process_time(), time.perf_counter()
                for _ in range(REPEATS):
                    run()
                results.setdefault(name, []).append(
                    (
                        (time.process_time() - cpu) / REPEATS * 1e6,
                        (time.perf_counter() - wall) / REPEATS * 1e6,
                    )
                )
        baseline = min(cpu for cpu, _ in results["ORM, entity with joinedload"])
        for name, runs in results.items():
            cpu = min(c for c, _ in runs)
            wall = min(w for _, w in runs)
            print(
                f"  {name:<36} CPU {cpu:6.0f} µs  wall {wall:6.0f} µs  ({cpu / baseline:.2f}× the ORM's CPU)"
            )
        db.session.rollback()
    return 0


if __name__ == "__main__":
    sys.exit(main())
