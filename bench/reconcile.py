"""Reconciliation benchmark (PRODUCT.md "Speed": reconciling 1M usage records ≤ 60 s).

Builds a fresh database (SQLite file in a temporary directory, or the PostgreSQL database named by
``BENCH_DATABASE_URL``), creates 10,000 compute bookings through the real booking flow (vouchers of
both levels committed), loads 1,000,000 usage records (100 per booking; 1 % of bookings over the
tolerance, to exercise exceptions), then times

  (a) one full reconciliation run (every booking settled or raised as an exception), and
  (b) the floor: one SQL ``GROUP BY booking_id`` over the whole usage table,

and prints both and their ratio (targets: ≤ 60 s and ≤ 5 × the floor). It finishes with
``ledger verify``. Run ``python -m bench.reconcile`` (see bench/README.md).
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta

import flask_migrate
import sqlalchemy as sa
from sqlalchemy import func, insert, select

from bench.availability import bench_app, database_url, reset_schema
from booking.core import clock
from booking.core.db import db, write_intent
from booking.core.money import MICROHOURS_PER_HOUR
from booking.flow import compute
from booking.models import Booking, User
from booking.people import teams
from booking.people.accounts import create_user, organization_named
from booking.people.providers import create_provider
from vouchers import programs
from vouchers.models import Settlement
from vouchers.reconciliation import reconcile
from vouchers.verify import ledger_breaches

BOOKINGS = int(os.environ.get("BENCH_BOOKINGS", "10000"))
RECORDS_PER_BOOKING = int(os.environ.get("BENCH_RECORDS_PER_BOOKING", "100"))
TEAMS = 200
OFFERS = 4
GPUS_PER_OFFER = 64
TARGET_SECONDS = 60.0
TARGET_RATIO = 5.0
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
    for n in range(BOOKINGS):
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
        if n % 500 == 499:
            db.session.commit()
            db.session.expunge_all()
    db.session.commit()
    log(f"  {BOOKINGS:,} bookings made through the booking flow in {time.perf_counter() - started:.1f} s")
    return provider.id


def load_usage(provider_id: int) -> datetime:
    """RECORDS_PER_BOOKING records per booking; every 100th booking uses 30 % more than booked."""
    started = time.perf_counter()
    bookings = db.session.execute(select(Booking.id, Booking.starts_at).order_by(Booking.id)).all()
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


def settle_after_bulk_load(engine) -> None:
    """Leave the database as a running system would, rather than mid-way through a bulk load, so
    the floor and the run both read it in that state: PostgreSQL vacuumed (the visibility map that
    index-only scans rely on, as autovacuum would set it) and analysed; SQLite's write-ahead log
    checkpointed (otherwise the run's first commit pays for copying the whole load into the file)."""
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
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


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        url = database_url(tmp)
        reset_schema(url)
        engine_name = "PostgreSQL" if url.startswith("postgresql") else "SQLite"
        app = bench_app(url)
        with app.app_context():
            flask_migrate.upgrade()
            log(f"reconciliation benchmark on {engine_name}")
            provider_id = build()
            last_end = load_usage(provider_id)
            floor = floor_seconds()
            as_of = last_end + timedelta(days=1)
            started = time.perf_counter()
            with write_intent(), clock.frozen_at(as_of):
                run = reconcile(as_of)
                db.session.commit()
            elapsed = time.perf_counter() - started
            settled = db.session.scalar(select(func.count()).select_from(Settlement))
            breaches = ledger_breaches()
        log(
            f"  reconcile: {elapsed:.2f} s for {BOOKINGS:,} bookings / {BOOKINGS * RECORDS_PER_BOOKING:,}+ records "
            f"({run.settled:,} settled, {run.exceptions:,} exceptions; {settled:,} settlements in all)"
        )
        log(f"  floor (one GROUP BY over usage_records): {floor:.2f} s")
        log(f"  wall time vs target {TARGET_SECONDS:.0f} s: {elapsed / TARGET_SECONDS:.2f}x")
        log(f"  ratio to the floor: {elapsed / floor:.2f}x (target ≤ {TARGET_RATIO:.0f}x)")
        log(f"  ledger verify: {'OK' if not breaches else breaches[:5]}")
        ok = elapsed <= TARGET_SECONDS and elapsed <= TARGET_RATIO * floor and not breaches
        log("  PASS" if ok else "  MISSED TARGET")
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
