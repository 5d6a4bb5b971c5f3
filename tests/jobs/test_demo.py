"""``flask --app wsgi demo load``: a believable Chongqing world on an empty database, built through the
operations (so the ledger verifies), printing exactly ``email password role`` per account; refused on a
database with users and under APP_ENV=production. And ``make prepare``, the first-start step of
``make run``: upgrade, load the demo world into an empty embedded database, say where to sign in."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import flask_migrate
import pytest
from sqlalchemy import func, select

from booking.core.config import TestConfig
from booking.core.db import db, write_intent
from booking.factory import create_app
from booking.models import (
    ROLES,
    Booking,
    BookingSeries,
    BookingStatus,
    ComputeOffer,
    OutboxMessage,
    Provider,
    Team,
    User,
)
from booking.people import accounts
from instruments.models import Instrument, Lab, LabManager, OpeningHours, ServiceOrder
from vouchers.models import AccountingPeriod, Claim, Program, Settlement, Voucher
from vouchers.verify import ledger_breaches

ROOT = Path(__file__).parents[2]
# each app here has its own SQLite file: keep the suite's shared connection (and its SAVEPOINT) out of it
pytestmark = pytest.mark.concurrency


def _fresh_app(tmp_path_factory, name: str):
    path = tmp_path_factory.mktemp(name) / "demo.sqlite3"
    app = create_app(
        {
            **{k: getattr(TestConfig, k) for k in dir(TestConfig) if k.isupper()},
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}",
            "SECRET_KEY": "test-secret",
        }
    )
    app.instance_path = str(path.parent)
    with app.app_context():
        flask_migrate.upgrade()
    return app


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    app = _fresh_app(tmp_path_factory, "demo")
    result = app.test_cli_runner().invoke(args=["demo", "load"])
    assert result.exit_code == 0, result.output
    return app, result


def test_stdout_is_one_line_per_account(loaded):
    app, result = loaded
    lines = result.stdout.splitlines()
    assert lines and all(len(line.split(" ")) == 3 for line in lines), result.stdout
    with app.app_context():
        users = {u.email: u.role for u in db.session.scalars(select(User))}
    assert {email: role for email, _, role in (line.split(" ") for line in lines)} == users
    assert "demo world" in result.stderr  # the explanation goes to stderr


def test_every_printed_account_signs_in(loaded):
    app, result = loaded
    accounts_printed = [line.split(" ") for line in result.stdout.splitlines()]
    assert {role for _, _, role in accounts_printed} == set(ROLES)
    with app.app_context(), write_intent():
        for email, password, role in accounts_printed:
            assert accounts.authenticate(email, password).role == role
        db.session.rollback()


def test_the_world_has_labs_providers_programmes_teams(loaded):
    app, _ = loaded
    with app.app_context():
        labs = db.session.scalars(select(Lab)).all()
        assert {lab.university.name for lab in labs} == {"重庆大学", "西南大学"}
        assert _count(LabManager) == len(labs)
        assert _count(Instrument) >= 4
        assert all(
            db.session.scalar(select(func.count()).where(OpeningHours.instrument_id == i.id))
            for i in db.session.scalars(select(Instrument))
        )
        assert _count(Provider) == 2 and _count(ComputeOffer) >= 3
        gpu_models = set(db.session.scalars(select(ComputeOffer.gpu_model)))
        assert any("A800" in m for m in gpu_models) and any("H800" in m for m in gpu_models)
        levels = sorted(db.session.scalars(select(Program.level)))
        assert levels == ["district", "district", "municipal"]
        teams = db.session.scalars(select(Team)).all()
        assert len(teams) >= 3 and all(team.verified for team in teams)
        assert {v.team_id for v in db.session.scalars(select(Voucher))} == {t.id for t in teams}
        assert _count(OutboxMessage) == 0  # no stale confirmations waiting to be mailed


def test_bookings_past_settled_and_ahead(loaded):
    app, _ = loaded
    with app.app_context():
        settled = db.session.scalars(select(Booking).where(Booking.status == BookingStatus.SETTLED)).all()
        assert {b.kind for b in settled} == {"instrument", "compute", "service"}
        assert _count(Settlement) == len(settled)
        (period,) = db.session.scalars(select(AccountingPeriod.period))
        assert {s.period for s in db.session.scalars(select(Settlement))} == {period}
        ahead = db.session.scalars(
            select(Booking).where(
                Booking.status.in_((BookingStatus.CONFIRMED, BookingStatus.PENDING_APPROVAL))
            )
        ).all()
        assert {b.kind for b in ahead} == {"instrument", "compute", "service"}  # orders being processed
        assert BookingStatus.PENDING_APPROVAL in {b.status for b in ahead}
        assert ledger_breaches() == []


def test_service_orders_a_series_and_a_claim(loaded):
    app, _ = loaded
    with app.app_context():
        orders = {o.status: o for o in db.session.scalars(select(ServiceOrder))}
        assert set(orders) == {"settled", "in_progress", "submitted"}
        settled = orders["settled"]
        assert settled.booking.status == BookingStatus.SETTLED and settled.rating.score == 5
        assert [r.filename for r in settled.results] == ["SEM形貌结果.csv"]
        assert orders["in_progress"].due_on is not None
        (weekly,) = db.session.scalars(select(BookingSeries)).all()
        occurrences = db.session.scalars(select(Booking).where(Booking.series_id == weekly.id)).all()
        assert len(occurrences) == 4
        assert len({(b.starts_at.weekday(), b.starts_at.time()) for b in occurrences}) == 1
        (claim,) = db.session.scalars(select(Claim)).all()
        (period,) = db.session.scalars(select(AccountingPeriod.period))
        assert (claim.period, claim.status, claim.payee_kind) == (period, "submitted", "lab")
        settled_to_lab = db.session.scalar(
            select(func.sum(Settlement.subsidy_fen)).where(
                Settlement.payee_kind == "lab", Settlement.payee_id == claim.payee_id
            )
        )
        assert claim.amount_fen == settled_to_lab > 0
        assert ledger_breaches() == []


def test_refused_on_a_database_with_users(loaded):
    app, _ = loaded
    with app.app_context():
        before = _count(User), _count(Booking)
    result = app.test_cli_runner().invoke(args=["demo", "load"])
    assert result.exit_code != 0 and "empty database" in result.output
    assert result.stdout == ""
    with app.app_context():
        assert (_count(User), _count(Booking)) == before


def test_refused_in_production(tmp_path_factory, monkeypatch):
    app = _fresh_app(tmp_path_factory, "demo-production")
    monkeypatch.setenv("APP_ENV", "production")
    result = app.test_cli_runner().invoke(args=["demo", "load"])
    assert result.exit_code != 0 and "production" in result.output
    with app.app_context():
        assert _count(User) == 0 and _count(Lab) == 0


def _make_prepare(tmp_path, *args):
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'first.sqlite3'}",
        "APP_ENV": "development",
        "MAIL_BACKEND": "console",
    }
    venv = Path(sys.executable).parents[1]
    return subprocess.run(
        ["make", "--no-print-directory", "-s", "prepare", f"VENV={venv}", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_make_run_first_start(tmp_path):
    """`make run DEMO=0` leaves the empty database alone; the next `make run` loads the demo world."""
    skipped = _make_prepare(tmp_path, "DEMO=0")
    assert skipped.returncode == 0, skipped.stderr
    assert "loading the demo world" not in skipped.stdout and "users create" in skipped.stdout
    assert "Sign in at http://127.0.0.1:5000/sign-in" in skipped.stdout
    first = _make_prepare(tmp_path)
    assert first.returncode == 0, first.stderr
    assert (
        "loading the demo world" in first.stdout and "DEMO=0" in first.stdout
    )  # says so, and how to turn it off
    assert "Sign in at http://127.0.0.1:5000/sign-in" in first.stdout
    printed = [line.split() for line in first.stdout.splitlines() if line.startswith("  ") and "@" in line]
    assert {role for _, _, role in printed} == set(ROLES)


def test_a_later_start_loads_nothing(loaded):
    app, _ = loaded
    with app.app_context():
        before = _count(User)
    result = app.test_cli_runner().invoke(args=["demo", "first-start", "--url", "http://127.0.0.1:5000/"])
    assert result.exit_code == 0, result.output
    assert (
        "loading the demo world" not in result.output
        and "Sign in at http://127.0.0.1:5000/sign-in" in result.output
    )
    with app.app_context():
        assert _count(User) == before
