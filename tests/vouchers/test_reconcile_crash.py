"""Crash safety: kill reconciliation mid-way (fault injection, and a real SIGKILL of a subprocess),
rerun, and the ledger is identical to a clean run's, to the fen."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from booking.core import clock
from booking.core.db import db
from tests.conftest import wipe_database
from vouchers.models import JournalTransaction, LedgerAccount, Posting, Settlement, SubsidyLine
from vouchers.reconciliation import ReconcileFault, reconcile
from vouchers.verify import ledger_breaches

pytestmark = pytest.mark.concurrency
ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)
AS_OF = NOW + timedelta(days=2)


def build(make, api):
    """The same scenario every time: 9 compute bookings with usage, vouchers of both levels."""
    provider = make.provider(name="P", organization="P Co")
    provider_user = make.user("provider", provider_id=provider.id, email="p@example.cn")
    owner = make.user("founder", email="owner@example.cn")
    team = make.team(owner=owner, verified=True, name="T", organization="T Co")
    offer = make.offer(provider, gpus_total=8, price_per_gpu_hour_fen=10_000)
    municipal = make.program(rate_bp=3000, name="M")
    district = make.program(
        level="district", district_code="500106", rate_bp=5000, stack_ceiling_bp=7000, name="D"
    )
    make.voucher(team, municipal, 40_000, at=NOW)
    make.voucher(team, district, 50_000, at=NOW)
    records = []
    for i in range(9):
        start = NOW + timedelta(hours=2 + i)
        booking = make.compute_booking(team, offer, start, start + timedelta(hours=1), gpus=1, now=NOW)
        records.append(
            {
                "external_id": f"r{i}",
                "booking_id": booking.id,
                "started_at": start.isoformat(),
                "ended_at": (start + timedelta(hours=1)).isoformat(),
                "gpu_hours": f"{0.5 + i * 0.07:.6f}",
            }
        )
    response = api.as_(provider_user).post("/api/v1/usage-records", json={"records": records})
    assert response.status_code == 200 and response.json["accepted"] == 9, response.json


def _snapshot(app) -> dict:
    with app.app_context():
        keys = dict(db.session.execute(select(LedgerAccount.id, LedgerAccount.key)).all())
        postings = sorted(
            (t.kind, t.booking_id, t.unique_key, keys[p.account_id], p.amount_fen)
            for p, t in db.session.execute(select(Posting, JournalTransaction).join(JournalTransaction)).all()
        )
        return {
            "postings": postings,
            "balances": sorted(
                db.session.execute(select(LedgerAccount.key, LedgerAccount.balance_fen)).all()
            ),
            "settlements": sorted(
                db.session.execute(
                    select(
                        Settlement.booking_id,
                        Settlement.actual_cost_fen,
                        Settlement.subsidy_fen,
                        Settlement.team_fen,
                    )
                ).all()
            ),
            "lines": sorted(
                db.session.execute(
                    select(
                        SubsidyLine.booking_id,
                        SubsidyLine.voucher_id,
                        SubsidyLine.committed_fen,
                        SubsidyLine.released_fen,
                        SubsidyLine.settled_fen,
                    )
                ).all()
            ),
            "breaches": ledger_breaches(),
        }


def _reconcile_all(app):
    with app.app_context(), clock.frozen_at(AS_OF):
        run = reconcile(AS_OF)
        db.session.commit()
        return run.settled


@pytest.fixture(name="small_batches")
def _small_batches(app):
    # The snapshots compare ids, so both worlds must start from fresh sequences: PostgreSQL does not
    # give back the ids that earlier tests' rolled-back SAVEPOINTs used, the wipe restarts them.
    wipe_database(app)
    app.config["RECONCILE_BATCH_SIZE"] = 2
    yield
    app.config["RECONCILE_BATCH_SIZE"] = 500


def test_fault_injection_then_rerun_equals_a_clean_run(app, make, api, monkeypatch, small_batches):
    build(make, api)
    assert _reconcile_all(app) == 9
    clean = _snapshot(app)
    assert clean["breaches"] == []
    wipe_database(app)

    build(make, api)
    monkeypatch.setenv("RECONCILE_FAULT_AFTER", "5")
    with pytest.raises(ReconcileFault):
        _reconcile_all(app)
    with app.app_context():
        db.session.rollback()
        assert len(db.session.scalars(select(Settlement)).all()) == 4  # two batches committed, the third lost
    monkeypatch.delenv("RECONCILE_FAULT_AFTER")
    assert _reconcile_all(app) == 5
    assert _snapshot(app) == clean
    assert _reconcile_all(app) == 0  # and once more settles nothing


def test_sigkill_mid_run_then_rerun_equals_a_clean_run(app, make, api, database_url, small_batches):
    build(make, api)
    assert _reconcile_all(app) == 9
    clean = _snapshot(app)
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
        [
            sys.executable,
            "-m",
            "flask",
            "--app",
            "tests.support.testing_app",
            "jobs",
            "run",
            "reconcile",
            "--now",
            AS_OF.isoformat(),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr[-2000:]
    with app.app_context():
        assert len(db.session.scalars(select(Settlement)).all()) == 4
    assert _reconcile_all(app) == 5
    assert _snapshot(app) == clean
