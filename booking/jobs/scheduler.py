"""The scheduler process: ``flask --app wsgi scheduler run``.

One APScheduler ``BlockingScheduler`` (UTC) in its own process, never inside web workers, with one
interval job per entry in ``booking.jobs.JOBS``; each run goes through ``run_job`` (its unit of work)
in a fresh app context. Any number of copies may run, on any number of nodes: only the one that holds
leadership runs jobs, the others stay idle and keep trying, and take over when the leader dies.

Leadership is checked every ``tick`` and again right before each job runs:

- PostgreSQL: a session-level advisory lock held on a dedicated connection (outside the request pool).
  PostgreSQL releases it when that session ends, so a killed leader frees it at once (a vanished node:
  once TCP keepalives give up on it, ~25 s).
- SQLite: a lease row in ``scheduler_leases``, taken or renewed by one atomic UPDATE; a dead leader's
  lease simply expires.

Leadership is not a fencing token: a job must still claim its work in the database (row locks,
unique keys), as every job in ``booking.jobs`` does, so a run that overlaps a takeover does no harm.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import threading
from abc import ABC, abstractmethod
from datetime import UTC, datetime, timedelta

import click
import sqlalchemy as sa
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers import SchedulerNotRunningError
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.interval import IntervalTrigger
from flask import Flask, current_app
from flask.cli import AppGroup
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.pool import NullPool

from booking import jobs as jobs_module
from booking.core import clock
from booking.core.db import db, write_intent
from booking.models import SchedulerLease

log = logging.getLogger(__name__)

DEFAULT_TICK = 10.0
DEFAULT_LEASE = timedelta(seconds=30)
LEASE_NAME = "scheduler"
# Any constant works as long as nothing else in the database uses it: "SCHEDULE" in ASCII.
ADVISORY_LOCK_KEY = 0x5343_4845_4455_4C45
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def default_holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Leadership(ABC):
    """The right to run the jobs, held by at most one process at a time."""

    def __init__(self, holder: str):
        self.holder = holder

    @abstractmethod
    def acquire(self, now: datetime | None = None) -> bool:
        """Take leadership, or keep (renew) it; return whether this process holds it now."""

    @abstractmethod
    def held(self, now: datetime | None = None) -> bool:
        """Whether this process may run a job right now."""

    @abstractmethod
    def release(self) -> None:
        """Give leadership up at once (clean shutdown), so a standby need not wait."""


class LeaseLeadership(Leadership):
    """A lease row: the holder renews it every tick; anyone may take it once it has expired.

    Taking and renewing are the same single UPDATE (the row's write lock makes it atomic on every
    engine), or an INSERT when the row does not exist yet. Time comes from ``booking.core.clock`` unless
    ``now`` is given, so tests can move it.
    """

    def __init__(
        self, engine: sa.Engine, holder: str, lease: timedelta = DEFAULT_LEASE, name: str = LEASE_NAME
    ):
        super().__init__(holder)
        self._engine = engine
        self.lease = lease
        self.name = name
        self._expires_at: datetime | None = None  # of the lease we last wrote

    def acquire(self, now: datetime | None = None) -> bool:
        now = now or clock.now()
        until = now + self.lease
        table = SchedulerLease.__table__
        try:
            with write_intent(), self._engine.begin() as conn:
                taken = conn.execute(
                    table.update()
                    .where(
                        table.c.name == self.name,
                        sa.or_(table.c.expires_at < now, table.c.holder == self.holder),
                    )
                    .values(holder=self.holder, expires_at=until)
                ).rowcount
                if not taken:  # no lease row yet; RETURNING, as rowcount is unreliable for ON CONFLICT
                    insert = _insert(conn, table).values(name=self.name, holder=self.holder, expires_at=until)
                    insert = insert.on_conflict_do_nothing(index_elements=["name"]).returning(table.c.name)
                    taken = conn.execute(insert).first() is not None
        except sa.exc.DBAPIError as error:
            # The lease we wrote last is still ours until it expires; held() knows when that is.
            log.warning("could not renew the scheduler lease: %s", error)
            return self.held(now)
        self._expires_at = until if taken else None
        return bool(taken)

    def held(self, now: datetime | None = None) -> bool:
        return self._expires_at is not None and (now or clock.now()) < self._expires_at

    def release(self) -> None:
        if self._expires_at is None:
            return
        self._expires_at = None
        table = SchedulerLease.__table__
        try:
            with write_intent(), self._engine.begin() as conn:
                conn.execute(
                    table.update()
                    .where(table.c.name == self.name, table.c.holder == self.holder)
                    .values(expires_at=_EPOCH)
                )
        except sa.exc.DBAPIError as error:
            log.warning("could not release the scheduler lease (it will expire): %s", error)


def _insert(conn: sa.Connection, table: sa.Table):
    return (postgresql if conn.dialect.name == "postgresql" else sqlite).insert(table)


_TRY_LOCK = sa.text("SELECT pg_try_advisory_lock(:key)")
_UNLOCK = sa.text("SELECT pg_advisory_unlock(:key)")
# A bigint advisory key shows in pg_locks as classid (high half), objid (low half), objsubid 1.
_STILL_LOCKED = sa.text(
    "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()"
    " AND granted AND classid::bigint = :high AND objid::bigint = :low AND objsubid = 1)"
)


class AdvisoryLockLeadership(Leadership):
    """A session-level PostgreSQL advisory lock on a connection of its own.

    The connection comes from a private, unpooled engine: the request pool must never hand the
    locked session to someone else, nor recycle it. Keepalives on both ends notice a vanished peer:
    this process then stops leading, and the server ends the session and so frees the lock. Needs a
    direct connection (or session pooling), not a transaction-pooling proxy.
    """

    def __init__(self, engine: sa.Engine, holder: str, key: int = ADVISORY_LOCK_KEY):
        super().__init__(holder)
        self.key = key
        keepalives = {"keepalives_idle": 10, "keepalives_interval": 5, "keepalives_count": 3}
        self._engine = sa.create_engine(
            engine.url,
            poolclass=NullPool,
            isolation_level="AUTOCOMMIT",  # never idle in a transaction
            connect_args={
                "application_name": f"booking-scheduler {holder}"[:63],
                "connect_timeout": 5,
                "keepalives": 1,
                **keepalives,
                "options": " ".join(f"-c tcp_{name}={value}" for name, value in keepalives.items()),
            },
        )
        self._conn: sa.Connection | None = None
        self._held = False
        self._lock = threading.Lock()  # the tick and the job threads share the connection

    def acquire(self, now: datetime | None = None) -> bool:
        with self._lock:
            try:
                if self._conn is None:
                    self._conn = self._engine.connect()
                if not (self._held and self._still_locked()):
                    self._held = bool(self._conn.execute(_TRY_LOCK, {"key": self.key}).scalar())
            except sa.exc.DBAPIError as error:
                log.warning("scheduler leadership connection failed: %s", error)
                self._drop()
            return self._held

    def held(self, now: datetime | None = None) -> bool:
        with self._lock:
            if not self._held:
                return False
            try:
                self._held = self._still_locked()
            except sa.exc.DBAPIError as error:
                log.warning("scheduler leadership connection failed: %s", error)
                self._drop()
            return self._held

    def release(self) -> None:
        with self._lock:
            if self._conn is not None and self._held:
                with contextlib.suppress(sa.exc.DBAPIError):  # closing the session frees it anyway
                    self._conn.execute(_UNLOCK, {"key": self.key})
            self._drop()
        self._engine.dispose()

    def _still_locked(self) -> bool:
        assert self._conn is not None
        params = {"high": self.key >> 32, "low": self.key & 0xFFFF_FFFF}
        return bool(self._conn.execute(_STILL_LOCKED, params).scalar())

    def _drop(self) -> None:
        self._held = False
        if self._conn is not None:
            with contextlib.suppress(sa.exc.DBAPIError):
                self._conn.close()
            self._conn = None


def leadership_for(engine: sa.Engine, holder: str, lease: timedelta = DEFAULT_LEASE) -> Leadership:
    if engine.dialect.name == "postgresql":
        return AdvisoryLockLeadership(engine, holder)
    return LeaseLeadership(engine, holder, lease=lease)


class JobScheduler:
    """The jobs of ``booking.jobs.JOBS`` on their intervals, run only while ``leadership`` is held."""

    def __init__(self, app: Flask, leadership: Leadership, tick: float = DEFAULT_TICK):
        self.app = app
        self.leadership = leadership
        self.tick = tick
        self.jobs = dict(jobs_module.JOBS)
        self.is_leader = False
        self._stopping = threading.Event()
        self._in_flight = 0
        self._idle = threading.Condition()
        self._scheduler = BlockingScheduler(
            timezone=UTC,
            executors={
                "default": ThreadPoolExecutor(max(2, len(self.jobs))),
                # its own thread, so busy or slow jobs never delay a lease renewal
                "leadership": ThreadPoolExecutor(1),
            },
            job_defaults={"coalesce": True, "max_instances": 1},
        )
        self._scheduler.add_job(
            self._tick,
            IntervalTrigger(seconds=tick, timezone=UTC),
            id="leadership",
            executor="leadership",
            next_run_time=datetime.now(UTC),
            misfire_grace_time=max(1, int(tick)),
        )
        for job in self.jobs.values():
            seconds = job.every.total_seconds()
            self._scheduler.add_job(
                self._run,
                IntervalTrigger(seconds=seconds, timezone=UTC),
                args=[job.name],
                id=f"job:{job.name}",
                name=job.name,
                # a run delayed by up to half its interval still happens; later ones wait for the next
                misfire_grace_time=max(1, int(seconds // 2)),
            )

    def run(self, duration: float | None = None) -> None:
        """Block until stopped (SIGTERM/SIGINT, ``stop()``, or after ``duration`` seconds), then
        wait for running jobs and release leadership."""
        timer = None
        if duration is not None:
            timer = threading.Timer(duration, self.stop)
            timer.daemon = True
            timer.start()
        restore_signals = self._handle_signals()
        log.info("scheduler %s: %d jobs, tick %ss", self.leadership.holder, len(self.jobs), self.tick)
        try:
            if not self._stopping.is_set():
                self._scheduler.start()
        finally:
            if timer is not None:
                timer.cancel()
            self.stop()
            with self._idle:
                self._idle.wait_for(lambda: self._in_flight == 0)
            self.leadership.release()
            restore_signals()
            log.info("scheduler %s stopped", self.leadership.holder)

    def stop(self) -> None:
        self._stopping.set()
        with contextlib.suppress(SchedulerNotRunningError):
            self._scheduler.shutdown(wait=False)

    def _handle_signals(self):
        if threading.current_thread() is not threading.main_thread():
            return lambda: None

        def handler(signum, _frame):
            # not shutdown() here: the main thread may be inside the scheduler's own loop
            threading.Thread(target=self.stop, name="stop", daemon=True).start()

        previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
        return lambda: [signal.signal(sig, old) for sig, old in previous.items()]

    def _tick(self) -> None:
        if self._stopping.is_set():
            self.stop()  # a stop that raced the scheduler's start
            return
        try:
            leader = self.leadership.acquire()
        except Exception:
            log.exception("scheduler leadership check failed")
            leader = False
        if leader and not self.is_leader:
            log.info("scheduler %s is now the leader", self.leadership.holder)
            # A new leader runs every job at once rather than waiting up to a full interval.
            now = datetime.now(UTC)
            for name in self.jobs:
                self._scheduler.modify_job(f"job:{name}", next_run_time=now)
        elif self.is_leader and not leader:
            log.warning("scheduler %s lost leadership; idle until it wins it back", self.leadership.holder)
        self.is_leader = leader

    def _run(self, name: str) -> None:
        with self._idle:
            if self._stopping.is_set():
                return
            self._in_flight += 1
        try:
            # Checked right before the run: a process that has lost leadership must not run a job.
            if not self.leadership.held():
                return
            try:
                with self.app.app_context():
                    result = jobs_module.run_job(name)
            except Exception:
                log.exception("job %s failed", name)
            else:
                log.info("job %s: %s", name, result)
        finally:
            with self._idle:
                self._in_flight -= 1
                self._idle.notify_all()


scheduler_cli = AppGroup("scheduler", help="The periodic-jobs scheduler (one dedicated process).")


@scheduler_cli.command("run")
@click.option(
    "--holder", envvar="SCHEDULER_HOLDER", default=None, help="Name in the leadership [hostname:pid]."
)
@click.option(
    "--tick",
    type=click.FloatRange(min=0.1),
    envvar="SCHEDULER_TICK_SECONDS",
    default=DEFAULT_TICK,
    show_default=True,
    help="Seconds between leadership checks: the leader renews, standbys retry.",
)
@click.option(
    "--lease",
    type=click.FloatRange(min=1),
    envvar="SCHEDULER_LEASE_SECONDS",
    default=DEFAULT_LEASE.total_seconds(),
    show_default=True,
    help="SQLite lease length: a dead leader's lease expires after this.",
)
@click.option(
    "--duration", type=click.FloatRange(min=0), default=None, help="Stop cleanly after this many seconds."
)
def run_scheduler_command(holder, tick, lease, duration):
    """Run the periodic jobs while this process is the leader; idle as a standby otherwise."""
    if lease < 2 * tick:
        raise click.BadParameter("at least twice --tick, so the leader renews in time", param_hint="--lease")
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    leadership = leadership_for(db.engine, holder or default_holder(), lease=timedelta(seconds=lease))
    JobScheduler(current_app._get_current_object(), leadership, tick=tick).run(duration)
