"""Reconciliation benchmark (issue 19: 10,000,000 usage records over 100,000 bookings reconciled on
PostgreSQL in ≤ 30 s, the process's peak RSS ≤ 300 MiB).

Builds a fresh database (SQLite file in a temporary directory, or the PostgreSQL database named by
``BENCH_DATABASE_URL``), creates the compute bookings through the real booking flow (vouchers of
both levels committed), loads 100 usage records per booking (1 % of bookings over the tolerance,
to exercise exceptions), then

  (a) times one full reconciliation run (every booking settled or raised as an exception) in a
      child process of its own, and reports that process's peak RSS (its ``VmHWM``: the app, its
      imports and the run, nothing of the build), and
  (b) for reference, one SQL ``GROUP BY booking_id`` over the whole usage table.

Targets: the run ≤ 30 s and its process ≤ 300 MiB at the 10M scale (≤ 60 s, PRODUCT.md "Speed",
at 1M). It finishes with ``ledger verify``. Run ``python -m bench.reconcile [--scale 1m|10m]``
(see bench/README.md).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta

import flask_migrate
import sqlalchemy as sa
from sqlalchemy import func, insert, select

from bench.availability import bench_app, database_url, reset_schema
from booking.core import clock
from booking.core.db import db, write_intent
from booking.core.money import MICROHOURS_PER_HOUR
from booking.flow import compute
from booking.models import Booking, UsageRecord, User
from booking.people import teams
from booking.people.accounts import create_user, organization_named
from booking.people.providers import create_provider
from vouchers import programs
from vouchers.models import Settlement
from vouchers.reconciliation import reconcile
from vouchers.verify import ledger_breaches

SCALES = {"1m": 10_000, "10m": 100_000}  # bookings; 100 usage records each
BOOKINGS = int(os.environ.get("BENCH_BOOKINGS", "10000"))
FLOW_BOOKINGS = int(os.environ.get("BENCH_FLOW_BOOKINGS", "10000"))  # the rest are copies of these
RECORDS_PER_BOOKING = int(os.environ.get("BENCH_RECORDS_PER_BOOKING", "100"))
TEAMS = 200
OFFERS = 4
GPUS_PER_OFFER = 64
COMMIT_EVERY = 2_000  # bookings per commit while building
TARGETS = {"1m": (60.0, None), "10m": (30.0, 300)}  # (seconds, MiB) of the run
T0 = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)


def log(message: str) -> None:
    print(message, flush=True)


def build() -> int:
    """Teams with vouchers, offers, and BOOKINGS one-hour, one-GPU reservations via the real flow."""
    with write_intent(), clock.frozen_at(T0):
        municipal_officer = create_user(
            email="m@bench.cn", password="bench-password", name="M", role="finance"
        )
        district_officer = create_user(
            email="d@bench.cn", password="bench-password", name="D", role="finance", district_code="500106"
        )
        window = {
            "valid_from": date(2026, 1, 1),
            "valid_to": date(2027, 12, 31),
            "voucher_validity_days": 365,
        }
        municipal = programs.create_program(
            municipal_officer,
            name="市级算力券",
            level="municipal",
            resource_kinds=["compute"],
            rate_bp=3000,
            budget_fen=10**11,
            per_team_cap_fen=10**8,
            **window,
        )
        district = programs.create_program(
            district_officer,
            name="沙坪坝区算力券",
            level="district",
            resource_kinds=["compute"],
            rate_bp=5000,
            budget_fen=10**11,
            per_team_cap_fen=10**8,
            stack_ceiling_bp=7000,
            **window,
        )
        provider = create_provider(name="渝算云", organization="渝算云计算有限公司")
        offers = [
            compute.create_offer(
                provider,
                name=f"A100 #{i}",
                gpu_model="A100",
                gpus_total=GPUS_PER_OFFER,
                price_per_gpu_hour_fen=1_234,
            )
            for i in range(OFFERS)
        ]
        owners = []
        for i in range(TEAMS):
            owner = create_user(
                email=f"f{i}@bench.cn", password="bench-password", name=f"F{i}", role="founder"
            )
            team = teams.create_team(
                owner,
                name=f"Team {i}",
                university="重庆大学",
                district_code="500106",
                organization=f"Startup {i}",
            )
            team.verified = True
            for program, officer in ((municipal, municipal_officer), (district, district_officer)):
                application = programs.apply(
                    owner, program.id, team_id=team.id, amount_fen=5_000_000, purpose="GPU"
                )
                programs.approve(officer, application.id)
            owners.append((owner.id, team.id))
        organization_named("warm-up")
        db.session.commit()
        offer_ids = [o.id for o in offers]

    started = time.perf_counter()
    slots_per_offer = GPUS_PER_OFFER
    for n in range(min(BOOKINGS, FLOW_BOOKINGS)):
        owner_id, team_id = owners[n % TEAMS]
        offer_index = n % OFFERS
        hour = (n // OFFERS) // slots_per_offer
        starts_at = T0 + timedelta(hours=1 + hour)
        with write_intent(), clock.frozen_at(T0):
            compute.create_compute_booking(
                db.session.get(User, owner_id),
                team_id=team_id,
                offer_id=offer_ids[offer_index],
                gpus=1,
                starts_at=starts_at,
                ends_at=starts_at + timedelta(hours=1),
            )
        if n % COMMIT_EVERY == COMMIT_EVERY - 1:
            db.session.commit()
            db.session.expunge_all()
        if n % 10_000 == 9_999:
            log(f"    {n + 1:,} bookings, {time.perf_counter() - started:.0f} s")
    db.session.commit()
    log(
        f"  {min(BOOKINGS, FLOW_BOOKINGS):,} bookings made through the booking flow in {time.perf_counter() - started:.1f} s"
    )
    return provider.id


def replicate(total: int) -> None:
    """Bring the flow-built bookings up to ``total`` by copying them, in SQL, with exactly the rows
    the booking flow wrote for them (PostgreSQL only): each copy is the same bookings a whole number
    of hours later (so no offer is ever above its GPUs), new ids, with their subsidy lines, their
    commit transactions and postings, and their confirmation mails; then the accounts' balances and
    the per-period totals are summed again from the postings, as the flow would have kept them.
    100,000 bookings one by one through the flow take 15–40 minutes on this machine; this takes
    seconds, and ``ledger verify`` holds at the end."""
    started = time.perf_counter()
    base = db.session.scalar(select(func.count()).select_from(Booking))
    if base >= total:
        return
    if db.engine.dialect.name != "postgresql":
        raise SystemExit("copying bookings is PostgreSQL only: set BENCH_FLOW_BOOKINGS to BENCH_BOOKINGS")
    assert db.session.scalar(select(func.max(Booking.id))) == base, "bookings' ids are not 1..N"
    span_hours = -(-base // (OFFERS * GPUS_PER_OFFER))  # the base's hours; a copy starts after them
    tops = {
        table: db.session.scalar(sa.text(f"SELECT coalesce(max(id), 0) FROM {table}"))
        for table in ("bookings", "subsidy_lines", "journal_transactions", "postings", "outbox_messages")
    }
    shifted = {"starts_at", "ends_at", "actual_starts_at", "actual_ends_at"}

    def copy(table: str, where: str, overrides: dict[str, str], source: str = "") -> None:
        columns = [c.name for c in db.metadata.tables[table].columns]
        values = ", ".join(overrides.get(c, f"x.{c}") for c in columns)
        db.session.execute(
            sa.text(
                f"INSERT INTO {table} ({', '.join(columns)}) SELECT {values} "
                f"FROM {table} AS x {source} WHERE {where}"
            ),
            params,
        )

    copies = -(-(total - base) // base)
    for c in range(1, copies + 1):
        params = {
            "limit": min(base, total - c * base),
            "tag": f":copy{c}",
            "shift": timedelta(hours=c * span_hours),
            **{f"off_{table}": c * top for table, top in tops.items()},
        }
        booking = {"booking_id": "x.booking_id + :off_bookings"}
        copy(
            "bookings",
            "x.id <= :limit",
            {
                "id": "x.id + :off_bookings",
                "idempotency_key": "x.idempotency_key || :tag",
                **{name: f"x.{name} + :shift" for name in shifted},
            },
        )
        copy("subsidy_lines", "x.booking_id <= :limit", {"id": "x.id + :off_subsidy_lines", **booking})
        copy(
            "journal_transactions",
            "x.booking_id <= :limit",
            {"id": "x.id + :off_journal_transactions", "unique_key": "x.unique_key || :tag", **booking},
        )
        copy(
            "postings",
            "t.booking_id <= :limit",
            {"id": "x.id + :off_postings", "transaction_id": "x.transaction_id + :off_journal_transactions"},
            "JOIN journal_transactions AS t ON t.id = x.transaction_id",
        )
        copy("outbox_messages", "x.booking_id <= :limit", {"id": "x.id + :off_outbox_messages", **booking})
    for table in tops:
        db.session.execute(sa.text(f"SELECT setval('{table}_id_seq', (SELECT max(id) FROM {table}))"))
    db.session.execute(
        sa.text(
            "UPDATE ledger_accounts AS a SET balance_fen = s.total FROM "
            "(SELECT account_id, sum(amount_fen) AS total FROM postings GROUP BY account_id) AS s "
            "WHERE a.id = s.account_id AND a.balance_fen <> s.total"
        )
    )
    db.session.execute(sa.text("DELETE FROM ledger_period_totals"))
    db.session.execute(
        sa.text(
            "INSERT INTO ledger_period_totals (account_id, period, kind, amount_fen) "
            "SELECT p.account_id, t.period, t.kind, sum(p.amount_fen) FROM postings AS p "
            "JOIN journal_transactions AS t ON t.id = p.transaction_id GROUP BY 1, 2, 3"
        )
    )
    db.session.commit()
    log(
        f"  {total - base:,} more bookings copied from those {base:,} in {time.perf_counter() - started:.1f} s"
    )


def load_usage(provider_id: int) -> datetime:
    """RECORDS_PER_BOOKING records per booking; every 100th booking uses 30 % more than booked."""
    started = time.perf_counter()
    bookings = db.session.execute(select(Booking.id, Booking.starts_at).order_by(Booking.id)).all()
    db.session.rollback()  # not idle in a transaction while the load runs (the app's timeout ends it)
    share = MICROHOURS_PER_HOUR // RECORDS_PER_BOOKING  # one GPU for the hour, in equal records
    last_end = T0
    engine = db.engine

    def rows():
        nonlocal last_end
        for booking_id, starts_at in bookings:
            count = RECORDS_PER_BOOKING + (RECORDS_PER_BOOKING * 3 // 10 if booking_id % 100 == 0 else 0)
            for k in range(count):
                begin = starts_at + timedelta(seconds=36 * (k % RECORDS_PER_BOOKING))
                end = begin + timedelta(seconds=36)
                last_end = max(last_end, end)
                yield (provider_id, f"{booking_id}-{k}", booking_id, begin, end, share, T0)

    columns = [
        "provider_id",
        "external_id",
        "booking_id",
        "started_at",
        "ended_at",
        "gpu_microhours",
        "received_at",
    ]
    if engine.dialect.name == "postgresql":
        raw = engine.raw_connection()
        try:
            with (
                raw.cursor() as cursor,
                _no_statement_timeout(cursor),
                cursor.copy(f"COPY usage_records ({', '.join(columns)}) FROM STDIN") as copy,
            ):
                for row in rows():
                    copy.write_row(row)
            raw.commit()
        finally:
            raw.close()
    else:
        table = sa.table("usage_records", *(sa.column(c) for c in columns))
        batch: list[dict] = []
        for row in rows():
            batch.append(
                dict(
                    zip(
                        columns,
                        (
                            *row[:3],
                            row[3].replace(tzinfo=None),
                            row[4].replace(tzinfo=None),
                            row[5],
                            row[6].replace(tzinfo=None),
                        ),
                        strict=True,
                    )
                )
            )
            if len(batch) == 50_000:
                db.session.execute(insert(table), batch)
                batch.clear()
        if batch:
            db.session.execute(insert(table), batch)
        db.session.commit()
    total = db.session.scalar(select(func.count()).select_from(sa.table("usage_records")))
    log(f"  {total:,} usage records loaded in {time.perf_counter() - started:.1f} s")
    settle_after_bulk_load(engine)
    return last_end


@contextmanager
def _no_statement_timeout(cursor):
    """The app's connections carry a statement timeout; loading ten million rows takes longer."""
    cursor.execute("SET statement_timeout = 0")
    yield


def settle_after_bulk_load(engine) -> None:
    """Leave the database as a running system would, rather than mid-way through a bulk load, so
    the floor and the run both read it in that state: PostgreSQL vacuumed (the visibility map that
    index-only scans rely on, as autovacuum would set it) and analysed; SQLite's write-ahead log
    checkpointed (otherwise the run's first commit pays for copying the whole load into the file)."""
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text("SET statement_timeout = 0"))
            conn.execute(sa.text("VACUUM ANALYZE"))
    else:
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


def floor_seconds() -> float:
    """One GROUP BY over the whole usage table, the least any reconciliation must do (median of 3)."""
    timings = []
    for _ in range(3):
        started = time.perf_counter()
        db.session.execute(
            sa.text(
                "SELECT booking_id, SUM(gpu_microhours), MIN(started_at), MAX(ended_at) FROM usage_records GROUP BY booking_id"
            )
        ).all()
        timings.append(time.perf_counter() - started)
        db.session.rollback()
    return statistics.median(timings)


def run_reconcile() -> dict:
    """The child process: one reconciliation run on the built database; its figures as JSON."""
    app = bench_app(os.environ["BENCH_RUN_URL"])
    with app.app_context():
        as_of = datetime.fromisoformat(os.environ["BENCH_AS_OF"])
        base = _rss_kib("VmHWM")
        started = time.perf_counter()
        with write_intent(), clock.frozen_at(as_of):
            run = reconcile(as_of)
            db.session.commit()
        elapsed = time.perf_counter() - started
    return {
        "seconds": elapsed,
        "settled": run.settled,
        "exceptions": run.exceptions,
        "rss_before_kib": base,
        # VmHWM, not ru_maxrss: Linux carries the pre-exec high-water mark (the forked copy of the
        # parent, which holds the build's memory) into ru_maxrss across exec
        "peak_kib": _rss_kib("VmHWM"),
    }


def _rss_kib(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def reconcile_in_child(url: str, as_of: datetime) -> dict:
    """Run the reconciliation in a fresh interpreter, so its peak RSS is the run's own (with the
    app and its imports), not the build's."""
    env = {**os.environ, "BENCH_RUN_URL": url, "BENCH_AS_OF": as_of.isoformat()}
    done = subprocess.run(
        [sys.executable, "-m", "bench.reconcile", "--child"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def last_usage_end() -> datetime:
    return db.session.scalar(select(func.max(UsageRecord.ended_at)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=sorted(SCALES), help="1m: 10,000 bookings; 10m: 100,000")
    parser.add_argument(
        "--phase",
        choices=("all", "build", "extend", "run"),
        default="all",
        help="build: data only (PostgreSQL; copy it with createdb -T to rerun); extend: copy the bookings "
        "there up to the scale and load usage; run: reconcile what is there",
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_reconcile()), flush=True)
        return 0
    global BOOKINGS
    if args.scale:
        BOOKINGS = SCALES[args.scale]
    scale = "10m" if BOOKINGS * RECORDS_PER_BOOKING > 2_000_000 else "1m"
    target_seconds, target_mib = TARGETS[scale]
    with tempfile.TemporaryDirectory() as tmp:
        url = database_url(tmp)
        engine_name = "PostgreSQL" if url.startswith("postgresql") else "SQLite"
        app = bench_app(url)
        with app.app_context():
            log(f"reconciliation benchmark on {engine_name}, load average {os.getloadavg()[0]:.1f}")
            if args.phase != "run":
                started = time.perf_counter()
                if args.phase == "extend":
                    provider_id = db.session.scalar(
                        select(func.min(sa.column("id"))).select_from(sa.table("providers"))
                    )
                else:
                    reset_schema(url)
                    flask_migrate.upgrade()
                    provider_id = build()
                replicate(BOOKINGS)
                load_usage(provider_id)
                log(f"  built in {time.perf_counter() - started:.0f} s")
                if args.phase in ("build", "extend"):
                    return 0
            floor = floor_seconds()
            as_of = last_usage_end() + timedelta(days=1)
            records = db.session.scalar(select(func.count()).select_from(sa.table("usage_records")))
            bookings = db.session.scalar(select(func.count()).select_from(Booking))
            db.session.rollback()
            db.engine.dispose()
            figures = reconcile_in_child(url, as_of)
            settled = db.session.scalar(select(func.count()).select_from(Settlement))
            started = time.perf_counter()
            breaches = ledger_breaches()
            verify_seconds = time.perf_counter() - started
        elapsed, peak_mib = figures["seconds"], figures["peak_kib"] / 1024
        log(
            f"  reconcile: {elapsed:.2f} s for {bookings:,} bookings / {records:,} records "
            f"({figures['settled']:,} settled, {figures['exceptions']:,} exceptions; {settled:,} settlements in all)"
        )
        log(f"  wall time vs target {target_seconds:.0f} s: {elapsed / target_seconds:.2f}x")
        log(
            f"  peak RSS of the reconciling process: {peak_mib:.0f} MiB "
            f"(before the run {figures['rss_before_kib'] / 1024:.0f} MiB"
            + (f"; target ≤ {target_mib} MiB, {peak_mib / target_mib:.2f}x)" if target_mib else ")")
        )
        log(
            f"  for reference, one GROUP BY over usage_records: {floor:.2f} s (run ÷ it: {elapsed / floor:.1f}x)"
        )
        log(f"  ledger verify: {'OK' if not breaches else breaches[:5]} ({verify_seconds:.1f} s)")
        log(f"  load average after: {os.getloadavg()[0]:.1f}")
        ok = elapsed <= target_seconds and (target_mib is None or peak_mib <= target_mib) and not breaches
        log("  PASS" if ok else "  MISSED TARGET")
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
