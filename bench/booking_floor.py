"""Booking throughput against the stack's floor: ``python -m bench.booking_floor`` (bench/README.md).

1. drops and recreates a PostgreSQL database (default ``bench_floor`` on 127.0.0.1:5432; the name must
   contain "bench" unless ``BENCH_ALLOW_RESET=1``), builds the schema with ``flask db upgrade`` and
   seeds it through the app's own operations (``bench.load.seed``: labs, instruments open 08:00–22:00,
   verified teams holding a municipal and a district voucher, an API token per founder);
2. starts the platform under ``gunicorn -w 4`` (payments off, rate limits off) and the floor
   (``bench/floor_app.py``: a bare Flask + SQLAlchemy endpoint that validates a body and inserts one
   row into its own table of the same database) under ``gunicorn -w 4``;
3. drives both with the same client — 16 threads, each posting as fast as it is answered — in
   alternating rounds A B A B …: the platform books distinct free half-hour slots (every answer
   should be 201: no contention, the booking path itself is measured), the floor gets the same bodies;
4. prints each round's req/s, p50, p99 and errors, the median of the rounds, the ratio platform ÷
   floor (the target is ≥ 0.5×; PRODUCT.md's contract is ≥ 0.33×), and how many SQL statements one
   booking runs (counted in process on the same database).

Everything listens on 127.0.0.1 only and stops by itself; the exit status is non-zero when a request
fails or the ratio misses ``--target``.
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

from bench.load import (
    ROOT,
    SECRET_KEY,
    TZ,
    flask_command,
    free_port,
    log,
    recreate_database,
    seed,
    server_env,
    stop,
    wait_healthy,
)

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/bench_floor"


def free_slots(instrument_ids: list[int], days: int) -> list[tuple[int, datetime, datetime]]:
    """Every half-hour slot 08:00–22:00 local from tomorrow on, interleaved across instruments."""
    first_day = datetime.now(TZ).date() + timedelta(days=1)
    per_instrument = []
    for instrument_id in instrument_ids:
        slots = []
        for d in range(days):
            day = first_day + timedelta(days=d)
            for half_hour in range(16, 44):
                starts_at = datetime(day.year, day.month, day.day, tzinfo=TZ) + timedelta(
                    minutes=30 * half_hour
                )
                slots.append((instrument_id, starts_at, starts_at + timedelta(minutes=30)))
        per_instrument.append(slots)
    return [slot for group in zip(*per_instrument, strict=True) for slot in group]


class Round:
    """One timed round: ``threads`` clients posting for ``seconds``; latencies and failures kept."""

    def __init__(self, name: str, url: str, bodies, *, threads: int, seconds: float, cpu=None):
        self.name, self.url, self.bodies = name, url, bodies
        self.threads, self.seconds = threads, seconds
        self.cpu_meter = cpu  # a CpuMeter of this server and its database backends, or None
        self.cpu: dict[str, float] = {}
        self.latencies: list[float] = []
        self.errors: dict[str, int] = {}
        self.lock = threading.Lock()

    def _client(self, stop_at: float) -> None:
        import requests

        session = requests.Session()
        latencies, errors = [], {}
        while time.monotonic() < stop_at:
            with self.lock:
                try:
                    headers, body = next(self.bodies)
                except (StopIteration, RuntimeError):  # out of free slots: an error, and this client stops
                    errors["out of free slots"] = errors.get("out of free slots", 0) + 1
                    break
            t0 = time.perf_counter()
            try:
                response = session.post(self.url, json=body, headers=headers, timeout=30)
                outcome = response.status_code
            except requests.RequestException as error:
                outcome = type(error).__name__
            latencies.append(time.perf_counter() - t0)
            if outcome != 201:
                errors[str(outcome)] = errors.get(str(outcome), 0) + 1
        with self.lock:
            self.latencies += latencies
            for key, n in errors.items():
                self.errors[key] = self.errors.get(key, 0) + n

    def run(self) -> Round:
        before = self.cpu_meter.read() if self.cpu_meter else None
        stop_at = time.monotonic() + self.seconds
        started = time.monotonic()
        workers = [threading.Thread(target=self._client, args=(stop_at,)) for _ in range(self.threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        self.elapsed = time.monotonic() - started
        if before is not None:
            self.cpu = self.cpu_meter.since(before)
        return self

    def cpu_per_request(self) -> str:
        """Milliseconds of CPU each request cost the server, PostgreSQL and the client."""
        if not self.cpu or not self.latencies:
            return ""
        n = len(self.latencies)
        parts = "  ".join(f"{party} {seconds / n * 1000:.2f}" for party, seconds in self.cpu.items())
        return f"  CPU ms/request: {parts}  (all {sum(self.cpu.values()) / n * 1000:.2f})"

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.elapsed

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies) or [0.0]
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000

    def line(self) -> str:
        errors = sum(self.errors.values())
        detail = f" {self.errors}" if errors else ""
        return (
            f"  {self.name:<9} {self.rate:8.1f} req/s  p50 {self.percentile(0.5):6.1f} ms  "
            f"p99 {self.percentile(0.99):6.1f} ms  errors {errors}{detail}  (n={len(self.latencies)})"
        )


class CpuMeter:
    """CPU seconds used by a server's process tree, by the PostgreSQL backends serving its database
    (and PostgreSQL's own background processes: WAL writer, checkpointer…), and by this process (the
    client's threads), so that a round can say where each request's machine time went."""

    def __init__(self, server_pid: int, url: str):
        import psycopg
        from sqlalchemy.engine import make_url

        parsed = make_url(url)
        self.server_pid, self.database = server_pid, parsed.database
        self.connection = psycopg.connect(
            host=parsed.host, port=parsed.port or 5432, user=parsed.username, dbname=parsed.database,
            autocommit=True,
        )  # fmt: skip

    def _postgres(self) -> dict[int, float]:
        import psutil

        backends = {
            pid
            for (pid,) in self.connection.execute(
                "SELECT pid FROM pg_stat_activity WHERE (datname = %s OR backend_type <> 'client backend')"
                " AND pid <> pg_backend_pid()",
                (self.database,),
            )
        }
        times = {}
        for pid in backends:
            try:
                cpu = psutil.Process(pid).cpu_times()
                times[pid] = cpu.user + cpu.system
            except psutil.Error:
                continue
        return times

    def read(self) -> tuple[float, dict[int, float], float]:
        from bench.load import process_tree_cpu

        return process_tree_cpu(self.server_pid), self._postgres(), time.process_time()

    def since(self, before) -> dict[str, float]:
        server, postgres, client = self.read()
        return {
            "server": server - before[0],
            "postgres": sum(t - before[1].get(pid, 0.0) for pid, t in postgres.items()),
            "client": client - before[2],
        }


def statements_per_booking(url: str, plan: dict, slot: tuple[int, datetime, datetime]) -> list[str]:
    """The SQL statements one booking request runs, counted in process on the bench database."""
    from sqlalchemy import event

    from booking.core.db import db
    from booking.factory import create_app

    app = create_app(
        {"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": SECRET_KEY, "RATELIMIT_ENABLED": False,
         "MAIL_BACKEND": "console"}
    )  # fmt: skip
    member = plan["teams"][0]["members"][0]
    instrument_id, starts_at, ends_at = slot
    body = {
        "team_id": plan["teams"][0]["id"],
        "instrument_id": instrument_id,
        "starts_at": starts_at.isoformat(),
        "ends_at": ends_at.isoformat(),
    }
    seen: list[str] = []
    with app.app_context():
        engine = db.engine

        def count(conn, cursor, statement, *args):
            seen.append(" ".join(statement.split())[:100])

        client = app.test_client()
        client.get("/healthz")  # a first request warms the app up (and its own statements)
        event.listen(engine, "before_cursor_execute", count)
        try:
            response = client.post(
                "/api/v1/bookings", json=body, headers={"Authorization": f"Bearer {member['token']}"}
            )
        finally:
            event.remove(engine, "before_cursor_execute", count)
        if response.status_code != 201:
            raise RuntimeError(
                f"the counted booking answered {response.status_code}: {response.get_data(True)}"
            )
        engine.dispose()
    return seen


def gunicorn(app_path: str, port: int, env: dict, log_path: Path, workers: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "gunicorn", app_path, "--workers", str(workers), "--bind", f"127.0.0.1:{port}",
         "--timeout", "30", "--graceful-timeout", "10", "--no-control-socket"],
        cwd=ROOT, env=env, stdout=log_path.open("w"), stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip


def run(args: argparse.Namespace) -> int:
    url = args.database_url
    tmp = Path(tempfile.mkdtemp(prefix="booking-floor-"))
    platform = floor = None
    env = server_env(url)
    try:
        log(f"booking floor: {url} (dropped and recreated); gunicorn -w {args.workers} for both; "
            f"{args.threads} client threads, {args.rounds} rounds × {args.seconds:.0f} s each")  # fmt: skip
        recreate_database(url, word="bench", allow="BENCH_ALLOW_RESET")
        subprocess.run(flask_command("db", "upgrade"), cwd=ROOT, env=env, check=True, timeout=180,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
        plan = seed(url, labs_n=args.labs, instruments_per_lab=4, teams_n=args.threads)
        instrument_ids = [i["id"] for i in plan["instruments"]]
        slots = free_slots(instrument_ids, days=55)
        counted_slot = slots.pop()
        log(f"  seeded {len(instrument_ids)} instruments, {len(plan['teams'])} verified teams; "
            f"{len(slots)} free half-hour slots to book")  # fmt: skip

        statements = statements_per_booking(url, plan, counted_slot)
        log(f"  one booking request runs {len(statements)} SQL statements (BEGIN/COMMIT not counted):")
        for statement in statements:
            log(f"    {statement}")

        platform_port, floor_port = free_port(), free_port()
        platform = gunicorn("wsgi:app", platform_port, env, tmp / "platform.log", args.workers)
        floor = gunicorn(
            "bench.floor_app:app",
            floor_port,
            {**env, "FLOOR_DATABASE_URL": url},
            tmp / "floor.log",
            args.workers,
        )
        wait_healthy(f"http://127.0.0.1:{platform_port}", platform, timeout=60)
        wait_healthy(f"http://127.0.0.1:{floor_port}", floor, timeout=60)

        members = [(team["id"], member["token"]) for team in plan["teams"] for member in team["members"]]

        def bodies(slot_source):
            for (team_id, token), (instrument_id, starts_at, ends_at) in zip(
                itertools.cycle(members), slot_source, strict=False
            ):
                body = {
                    "team_id": team_id,
                    "instrument_id": instrument_id,
                    "starts_at": starts_at.isoformat(),
                    "ends_at": ends_at.isoformat(),
                }
                yield {"Authorization": f"Bearer {token}"}, body
            raise RuntimeError("out of free slots: fewer rounds or seconds, or more labs")

        # the platform books each free slot once; the floor, which keeps no rule, gets the same bodies
        # round and round (it must not use up the slots the platform still has to book)
        sources = {"platform": bodies(iter(slots)), "floor": bodies(itertools.cycle(slots))}
        targets = {
            "platform": f"http://127.0.0.1:{platform_port}/api/v1/bookings",
            "floor": f"http://127.0.0.1:{floor_port}/rows",
        }
        meters = {"platform": CpuMeter(platform.pid, url), "floor": CpuMeter(floor.pid, url)}
        for name, target in targets.items():  # warm-up: imports, pools, caches
            Round(name, target, sources[name], threads=args.threads, seconds=2).run()
        results: dict[str, list[Round]] = {"platform": [], "floor": []}
        for i in range(args.rounds):
            for name, target in targets.items():
                done = Round(
                    name, target, sources[name], threads=args.threads, seconds=args.seconds, cpu=meters[name]
                ).run()
                results[name].append(done)
                log(f"round {i + 1}{done.line()}")
                log(f"         {done.cpu_per_request()}")
        rates = {name: statistics.median(r.rate for r in rounds) for name, rounds in results.items()}
        p50 = {name: statistics.median(r.percentile(0.5) for r in rounds) for name, rounds in results.items()}
        p99 = {
            name: statistics.median(r.percentile(0.99) for r in rounds) for name, rounds in results.items()
        }
        errors = sum(sum(r.errors.values()) for rounds in results.values() for r in rounds)
        ratio = rates["platform"] / rates["floor"]
        log("\nmedian of the rounds:")
        for name in results:
            log(f"  {name:<9} {rates[name]:8.1f} req/s  p50 {p50[name]:6.1f} ms  p99 {p99[name]:6.1f} ms")
        log(f"  ratio platform ÷ floor: {ratio:.2f}× (target ≥ {args.target:.2f}×); "
            f"statements per booking: {len(statements)}; errors: {errors}")  # fmt: skip
        for name, rounds in results.items():
            per_request = {
                party: statistics.median(r.cpu[party] / len(r.latencies) * 1000 for r in rounds)
                for party in ("server", "postgres", "client")
            }
            log(f"  {name:<9} CPU per request (median of the rounds, ms): "
                + "  ".join(f"{party} {ms:.2f}" for party, ms in per_request.items())
                + f"  (all {sum(per_request.values()):.2f})")  # fmt: skip
        ok = errors == 0 and ratio >= args.target
        log("PASS" if ok else "FAIL")
        return 0 if ok else 1
    except (RuntimeError, subprocess.CalledProcessError) as error:
        log(f"FAIL: {error}")
        for name in ("platform.log", "floor.log"):
            if (tmp / name).exists():
                log((tmp / name).read_text(errors="replace")[-2000:])
        return 1
    finally:
        stop(platform, "platform")
        stop(floor, "floor")
        if args.keep_logs:
            log(f"logs kept in {tmp}")
        else:
            for path in tmp.iterdir():
                path.unlink()
            tmp.rmdir()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.booking_floor", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers of each server (default 4)")
    parser.add_argument("--threads", type=int, default=16, help="client threads (default 16)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per server, alternating (default 3)")
    parser.add_argument("--seconds", type=float, default=15.0, help="seconds per round (default 15)")
    parser.add_argument("--labs", type=int, default=6, help="labs of 4 instruments each (default 6)")
    parser.add_argument("--target", type=float, default=0.5, help="the ratio to reach (default 0.5)")
    parser.add_argument("--keep-logs", action="store_true")
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
