"""Load test: gunicorn + PostgreSQL on loopback, a mixed locust scenario, then integrity checks.

``python -m bench.load`` (see bench/README.md) runs everything and stops by itself:

1. drops and recreates a PostgreSQL database (default ``load`` on 127.0.0.1:5432; the name must
   contain "load" unless ``LOAD_ALLOW_RESET=1``) and builds the schema with ``flask db upgrade``;
2. seeds it through the app's own operations: labs with instruments and opening hours, compute
   offers, municipal and district programmes, verified teams of three founders each holding a
   municipal and a district voucher, lab managers, finance officers, and an API token per user;
3. starts ``gunicorn wsgi:app`` (``--workers``, bound to 127.0.0.1 on a free port, ``APP_ENV=production``
   with a test ``SECRET_KEY``, ``RATELIMIT_ENABLED=false``) and the scheduler process
   (``flask scheduler run``), as production would run them;
4. drives a mixed scenario with locust as a library (a child process, so gevent's monkey patching
   never touches this one): HTML browsing (signed in through the sign-in form), availability and
   search queries, instrument and compute bookings contending for the same slots (409
   ``slot_taken``/``capacity_exceeded`` are expected outcomes), double submits with one
   Idempotency-Key, cancellations raced by team mates, and voucher applications approved by finance
   (two approvals of one application at once; 409 ``team_cap_exceeded``/``budget_exhausted``);
5. prints throughput and p50/p99 latency per request group and overall, and the responses by status;
6. stops the servers and checks the database: no overlapping instrument bookings, no compute offer
   above its GPUs at any instant, no voucher holding more than its face value, no programme issuing
   more than its budget nor a team more than its cap, every released booking's hold gone, and
   ``flask ledger verify``.

The exit status is non-zero when a check fails, when any response is a 5xx (or a connection error,
or a status the scenario does not expect), or when the whole run exceeds its hard time limit.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/load"
SECRET_KEY = "load-test-secret-key-not-for-production"
PASSWORD = "load-test-password"
TZ = ZoneInfo("Asia/Shanghai")

# Statuses each request name may answer with; anything else is a failure of the run.
EXPECTED = {
    "book": {201, 409},
    "cancel": {200, 409},
    "apply": {201},
    "approve": {200, 409},
    "decide": {200, 409},
}


def log(message: str = "") -> None:
    print(message, flush=True)


class HardTimeout(Exception):
    pass


# --- the database ---------------------------------------------------------------------------------------


def recreate_database(url: str, word: str = "load", allow: str = "LOAD_ALLOW_RESET") -> None:
    """Drop and create the database of ``url``: only one whose name contains ``word``, unless the
    environment variable ``allow`` is 1."""
    import sqlalchemy as sa

    parsed = sa.engine.make_url(url)
    name = parsed.database or ""
    if word not in name and os.environ.get(allow) != "1":
        sys.exit(f"Refusing to drop database {name!r}: use one named *{word}* or set {allow}=1.")
    admin = sa.create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            quoted = conn.dialect.identifier_preparer.quote(name)
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {quoted} WITH (FORCE)"))
            conn.execute(sa.text(f"CREATE DATABASE {quoted}"))
    finally:
        admin.dispose()


def server_env(url: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PAYMENTS_", "MAIL_", "RATELIMIT_", "SESSION_COOKIE"))
    }
    env.update(
        DATABASE_URL=url,
        APP_ENV="production",
        SECRET_KEY=SECRET_KEY,
        RATELIMIT_ENABLED="false",
        MAIL_BACKEND="console",
        PYTHONUNBUFFERED="1",
    )
    env.pop("FLASK_ENV", None)
    return env


def flask_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "flask", "--app", "wsgi", *args]


# --- seeding, through the app's own operations ---------------------------------------------------------

DISTRICTS = ["500106", "500112"]  # 沙坪坝区, 渝北区
LAB_DISTRICTS = ["500106", "500112", "500108", "500107"]
UNIVERSITIES = ["重庆大学", "西南大学", "重庆邮电大学", "重庆医科大学"]
CATEGORIES = [
    "microscopy",
    "spectroscopy",
    "chromatography",
    "diffraction",
    "mass spectrometry",
    "sequencing",
]


def seed(url: str, *, labs_n: int, instruments_per_lab: int, teams_n: int) -> dict:
    """Build the data set and return the plan the driver needs (ids, tokens, passwords)."""
    from booking.core.db import db, write_intent
    from booking.factory import create_app
    from booking.flow import compute
    from booking.people import accounts, providers, teams
    from instruments import catalogue, labs
    from vouchers import programs

    # Seeded passwords use argon2's cheapest profile so that seeding is quick; production (the
    # servers) verifies them and rehashes with its own profile at the first sign-in, as after an upgrade.
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": url,
            "SECRET_KEY": SECRET_KEY,
            "MAIL_BACKEND": "console",
            "PASSWORD_HASH_PROFILE": "CHEAPEST",
        }
    )
    rng = random.Random(8)
    n = iter(range(1, 10**6))
    plan: dict = {"instruments": [], "offers": [], "teams": [], "programs": [], "lab_managers": []}
    with app.app_context(), write_intent():

        def user(role: str, **kw):
            k = next(n)
            return accounts.create_user(
                email=f"{role}{k}@load.test", password=PASSWORD, name=f"{role} {k}", role=role, **kw
            )

        def token(u) -> str:
            return accounts.issue_token(u, timedelta(days=2))[1]

        municipal = user("finance")
        district_officers = {code: user("finance", district_code=code) for code in DISTRICTS}
        window = {
            "valid_from": datetime.now(TZ).date() - timedelta(days=30),
            "valid_to": datetime.now(TZ).date() + timedelta(days=365),
        }
        m_program = programs.create_program(
            municipal,
            name="重庆市算力券",
            level="municipal",
            resource_kinds=["compute", "instrument"],
            rate_bp=3000,
            budget_fen=50_000_000,
            per_team_cap_fen=1_000_000,
            voucher_validity_days=180,
            **window,
        )
        d_programs = {
            code: programs.create_program(
                officer,
                name=f"{code} 区级算力券",
                level="district",
                resource_kinds=["compute", "instrument"],
                rate_bp=5000,
                # enough for the seeded vouchers and a few top-ups: approvals under load run it dry
                budget_fen=(teams_n // len(DISTRICTS) + 1) * 200_000 + 1_500_000,
                per_team_cap_fen=600_000,
                stack_ceiling_bp=8000,
                voucher_validity_days=180,
                **window,
            )
            for code, officer in district_officers.items()
        }
        officer_tokens = {municipal.id: token(municipal)}
        officer_tokens.update({o.id: token(o) for o in district_officers.values()})
        plan["programs"] = [
            {"id": m_program.id, "officer_token": officer_tokens[municipal.id], "district": None}
        ]
        plan["programs"] += [
            {"id": p.id, "officer_token": officer_tokens[district_officers[code].id], "district": code}
            for code, p in d_programs.items()
        ]

        for i in range(labs_n):
            university = UNIVERSITIES[i % len(UNIVERSITIES)]
            lab = labs.create_lab(
                name=f"{university} 共享平台 {i + 1}",
                university=university,
                district_code=LAB_DISTRICTS[i % len(LAB_DISTRICTS)],
                organization=university,
            )
            manager = user("lab_manager")
            labs.add_lab_manager(lab, manager.id)
            plan["lab_managers"].append(token(manager))
            for j in range(instruments_per_lab):
                category = CATEGORIES[(i + j) % len(CATEGORIES)]
                instrument = catalogue.create_instrument(
                    lab,
                    name=f"{category.title()} {i + 1}-{j + 1}",
                    category=category,
                    description="Shared instrument open to outside teams.",
                    location=f"Building {j % 5 + 1}",
                    hourly_rate_fen=rng.choice([0, 8_000, 12_000, 20_000, 30_000]),
                    operation_mode=rng.choice(["public_interest", "market", "project"]),
                    slot_minutes=30,
                    min_minutes=30,
                    max_minutes=240,
                    lead_minutes=60,
                    horizon_days=60,
                    requires_approval=j % 4 == 3,
                    requires_training=False,
                    free_cancel_hours=24,
                    late_cancel_fee_bp=5000,
                    no_show_grace_minutes=15,
                    no_show_fee_bp=10000,
                    timezone="Asia/Shanghai",
                )
                catalogue.set_opening_hours(instrument, [(d, 8 * 60, 22 * 60) for d in range(7)])
                plan["instruments"].append({"id": instrument.id, "hot": len(plan["instruments"]) < 4})

        for i in range(2):
            provider = providers.create_provider(
                name=f"渝算云 {i + 1}", organization=f"渝算云计算 {i + 1} 有限公司"
            )
            for j in range(2):
                offer = compute.create_offer(
                    provider,
                    name=f"A100 集群 {i + 1}-{j + 1}",
                    gpu_model="A100-80G",
                    gpus_total=8 if j == 0 else 16,
                    price_per_gpu_hour_fen=2_000 + 1_000 * j,
                )
                plan["offers"].append({"id": offer.id, "gpus_total": offer.gpus_total, "hot": j == 0})

        for i in range(teams_n):
            code = DISTRICTS[i % len(DISTRICTS)]
            owner = user("founder")
            team = teams.create_team(
                owner,
                name=f"初创团队 {i + 1}",
                university=UNIVERSITIES[i % len(UNIVERSITIES)],
                district_code=code,
                organization=f"初创 {i + 1} 科技有限公司",
            )
            teams.verify_team(district_officers[code], team.id)
            members = [owner] + [user("founder") for _ in range(2)]
            for member in members[1:]:
                teams.add_team_member(owner, team.id, member.id)
            for program, officer, amount in (
                (m_program, municipal, 300_000),
                (d_programs[code], district_officers[code], 200_000),
            ):
                application = programs.apply(
                    owner, program.id, team_id=team.id, amount_fen=amount, purpose="GPU 与仪器"
                )
                programs.approve(officer, application.id)
            plan["teams"].append(
                {
                    "id": team.id,
                    "district": code,
                    "owner_token": None,
                    "members": [{"id": m.id, "email": m.email, "token": token(m)} for m in members],
                }
            )
            plan["teams"][-1]["owner_token"] = plan["teams"][-1]["members"][0]["token"]
        db.session.commit()
    with app.app_context():
        db.engine.dispose()
    return plan


# --- the servers ------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(base: str, process: subprocess.Popen, timeout: float) -> None:
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {process.returncode} before answering")
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    raise RuntimeError("gunicorn did not answer /healthz in time")


def stop(process: subprocess.Popen | None, name: str, grace: float = 15.0) -> None:
    """SIGTERM the process group we started (the process and its workers), SIGKILL if it lingers."""
    if process is None or process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        log(f"  {name} did not stop within {grace:.0f} s; killing it")
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)


# --- integrity checks ---------------------------------------------------------------------------------------


def integrity_checks(url: str) -> list[tuple[str, bool, str]]:
    """(check, passed, detail) for every invariant, straight from the database."""
    import sqlalchemy as sa

    from booking.models import COMPUTE_HOLDING_STATUSES as COMPUTE_HOLDING
    from booking.models import HOLDING_STATUSES

    results: list[tuple[str, bool, str]] = []
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            q = lambda sql, **kw: conn.execute(sa.text(sql), kw).all()  # noqa: E731

            overlaps = q(
                """
                SELECT a.id, b.id, a.instrument_id FROM bookings a
                JOIN bookings b ON b.instrument_id = a.instrument_id AND a.id < b.id
                 AND a.starts_at < b.ends_at AND b.starts_at < a.ends_at
                WHERE a.kind = 'instrument' AND b.kind = 'instrument'
                  AND a.status IN :holding AND b.status IN :holding
                """.replace(":holding", "(" + ", ".join(f"'{s}'" for s in HOLDING_STATUSES) + ")")
            )
            held = q(
                "SELECT count(*) FROM bookings WHERE kind = 'instrument' AND status IN ("
                + ", ".join(f"'{s}'" for s in HOLDING_STATUSES)
                + ")"
            )[0][0]
            results.append(
                (
                    "no overlapping instrument bookings",
                    not overlaps,
                    f"{held} holding bookings"
                    if not overlaps
                    else f"{len(overlaps)} pairs, e.g. {overlaps[:3]}",
                )
            )

            rows = q(
                "SELECT b.offer_id, o.gpus_total, b.starts_at, b.ends_at, b.gpus FROM bookings b "
                "JOIN compute_offers o ON o.id = b.offer_id WHERE b.kind = 'compute' AND b.status IN ("
                + ", ".join(f"'{s}'" for s in COMPUTE_HOLDING)
                + ")"
            )
            events: dict[int, list[tuple[datetime, int]]] = defaultdict(list)
            totals: dict[int, int] = {}
            for offer_id, total, starts_at, ends_at, gpus in rows:
                totals[offer_id] = total
                events[offer_id] += [(starts_at, gpus), (ends_at, -gpus)]
            over, peaks = [], {}
            for offer_id, changes in events.items():
                in_use = peak = 0
                for _, delta in sorted(changes, key=lambda c: (c[0], c[1])):  # ends before starts
                    in_use += delta
                    peak = max(peak, in_use)
                peaks[offer_id] = f"{peak}/{totals[offer_id]}"
                if peak > totals[offer_id]:
                    over.append(offer_id)
            results.append(
                (
                    "no compute offer above its GPUs at any instant",
                    not over,
                    f"{len(rows)} holding bookings, peaks {dict(sorted(peaks.items()))}"
                    if not over
                    else f"offers {over} over capacity ({peaks})",
                )
            )

            vouchers = q(
                """
                SELECT v.id, v.face_value_fen, COALESCE(SUM(l.committed_fen - l.released_fen), 0)
                FROM vouchers v LEFT JOIN subsidy_lines l ON l.voucher_id = v.id
                GROUP BY v.id, v.face_value_fen
                HAVING COALESCE(SUM(l.committed_fen - l.released_fen), 0) > v.face_value_fen
                """
            )
            used = q("SELECT COALESCE(SUM(committed_fen - released_fen), 0), count(*) FROM subsidy_lines")[0]
            results.append(
                (
                    "no voucher with committed + spent above its face value",
                    not vouchers,
                    f"{used[1]} subsidy lines holding {used[0] / 100:,.2f} yuan"
                    if not vouchers
                    else f"{len(vouchers)} vouchers, e.g. {vouchers[:3]}",
                )
            )

            programs = q(
                """
                SELECT p.id, p.budget_fen, COALESCE(SUM(v.face_value_fen), 0), count(v.id) FROM programs p
                LEFT JOIN vouchers v ON v.program_id = p.id GROUP BY p.id, p.budget_fen ORDER BY p.id
                """
            )
            over_budget = [r for r in programs if r[2] > r[1]]
            results.append(
                (
                    "no programme issued above its budget",
                    not over_budget,
                    ", ".join(
                        f"#{pid}: {issued / r_budget:.0%} of budget in {count} vouchers"
                        for pid, r_budget, issued, count in programs
                    )
                    if not over_budget
                    else f"{over_budget}",
                )
            )

            caps = q(
                """
                SELECT v.program_id, v.team_id, SUM(v.face_value_fen), p.per_team_cap_fen FROM vouchers v
                JOIN programs p ON p.id = v.program_id GROUP BY v.program_id, v.team_id, p.per_team_cap_fen
                """
            )
            over_cap = [r for r in caps if r[2] > r[3]]
            at_cap = sum(1 for r in caps if r[2] == r[3])
            results.append(
                (
                    "no team above its per-team cap",
                    not over_cap,
                    f"{len(caps)} team × programme totals, {at_cap} exactly at the cap"
                    if not over_cap
                    else f"{over_cap[:5]}",
                )
            )

            over_cost = q(
                """
                SELECT b.id, b.estimated_cost_fen, SUM(l.quoted_fen) FROM bookings b
                JOIN subsidy_lines l ON l.booking_id = b.id GROUP BY b.id, b.estimated_cost_fen
                HAVING SUM(l.quoted_fen) > b.estimated_cost_fen
                """
            )
            results.append(
                (
                    "no booking quoted a subsidy above its estimated cost",
                    not over_cost,
                    "ok" if not over_cost else f"{over_cost[:5]}",
                )
            )

            leftover = q(
                """
                SELECT b.id, b.status, SUM(l.committed_fen - l.released_fen - l.settled_fen) FROM bookings b
                JOIN subsidy_lines l ON l.booking_id = b.id WHERE b.status IN ('cancelled', 'rejected', 'no_show')
                GROUP BY b.id, b.status HAVING SUM(l.committed_fen - l.released_fen - l.settled_fen) != 0
                """
            )
            released = q(
                "SELECT count(*) FROM bookings WHERE status IN ('cancelled', 'rejected', 'no_show')"
            )[0][0]
            results.append(
                (
                    "released bookings hold no voucher money",
                    not leftover,
                    f"{released} cancelled/rejected bookings" if not leftover else f"{leftover[:5]}",
                )
            )

            duplicates = q(
                "SELECT created_by_id, idempotency_key, count(*) FROM bookings WHERE idempotency_key IS NOT NULL "
                "GROUP BY created_by_id, idempotency_key HAVING count(*) > 1"
            )
            results.append(
                (
                    "one booking per Idempotency-Key",
                    not duplicates,
                    "ok" if not duplicates else str(duplicates[:5]),
                )
            )
    finally:
        engine.dispose()
    return results


def booking_summary(url: str) -> str:
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text(
                    "SELECT kind, status, count(*) FROM bookings GROUP BY kind, status ORDER BY kind, status"
                )
            ).all()
    finally:
        engine.dispose()
    return ", ".join(f"{kind} {status} {count}" for kind, status, count in rows) or "none"


# --- reporting ---------------------------------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def process_tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) used so far by a process and its live children (gunicorn's workers)."""
    import psutil  # a dependency of locust

    root = psutil.Process(pid)
    total = 0.0
    for process in [root, *root.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            times = process.cpu_times()
            total += times.user + times.system
    return total


def report(stats: dict) -> tuple[int, int, int]:
    """Print the figures; return (5xx and connection errors, unexpected statuses, task exceptions)."""
    elapsed = stats["elapsed"]
    times: dict[str, list[float]] = stats["times"]
    statuses: dict[str, dict[str, int]] = stats["statuses"]
    log(f"\n{stats['users']} users for {elapsed:.1f} s against {stats['workers']} gunicorn workers")
    header = f"{'request':<46} {'count':>7} {'req/s':>7} {'p50 ms':>8} {'p99 ms':>8}  statuses"
    groups: dict[str, list[float]] = defaultdict(list)
    group_status: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for name, values in times.items():
        group = name.split(" ", 1)[0]
        groups[group] += values
        for status, count in statuses[name].items():
            group_status[group][status] += count

    def line(label: str, values: list[float], by_status: dict[str, int]) -> str:
        shown = " ".join(f"{s}:{c}" for s, c in sorted(by_status.items()))
        return (
            f"{label:<46} {len(values):>7} {len(values) / elapsed:>7.1f} "
            f"{percentile(values, 50):>8.1f} {percentile(values, 99):>8.1f}  {shown}"
        )

    log(header)
    for name in sorted(times):
        log(line(name, times[name], statuses[name]))
    log("")
    log(header.replace("request", "group  "))
    everything: list[float] = []
    overall: dict[str, int] = defaultdict(int)
    for group in sorted(groups):
        log(line(group, groups[group], group_status[group]))
        everything += groups[group]
        for status, count in group_status[group].items():
            overall[status] += count
    log(line("ALL", everything, overall))
    failures = sum(c for s, c in overall.items() if s == "0" or s.startswith("5"))
    log(
        f"\nCPU: gunicorn workers {stats['server_cpu']:.1f} s ({1000 * stats['server_cpu'] / len(everything):.1f} ms "
        f"per request), locust {stats['driver_cpu']:.1f} s; machine load average "
        f"{stats['load'][0]:.1f} before, {stats['load'][1]:.1f} after ({os.cpu_count()} CPUs)"
    )
    log(f"\n5xx and connection errors: {failures}")
    for kind, count in sorted(stats["notes"].items()):
        log(f"  {kind}: {count}")
    for message in stats["unexpected"][:10]:
        log(f"  unexpected: {message}")
    if stats["exceptions"]:
        log(f"  task exceptions: {stats['exceptions'][:5]}")
    return failures, len(stats["unexpected"]), len(stats["exceptions"])


# --- the driver (child process; imports locust, which monkey-patches with gevent) --------------------------


def drive(plan_path: str, out_path: str, host: str, duration: float, users: int) -> None:
    import gevent
    from locust import HttpUser, between, events, task
    from locust.env import Environment

    plan = json.loads(Path(plan_path).read_text())
    rng = random.Random()
    times: dict[str, list[float]] = defaultdict(list)
    statuses: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    notes: dict[str, int] = defaultdict(int)
    unexpected: list[str] = []
    team_bookings: dict[int, list[int]] = defaultdict(list)  # shared by team mates: they race to cancel
    counters = defaultdict(int)

    def on_request(request_type, name, response_time, response_length, response=None, exception=None, **kw):
        status = getattr(response, "status_code", 0) if response is not None else 0
        times[name].append(response_time)
        statuses[name][str(status)] += 1

    events.request.add_listener(on_request)

    instruments = plan["instruments"]
    hot_instruments = [i["id"] for i in instruments if i["hot"]]
    all_instruments = [i["id"] for i in instruments]
    offers = plan["offers"]

    def local_day(offset: int) -> date:
        return datetime.now(TZ).date() + timedelta(days=offset)

    def at(day: date, minute: int) -> datetime:
        return datetime(day.year, day.month, day.day, tzinfo=TZ) + timedelta(minutes=minute)

    def instrument_slot() -> tuple[int, datetime, datetime]:
        hot = rng.random() < 0.6
        instrument = rng.choice(hot_instruments if hot else all_instruments)
        day = local_day(rng.randint(1, 2 if hot else 14))
        length = rng.choice([30, 60, 60, 90, 120])
        start = 8 * 60 + 30 * rng.randrange((22 * 60 - length - 8 * 60) // 30 + 1)
        return instrument, at(day, start), at(day, start + length)

    def compute_slot() -> tuple[dict, datetime, datetime, int]:
        offer = rng.choice(offers)
        horizon = 24 if offer["hot"] else 96
        start = at(local_day(1), 60 * rng.randrange(horizon))
        return offer, start, start + timedelta(hours=rng.choice([1, 2, 3])), rng.choice([1, 2, 2, 4])

    def expect(response, name: str, allowed: set[int]) -> None:
        if response.status_code not in allowed:
            message = f"{name} -> {response.status_code} {response.text[:200]}"
            if len(unexpected) < 200:
                unexpected.append(message)
            response.failure(message)
        else:
            response.success()

    class Api(HttpUser):
        abstract = True
        wait_time = between(0, 0.1)

        def on_start(self):
            n = counters[type(self).__name__]
            counters[type(self).__name__] += 1
            self.team = plan["teams"][(n // 2) % len(plan["teams"])]  # two users per team: they race
            self.member = self.team["members"][n % len(self.team["members"])]
            self.headers = {"Authorization": f"Bearer {self.member['token']}"}

        def get(self, path: str, name: str, params: dict | None = None, allowed=frozenset({200})):
            with self.client.get(
                path, params=params, headers=self.headers, name=name, catch_response=True
            ) as r:
                expect(r, name, set(allowed))
                return r

        def post(
            self, path: str, name: str, body: dict | None, allowed: set[int], headers: dict | None = None
        ):
            with self.client.post(
                path, json=body, headers={**self.headers, **(headers or {})}, name=name, catch_response=True
            ) as r:
                expect(r, name, allowed)
                return r

    class Searcher(Api):
        """Availability and search queries, as the booking page's JavaScript-free API clients make."""

        weight = 4

        @task(4)
        def instrument_availability(self):
            instrument = rng.choice(all_instruments)
            now = datetime.now(TZ)
            self.get(
                f"/api/v1/instruments/{instrument}/availability",
                "search GET /api/v1/instruments/[id]/availability",
                {"from": now.isoformat(), "to": (now + timedelta(days=rng.choice([7, 30]))).isoformat()},
            )

        @task(3)
        def free_search(self):
            start = at(local_day(rng.randint(1, 7)), 60 * rng.randint(8, 19))
            self.get(
                "/api/v1/instruments",
                "search GET /api/v1/instruments?free_from&free_to",
                {"free_from": start.isoformat(), "free_to": (start + timedelta(hours=2)).isoformat()},
            )

        @task(1)
        def catalogue(self):
            self.get(
                "/api/v1/instruments", "search GET /api/v1/instruments?q", {"q": rng.choice(CATEGORIES)[:5]}
            )

        @task(3)
        def offer_availability(self):
            offer = rng.choice(offers)
            now = datetime.now(TZ)
            self.get(
                f"/api/v1/compute/offers/{offer['id']}/availability",
                "search GET /api/v1/compute/offers/[id]/availability",
                {"from": now.isoformat(), "to": (now + timedelta(days=4)).isoformat()},
            )

        @task(1)
        def my_bookings(self):
            self.get("/api/v1/bookings", "search GET /api/v1/bookings?team_id", {"team_id": self.team["id"]})

    class Booker(Api):
        """Instrument and compute bookings on a few hot slots, double submits, racing cancellations."""

        weight = 6

        def _book(self, body: dict, name: str):
            body = {"team_id": self.team["id"], **body}
            if rng.random() < 0.15:  # a double submit: the same Idempotency-Key twice at once
                key = {"Idempotency-Key": f"load-{self.member['id']}-{rng.getrandbits(64):x}"}
                pair = [
                    gevent.spawn(
                        self.post, "/api/v1/bookings", name + " (double submit)", body, EXPECTED["book"], key
                    )
                    for _ in range(2)
                ]
                gevent.joinall(pair)
                responses = [g.value for g in pair if g.value is not None]
                codes = sorted(r.status_code for r in responses)
                if codes == [201, 201]:
                    ids = {r.json()["id"] for r in responses}
                    notes[f"double submits ({name.split()[-1]}) answered with one booking"] += len(ids) == 1
                    if len(ids) != 1:
                        unexpected.append(f"double submit made two bookings {ids}")
                    team_bookings[self.team["id"]].append(ids.pop())
                else:
                    errors = sorted(r.json()["error"]["code"] for r in responses if r.status_code == 409)
                    notes[f"double submits ({name.split()[-1]}) answered {codes} {errors}"] += 1
                return
            r = self.post("/api/v1/bookings", name, body, EXPECTED["book"])
            if r.status_code == 201:
                team_bookings[self.team["id"]].append(r.json()["id"])
            elif r.status_code == 409:
                notes[f"409 {r.json()['error']['code']} ({name.split()[-1]})"] += 1

        @task(5)
        def book_instrument(self):
            instrument, starts_at, ends_at = instrument_slot()
            self._book(
                {
                    "instrument_id": instrument,
                    "starts_at": starts_at.isoformat(),
                    "ends_at": ends_at.isoformat(),
                },
                "book POST /api/v1/bookings instrument",
            )

        @task(3)
        def book_compute(self):
            offer, starts_at, ends_at, gpus = compute_slot()
            self._book(
                {
                    "offer_id": offer["id"],
                    "gpus": gpus,
                    "starts_at": starts_at.isoformat(),
                    "ends_at": ends_at.isoformat(),
                },
                "book POST /api/v1/bookings compute",
            )

        @task(2)
        def cancel(self):
            mine = team_bookings[self.team["id"]]
            if not mine:
                return
            booking_id = rng.choice(mine[-6:])  # recent ones: team mates pick the same
            clicks = 2 if rng.random() < 0.2 else 1  # sometimes a double click
            name = "cancel POST /api/v1/bookings/[id]/cancel" + (" (double click)" if clicks == 2 else "")
            calls = [
                gevent.spawn(self.post, f"/api/v1/bookings/{booking_id}/cancel", name, {}, EXPECTED["cancel"])
                for _ in range(clicks)
            ]
            gevent.joinall(calls)
            responses = [g.value for g in calls if g.value is not None]
            for r in responses:
                if r.status_code == 409:
                    notes[f"409 {r.json()['error']['code']} (cancel)"] += 1
            if clicks == 2:
                notes[f"double cancels answered {sorted(r.status_code for r in responses)}"] += 1
            with contextlib.suppress(ValueError):
                mine.remove(booking_id)

    class LabManager(Api):
        """Lab managers decide pending requests (racing the teams' own cancellations) and look around."""

        weight = 1

        def on_start(self):
            n = counters["LabManager"]
            counters["LabManager"] += 1
            self.headers = {"Authorization": f"Bearer {plan['lab_managers'][n % len(plan['lab_managers'])]}"}

        @task
        def decide(self):
            r = self.get(
                "/api/v1/bookings",
                "lab GET /api/v1/bookings?status=pending_approval",
                {"status": "pending_approval"},
            )
            pending = [b["id"] for b in r.json()["items"]] if r.status_code == 200 else []
            if not pending:
                return
            action = "approve" if rng.random() < 0.8 else "reject"
            r = self.post(
                f"/api/v1/bookings/{rng.choice(pending[:5])}/{action}",
                f"lab POST /api/v1/bookings/[id]/{action}",
                {},
                EXPECTED["decide"],
            )
            if r.status_code == 409:
                notes[f"409 {r.json()['error']['code']} ({action} booking)"] += 1

    class Officer(Api):
        """Founders apply for top-ups; finance approves each, sometimes twice at once (a double click)."""

        weight = 1

        @task
        def apply_and_approve(self):
            team = rng.choice(plan["teams"])
            program = rng.choice([p for p in plan["programs"] if p["district"] in (None, team["district"])])
            with self.client.post(
                f"/api/v1/programs/{program['id']}/applications",
                json={
                    "team_id": team["id"],
                    "amount_fen": rng.choice([50_000, 100_000, 200_000]),
                    "purpose": "扩容",
                },
                headers={"Authorization": f"Bearer {team['owner_token']}"},
                name="voucher POST /api/v1/programs/[id]/applications",
                catch_response=True,
            ) as r:
                expect(r, "apply", EXPECTED["apply"])
            if r.status_code != 201:
                return
            application = r.json()["id"]
            officer = {"Authorization": f"Bearer {program['officer_token']}"}

            def approve():
                with self.client.post(
                    f"/api/v1/applications/{application}/approve",
                    json={},
                    headers=officer,
                    name="voucher POST /api/v1/applications/[id]/approve",
                    catch_response=True,
                ) as response:
                    expect(response, "approve", EXPECTED["approve"])
                    return response

            clicks = [gevent.spawn(approve) for _ in range(2 if rng.random() < 0.3 else 1)]
            gevent.joinall(clicks)
            codes = sorted(g.value.status_code for g in clicks if g.value is not None)
            for g in clicks:
                if g.value is not None and g.value.status_code == 409:
                    notes[f"409 {g.value.json()['error']['code']} (approve)"] += 1
            refused = {
                g.value.json()["error"]["code"]
                for g in clicks
                if g.value is not None and g.value.status_code == 409
            }
            # two approvals: one wins (the other sees it decided), or both are refused for the budget/cap
            if len(clicks) == 2 and (
                codes.count(200) > 1 or (200 not in codes and "invalid_status" in refused)
            ):
                unexpected.append(f"a double approval answered {codes} {sorted(refused)}")

    class Browser(HttpUser):
        """A signed-in founder browsing the HTML side (behind TLS in production: cookies are Secure)."""

        weight = 3
        wait_time = between(0, 0.1)

        def on_start(self):
            n = counters["Browser"]
            counters["Browser"] += 1
            team = plan["teams"][n % len(plan["teams"])]
            self.team_id = team["id"]
            member = team["members"][-1]
            page = self.client.get("/sign-in", name="html GET /sign-in")
            self.unsecure()
            csrf = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.text)
            with self.client.post(
                "/sign-in",
                data={
                    "email": member["email"],
                    "password": PASSWORD,
                    "csrf_token": csrf.group(1) if csrf else "",
                },
                name="html POST /sign-in",
                allow_redirects=False,
                catch_response=True,
            ) as r:
                expect(r, "sign-in", {302, 303})
            self.unsecure()

        def unsecure(self):
            """Production sets Secure cookies (TLS ends at the proxy); this test speaks plain HTTP on
            loopback, so it plays the proxy's part and sends them anyway."""
            for cookie in self.client.cookies:
                cookie.secure = False

        def page(self, path: str, name: str, params: dict | None = None):
            with self.client.get(
                path, params=params, name=name, allow_redirects=False, catch_response=True
            ) as r:
                expect(r, name, {200})
            self.unsecure()

        @task(1)
        def home(self):
            self.page("/", "html GET /")

        @task(3)
        def catalogue(self):
            if rng.random() < 0.5:
                self.page("/instruments", "html GET /instruments")
            else:
                day = local_day(rng.randint(1, 7))
                self.page(
                    "/instruments",
                    "html GET /instruments?date&free_from&free_to",
                    {"date": day.isoformat(), "free_from": "14:00", "free_to": "16:00"},
                )

        @task(4)
        def instrument(self):
            self.page(f"/instruments/{rng.choice(all_instruments)}", "html GET /instruments/[id]")

        @task(1)
        def bookings(self):
            self.page("/bookings", "html GET /bookings")

        @task(1)
        def wallet(self):
            self.page(f"/teams/{self.team_id}/vouchers", "html GET /teams/[id]/vouchers")

    env = Environment(user_classes=[Searcher, Booker, LabManager, Officer, Browser], host=host, events=events)
    runner = env.create_local_runner()
    started = time.monotonic()
    runner.start(users, spawn_rate=users)
    gevent.spawn_later(duration, runner.quit)
    runner.greenlet.join()
    elapsed = time.monotonic() - started
    exceptions = [f"{e['msg']} x{e['count']}" for e in runner.exceptions.values()]
    usage = resource.getrusage(resource.RUSAGE_SELF)
    Path(out_path).write_text(
        json.dumps(
            {
                "elapsed": elapsed,
                "users": users,
                "times": times,
                "statuses": statuses,
                "notes": notes,
                "unexpected": unexpected,
                "exceptions": exceptions,
                "driver_cpu": usage.ru_utime + usage.ru_stime,
            }
        )
    )


# --- the whole run -------------------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> int:
    url = args.database_url
    tmp = tempfile.mkdtemp(prefix="load-")
    gunicorn = scheduler = driver = None
    env = server_env(url)
    try:
        t0 = time.monotonic()
        log(f"load test: {url} (dropped and recreated), {args.workers} gunicorn workers, "
            f"{args.users} users for {args.duration:.0f} s")  # fmt: skip
        recreate_database(url)
        subprocess.run(flask_command("db", "upgrade"), cwd=ROOT, env=env, check=True, timeout=120,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
        log(f"  schema built by the migrations in {time.monotonic() - t0:.1f} s")
        t1 = time.monotonic()
        plan = seed(url, labs_n=args.labs, instruments_per_lab=args.instruments_per_lab, teams_n=args.teams)
        plan_path = os.path.join(tmp, "plan.json")
        Path(plan_path).write_text(json.dumps(plan))
        log(
            f"  seeded {len(plan['instruments'])} instruments in {args.labs} labs, {len(plan['offers'])} compute "
            f"offers, {len(plan['teams'])} verified teams × 3 founders with 2 vouchers each, "
            f"{len(plan['programs'])} programmes in {time.monotonic() - t1:.1f} s"
        )

        port = free_port()
        base = f"http://127.0.0.1:{port}"
        gunicorn_log = open(os.path.join(tmp, "gunicorn.log"), "w")  # noqa: SIM115 - closed with the dir
        gunicorn = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "wsgi:app", "--workers", str(args.workers),
             "--bind", f"127.0.0.1:{port}", "--timeout", "30", "--graceful-timeout", "10", "--no-control-socket"],
            cwd=ROOT, env=env, stdout=gunicorn_log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        wait_healthy(base, gunicorn, timeout=60)
        log(f"  gunicorn answering on {base}")
        if not args.no_scheduler:
            scheduler = subprocess.Popen(
                flask_command("scheduler", "run", "--tick", "2"),
                cwd=ROOT, env=env, stdout=open(os.path.join(tmp, "scheduler.log"), "w"),  # noqa: SIM115
                stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip

        out_path = os.path.join(tmp, "stats.json")
        cpu_before, load_before = process_tree_cpu(gunicorn.pid), os.getloadavg()[0]
        driver = subprocess.Popen(
            [sys.executable, "-m", "bench.load", "--drive", plan_path, "--out", out_path, "--host", base,
             "--duration", str(args.duration), "--users", str(args.users)],
            cwd=ROOT, start_new_session=True,
        )  # fmt: skip
        try:
            driver.wait(timeout=args.duration + 90)
        except subprocess.TimeoutExpired:
            raise HardTimeout("the locust driver did not finish in time") from None
        if driver.returncode != 0 or not os.path.exists(out_path):
            raise RuntimeError(f"the locust driver failed (exit {driver.returncode})")
        stats = json.loads(Path(out_path).read_text())
        stats["workers"] = args.workers
        stats["server_cpu"] = process_tree_cpu(gunicorn.pid) - cpu_before
        stats["load"] = (load_before, os.getloadavg()[0])
        stop(scheduler, "scheduler")
        stop(gunicorn, "gunicorn")
        server_errors = [
            line.rstrip()
            for line in Path(tmp, "gunicorn.log").read_text(errors="replace").splitlines()
            if "Traceback" in line or "ERROR" in line or "Error" in line
        ]
        failures, unexpected, exceptions = report(stats)
        if server_errors:
            log(f"  gunicorn log: {len(server_errors)} error lines, e.g.:")
            for line in server_errors[:8]:
                log(f"    {line}")

        log("\nintegrity after the run:")
        log(f"  bookings: {booking_summary(url)}")
        checks = integrity_checks(url)
        verify = subprocess.run(flask_command("ledger", "verify"), cwd=ROOT, env=env, capture_output=True,
                                text=True, timeout=300)  # fmt: skip
        checks.append(
            (
                "flask ledger verify",
                verify.returncode == 0,
                (verify.stdout + verify.stderr).strip().splitlines()[0],
            )
        )
        for name, passed, detail in checks:
            log(f"  {'PASS' if passed else 'FAIL'}  {name}: {detail}")
        if verify.returncode != 0:
            for line in (verify.stdout + verify.stderr).strip().splitlines()[:20]:
                log(f"        {line}")
        ok = all(passed for _, passed, _ in checks) and not failures and not unexpected and not exceptions
        log(f"\n{'PASS' if ok else 'FAIL'} in {time.monotonic() - t0:.0f} s")
        return 0 if ok else 1
    except subprocess.CalledProcessError as error:
        log(
            f"FAIL: {' '.join(error.cmd[-2:])} exited {error.returncode}: {(error.stderr or b'').decode()[-2000:]}"
        )
        return 1
    except (HardTimeout, RuntimeError) as error:
        log(f"FAIL: {error}")
        log_file = Path(tmp, "gunicorn.log")
        if log_file.exists():
            log(log_file.read_text(errors="replace")[-3000:])
        return 1
    finally:
        for process, name in ((driver, "locust driver"), (scheduler, "scheduler"), (gunicorn, "gunicorn")):
            stop(process, name, grace=10)
        if args.keep_logs:
            log(f"logs kept in {tmp}")
        else:
            for path in Path(tmp).iterdir():
                path.unlink()
            os.rmdir(tmp)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load (default 60)")
    parser.add_argument("--users", type=int, default=16, help="concurrent simulated users (default 16)")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers (default 4)")
    parser.add_argument("--database-url", default=os.environ.get("LOAD_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--labs", type=int, default=6)
    parser.add_argument("--instruments-per-lab", type=int, default=8)
    parser.add_argument("--teams", type=int, default=24)
    parser.add_argument("--no-scheduler", action="store_true", help="do not run the scheduler process")
    parser.add_argument("--keep-logs", action="store_true", help="keep gunicorn's and the scheduler's logs")
    parser.add_argument("--timeout", type=float, default=None, help="hard limit for the whole run, seconds")
    # internal: the locust driver, run as a child process
    parser.add_argument("--drive", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--host", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.users < 1 or args.duration <= 0 or args.workers < 1 or args.teams < 1:
        parser.error("--users, --duration, --workers and --teams must be positive")
    if args.drive:
        drive(args.drive, args.out, args.host, args.duration, args.users)
        return 0

    from booking.core.config import normalise_database_url

    args.database_url = normalise_database_url(args.database_url)
    if not args.database_url.startswith("postgresql"):
        parser.error("the load test runs on PostgreSQL (--database-url postgresql://...)")
    limit = int(args.timeout or args.duration + 300)

    def hard_timeout(signum, frame):
        raise HardTimeout(f"the whole run exceeded its hard limit of {limit} s")

    signal.signal(signal.SIGALRM, hard_timeout)
    signal.alarm(limit)
    try:
        return run(args)
    finally:
        signal.alarm(0)


if __name__ == "__main__":
    sys.exit(main())
