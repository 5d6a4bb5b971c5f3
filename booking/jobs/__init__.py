"""Periodic jobs as a declarative list. The scheduler process runs them on
their intervals; ``flask --app wsgi jobs run NAME [--now ISO8601]`` runs one once, as of any instant.

Each job is a plain function of ``now`` that only flushes; ``run_job`` is its unit-of-work boundary:
write intent (SQLite BEGIN IMMEDIATE), the clock frozen at ``now``, one commit, rollback on error.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from booking.core import clock
from booking.core.db import db, write_intent
from booking.flow.attendance import mark_no_shows
from booking.flow.holds import release_unconfirmed
from booking.flow.mail import deliver_outbox
from booking.flow.notifications import send_reminders
from booking.flow.payments.capture import capture_payments
from vouchers.reconciliation import reconcile
from vouchers.reports.export_runs import run_pending
from vouchers.wallet import expire_vouchers


@dataclass(frozen=True)
class Job:
    name: str
    run: Callable[[datetime], object]
    every: timedelta
    description: str


def _deliver_outbox(now: datetime):
    return deliver_outbox()


def _reconcile(now: datetime):
    run = reconcile(now)
    return {"run": run.id, "settled": run.settled, "exceptions": run.exceptions}


JOBS: dict[str, Job] = {
    job.name: job
    for job in (
        Job("reconcile", _reconcile, timedelta(minutes=5), "settle finished bookings on their actual cost"),
        Job("no_shows", mark_no_shows, timedelta(minutes=1), "mark bookings not checked in as no-shows"),
        Job(
            "release_unconfirmed",
            release_unconfirmed,
            timedelta(minutes=1),
            "release requests never approved",
        ),
        Job("expire_vouchers", expire_vouchers, timedelta(hours=1), "return expired vouchers' balance"),
        Job("reminders", send_reminders, timedelta(minutes=5), "queue reminders of bookings starting soon"),
        # commits per message itself, so a failing message never holds back the others
        Job("deliver_outbox", _deliver_outbox, timedelta(minutes=1), "send queued notifications"),
        # commits per booking itself: the payments API is never called inside a held transaction
        Job("capture_payments", capture_payments, timedelta(minutes=1), "capture/release card holds"),
        # commits per chunk itself: the progress page shows rows written so far
        Job("exports", run_pending, timedelta(seconds=15), "write requested statement exports"),
    )
}


def run_job(name: str, now: datetime | None = None):
    job = JOBS[name]
    now = now or clock.now()
    with write_intent(), clock.frozen_at(now):
        try:
            result = job.run(now)
            db.session.commit()
        except BaseException:
            db.session.rollback()
            raise
    return result
