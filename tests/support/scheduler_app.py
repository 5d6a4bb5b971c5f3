"""Test-only app for the multi-process scheduler test (``flask --app tests.support.scheduler_app scheduler run``):
the real app, with the job registry replaced by one fast job that claims the next unit of work and,
once the claim has committed, appends ``holder,unix time,unit`` to ``SCHEDULER_TEST_JOB_FILE``."""

import os
import time
from datetime import timedelta

import sqlalchemy as sa

from booking import jobs
from booking.core.db import db
from booking.factory import create_app

UNITS_TABLE = "scheduler_test_units"  # created and dropped by tests/jobs/test_scheduler.py


def claim_next_unit(now):
    holder = os.environ["SCHEDULER_HOLDER"]
    session = db.session()
    unit = session.execute(sa.text(f"SELECT coalesce(max(unit), 0) + 1 FROM {UNITS_TABLE}")).scalar_one()
    session.execute(
        sa.text(f"INSERT INTO {UNITS_TABLE} (unit, holder) VALUES (:unit, :holder)"),
        {"unit": unit, "holder": holder},
    )

    def record(_session):
        with open(os.environ["SCHEDULER_TEST_JOB_FILE"], "a") as file:
            file.write(f"{holder},{time.time():.3f},{unit}\n")

    sa.event.listen(session, "after_commit", record, once=True)
    return unit


jobs.JOBS = {
    "claim_unit": jobs.Job("claim_unit", claim_next_unit, timedelta(seconds=1), "test: claim a unit")
}
app = create_app()
