"""Crash safety for service orders: kill reconciliation mid-way (fault injection, and a real SIGKILL of
a subprocess), rerun, and the ledger, the settlements and the orders' statuses are identical to a
clean run's, to the fen."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from booking.core import clock
from booking.core.db import db
from instruments.models import ServiceOrder
from tests.conftest import wipe_database
from tests.support.service_orders import drive, order_world, submit
from tests.vouchers.test_reconcile_crash import _snapshot
from vouchers.reconciliation import ReconcileFault, reconcile

pytestmark = pytest.mark.concurrency
ROOT = Path(__file__).resolve().parents[2]
ORDERS = 7


def build(make, api):
    """The same scenario every time: 7 completed orders, partly processed, vouchers of both levels."""
    world = order_world(make, price=12_345, name="T", organization="T Co")
    municipal = make.program(resource_kinds=["service"], rate_bp=3000, name="M")
    district = make.program(
        level="district",
        district_code="500106",
        resource_kinds=["service"],
        rate_bp=5000,
        stack_ceiling_bp=7000,
    )
    make.voucher(world.team, municipal, 60_000)
    make.voucher(world.team, district, 80_000)
    for i in range(ORDERS):
        order_id = submit(api, world, samples=3).json["id"]
        drive(api, world, order_id, "completed", samples_processed=1 + i % 3)


def _snapshot_with_orders(app) -> dict:
    snapshot = _snapshot(app)
    with app.app_context():
        snapshot["orders"] = sorted(db.session.execute(select(ServiceOrder.id, ServiceOrder.status)).all())
    return snapshot


def _reconcile_all(app):
    with app.app_context():
        run = reconcile(clock.now())
        db.session.commit()
        return run.settled


@pytest.fixture(name="small_batches")
def _small_batches(app):
    wipe_database(app)
    app.config["RECONCILE_BATCH_SIZE"] = 2
    yield
    app.config["RECONCILE_BATCH_SIZE"] = 500


def test_fault_injection_then_rerun_equals_a_clean_run(app, make, api, monkeypatch, small_batches):
    build(make, api)
    assert _reconcile_all(app) == ORDERS
    clean = _snapshot_with_orders(app)
    assert clean["breaches"] == [] and {status for _, status in clean["orders"]} == {"settled"}
    wipe_database(app)

    build(make, api)
    monkeypatch.setenv("RECONCILE_FAULT_AFTER", "5")
    with pytest.raises(ReconcileFault):
        _reconcile_all(app)
    with app.app_context():
        db.session.rollback()
        statuses = db.session.scalars(select(ServiceOrder.status).order_by(ServiceOrder.id)).all()
        assert statuses == ["settled"] * 4 + ["completed"] * 3  # two batches committed, the third lost
    monkeypatch.delenv("RECONCILE_FAULT_AFTER")
    assert _reconcile_all(app) == 3
    assert _snapshot_with_orders(app) == clean
    assert _reconcile_all(app) == 0


def test_sigkill_mid_run_then_rerun_equals_a_clean_run(app, make, api, database_url, small_batches):
    build(make, api)
    assert _reconcile_all(app) == ORDERS
    clean = _snapshot_with_orders(app)
    wipe_database(app)

    build(make, api)
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "RECONCILE_BATCH_SIZE": "2",
        "RECONCILE_FAULT_AFTER": "5",
        "RECONCILE_FAULT_MODE": "sigkill",
    }
    crashed = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "tests.support.testing_app", "jobs", "run", "reconcile"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr[-2000:]
    with app.app_context():
        statuses = db.session.scalars(select(ServiceOrder.status).order_by(ServiceOrder.id)).all()
        assert statuses == ["settled"] * 4 + ["completed"] * 3
    assert _reconcile_all(app) == 3
    assert _snapshot_with_orders(app) == clean
