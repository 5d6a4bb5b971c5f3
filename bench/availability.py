"""Free-slot search benchmark (PRODUCT.md, "Speed").

Builds a fresh database (a SQLite file in a temporary directory, or the PostgreSQL database named by
``BENCH_DATABASE_URL``, whose ``public`` schema is dropped and rebuilt by the Alembic migrations), loads
1,000 instruments in 20 labs with weekly hours, ~2 blackouts each and ~50,000 bookings over the next 90
days, then times

  (a) ``free_intervals`` for one instrument over 90 days (target 10 ms), and
  (b) ``free_instrument_ids`` for a 2-hour window across all 1,000 instruments (target 100 ms),

each in a fresh session, as a request would. Run ``python -m bench.availability`` (see bench/README.md).
"""

from __future__ import annotations

import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta, timezone

import flask_migrate
import sqlalchemy as sa
from sqlalchemy import insert, select

from booking.core.config import normalise_database_url
from booking.core.db import db
from booking.factory import create_app
from booking.models import Booking, District, Organization, Team, User
from instruments.availability import free_instrument_ids, free_intervals, instrument_with_hours
from instruments.models import Blackout, Instrument, Lab, OpeningHours

LABS = 20
INSTRUMENTS = 1_000
BLACKOUTS_PER_INSTRUMENT = 2
BOOKINGS = 50_000
DAYS = 90
REPEATS = int(os.environ.get("BENCH_REPEATS", "50"))
TARGET_ONE_MS = 10.0
TARGET_ALL_MS = 100.0

CST = timezone(timedelta(hours=8))  # Chongqing: the instruments' wall clock (Asia/Shanghai, no DST)
CATEGORIES = ["microscopy", "spectroscopy", "chromatography", "diffraction", "thermal analysis",
              "mass spectrometry", "cell culture", "sequencing", "3D printing", "machining"]  # fmt: skip
WEEKDAY_HOURS = [(8 * 60, 12 * 60), (13 * 60 + 30, 21 * 60)]
WEEKEND_HOURS = [(9 * 60, 17 * 60)]
HOLDING_MIX = ["confirmed"] * 14 + ["pending_approval", "checked_in"]
RELEASED_MIX = ["cancelled", "rejected", "no_show"]


# --- the database -------------------------------------------------------------------------------------------


def database_url(tmp: str) -> str:
    url = os.environ.get("BENCH_DATABASE_URL")
    if not url:
        return f"sqlite:///{tmp}/bench.sqlite3"
    url = normalise_database_url(url)
    name = sa.engine.make_url(url).database or ""
    if "bench" not in name and os.environ.get("BENCH_ALLOW_RESET") != "1":
        sys.exit(
            f"Refusing to drop the schema of database {name!r}: use one named *bench* or BENCH_ALLOW_RESET=1."
        )
    return url


def reset_schema(url: str) -> None:
    """An empty PostgreSQL schema (SQLite starts from a new file); the migrations build the rest."""
    if not url.startswith("postgresql"):
        return
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(sa.text("CREATE SCHEMA public"))
    engine.dispose()


def bench_app(url: str):
    """The app the benchmarks measure: on ``url``, no rate limits, cheap password hashing, mails to
    the console."""
    return create_app(
        {
            "SQLALCHEMY_DATABASE_URI": url,
            "SECRET_KEY": "bench",
            "RATELIMIT_ENABLED": False,
            "PASSWORD_HASH_PROFILE": "CHEAPEST",
            "MAIL_BACKEND": "console",
        }
    )


@contextmanager
def migrated_app(tmp: str) -> Iterator:
    """``bench_app`` on ``BENCH_DATABASE_URL`` (or a SQLite file in ``tmp``), its schema built afresh by
    the migrations, inside its app context."""
    url = database_url(tmp)
    reset_schema(url)
    app = bench_app(url)
    with app.app_context():
        flask_migrate.upgrade()
        yield app


def _bulk(model, rows: list[dict]) -> None:
    """One executemany INSERT (Core), not ORM objects one by one."""
    if rows:
        db.session.execute(insert(model), rows)


def _local(day: date, minute: int) -> datetime:
    return (datetime(day.year, day.month, day.day, tzinfo=CST) + timedelta(minutes=minute)).astimezone(UTC)


def load(now: datetime, rng: random.Random) -> list[int]:
    """The bench data set; returns the instrument ids."""
    districts = list(db.session.scalars(select(District.code).order_by(District.code)))
    _bulk(Organization, [{"name": f"University {i}"} for i in range(LABS)] + [{"name": "Startup Ltd"}])
    orgs = {o.name: o.id for o in db.session.scalars(select(Organization))}
    _bulk(User, [{"email": "bench@example.cn", "name": "Bench", "password_hash": "-", "role": "founder"}])
    user_id = db.session.scalar(select(User.id))
    _bulk(
        Team,
        [
            {
                "name": "Bench team",
                "university_id": orgs["University 0"],
                "organization_id": orgs["Startup Ltd"],
                "district_code": districts[0],
                "owner_id": user_id,
                "verified": True,
            }
        ],
    )
    team_id = db.session.scalar(select(Team.id))
    _bulk(
        Lab,
        [
            {
                "name": f"Lab {i}",
                "university_id": orgs[f"University {i}"],
                "organization_id": orgs[f"University {i}"],
                "district_code": districts[i % len(districts)],
            }
            for i in range(LABS)
        ],
    )
    lab_ids = list(db.session.scalars(select(Lab.id).order_by(Lab.id)))

    policies = []
    for i in range(INSTRUMENTS):
        slot = rng.choice([15, 30, 30, 30, 60])
        policies.append(
            {
                "lab_id": lab_ids[i % LABS],
                "name": f"{CATEGORIES[i % len(CATEGORIES)].title()} {i}",
                "category": CATEGORIES[i % len(CATEGORIES)],
                "description": "Shared instrument open to outside teams.",
                "location": f"Building {i % 7}",
                "hourly_rate_fen": rng.choice([0, 5_000, 12_000, 30_000]),
                "operation_mode": rng.choice(["public_interest", "market", "project"]),
                "slot_minutes": slot,
                "min_minutes": slot * rng.choice([1, 2]),
                "max_minutes": 480,
                "lead_minutes": 60,
                "horizon_days": 120,
                "timezone": "Asia/Shanghai",
            }
        )
    _bulk(Instrument, policies)
    instrument_ids = list(db.session.scalars(select(Instrument.id).order_by(Instrument.id)))

    hours_rows, blackout_rows, booking_rows = [], [], []
    hours_of: dict[int, dict[int, list[tuple[int, int]]]] = {}
    for instrument_id in instrument_ids:
        week = {day: WEEKDAY_HOURS for day in range(5)}
        if rng.random() < 0.3:
            week[5] = WEEKEND_HOURS
            if rng.random() < 0.3:
                week[6] = WEEKEND_HOURS
        hours_of[instrument_id] = week
        hours_rows += [
            {"instrument_id": instrument_id, "weekday": day, "opens_minute": o, "closes_minute": c}
            for day, ranges in week.items()
            for o, c in ranges
        ]
        for _ in range(BLACKOUTS_PER_INSTRUMENT):
            day = now.astimezone(CST).date() + timedelta(days=rng.randrange(1, DAYS))
            start = rng.choice([0, 8 * 60, 13 * 60])
            length = rng.choice([4 * 60, 8 * 60, 24 * 60])
            blackout_rows.append(
                {
                    "instrument_id": instrument_id,
                    "starts_at": _local(day, start),
                    "ends_at": _local(day, start + length),
                    "reason": "maintenance",
                }
            )
    _bulk(OpeningHours, hours_rows)
    _bulk(Blackout, blackout_rows)

    # Bookings: inside opening hours, on each instrument's grid, never overlapping one another.
    per_instrument = BOOKINGS // INSTRUMENTS
    today = now.astimezone(CST).date()
    for instrument_id, policy in zip(instrument_ids, policies, strict=True):
        week, slot, taken = hours_of[instrument_id], policy["slot_minutes"], []
        while len(taken) < per_instrument:
            day = today + timedelta(days=rng.randrange(1, DAYS))
            ranges = week.get(day.weekday())
            if not ranges:
                continue
            opens, closes = rng.choice(ranges)
            start = opens + rng.randrange(0, (closes - opens) // slot) * slot
            end = min(closes, start + rng.choice([1, 2, 2, 3, 4]) * 60)
            if end - start < policy["min_minutes"]:
                continue
            span = (_local(day, start), _local(day, end))
            if any(s < span[1] and span[0] < e for s, e in taken):
                continue
            taken.append(span)
            released = rng.random() < 0.08
            booking_rows.append(
                {
                    "team_id": team_id,
                    "kind": "instrument",
                    "instrument_id": instrument_id,
                    "starts_at": span[0],
                    "ends_at": span[1],
                    "status": rng.choice(RELEASED_MIX if released else HOLDING_MIX),
                    "estimated_cost_fen": policy["hourly_rate_fen"] * (end - start) // 60,
                    "created_by_id": user_id,
                }
            )
    for chunk in range(0, len(booking_rows), 5_000):
        _bulk(Booking, booking_rows[chunk : chunk + 5_000])
    db.session.commit()
    with db.engine.begin() as conn:  # planner statistics, as autovacuum/ANALYZE keep in production
        conn.execute(sa.text("ANALYZE"))
    return instrument_ids


# --- measuring ----------------------------------------------------------------------------------------------


def measure(run: Callable[[int], object], repeats: int) -> list[float]:
    """Milliseconds per call, each in a fresh session (a request's view), after a short warm-up."""
    timings = []
    for i in range(-3, repeats):
        db.session.remove()
        started = time.perf_counter()
        run(i)
        elapsed = (time.perf_counter() - started) * 1000
        if i >= 0:
            timings.append(elapsed)
    db.session.remove()
    return timings


def report(label: str, timings: list[float], target_ms: float) -> bool:
    median = statistics.median(timings)
    p95 = statistics.quantiles(timings, n=20, method="inclusive")[18]
    print(
        f"{label}: median {median:.1f} ms, p95 {p95:.1f} ms "
        f"(target {target_ms:g} ms, {median / target_ms:.2f}x; n={len(timings)})"
    )
    return median <= target_ms


def main() -> int:
    rng = random.Random(20261123)
    with tempfile.TemporaryDirectory(prefix="bench-availability-") as tmp:
        url = database_url(tmp)
        app = create_app({"SQLALCHEMY_DATABASE_URI": url, "RATELIMIT_ENABLED": False})
        reset_schema(url)
        with app.app_context():
            flask_migrate.upgrade()
            now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
            started = time.perf_counter()
            instrument_ids = load(now, rng)
            bookings = db.session.scalar(select(sa.func.count()).select_from(Booking))
            print(
                f"{db.engine.dialect.name}: {len(instrument_ids)} instruments, {LABS} labs, "
                f"{bookings} bookings over {DAYS} days, loaded in {time.perf_counter() - started:.1f} s"
            )

            found: list[int] = []

            def one_instrument(i: int) -> None:
                instrument = instrument_with_hours(instrument_ids[i * 37 % len(instrument_ids)])
                found.append(len(free_intervals(instrument, now, now + timedelta(days=DAYS), now)))

            # Across the catalogue: 14:00–16:00 on weekdays from tomorrow to the end of the 90 days
            # (late windows make the booking anti-join scan the most index entries).
            today = now.astimezone(CST).date()
            windows = [
                (_local(d, 14 * 60), _local(d, 16 * 60))
                for d in (today + timedelta(days=n) for n in range(1, DAYS, 3))
                if d.weekday() < 5
            ]
            free_counts: list[int] = []

            def all_instruments(i: int) -> None:
                start, end = windows[i % len(windows)]
                free_counts.append(len(free_instrument_ids(start, end, now)))

            one = measure(one_instrument, REPEATS)
            every = measure(all_instruments, REPEATS)
            print(f"  (free intervals per instrument: {statistics.median(found):.0f}; "
                  f"instruments free per 2-hour window: {min(free_counts)}..{max(free_counts)})")  # fmt: skip
            ok = report(f"free-slot search (1 instrument, {DAYS} days)", one, TARGET_ONE_MS)
            ok &= report(
                f"free-instrument search ({len(instrument_ids)} instruments, 2 hours)", every, TARGET_ALL_MS
            )
            db.engine.dispose()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
