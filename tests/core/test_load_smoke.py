"""What the load test (``python -m bench.load``) found, as fast concurrency tests on both engines,
and a few seconds of the load test itself on PostgreSQL.

Under load, double clicks and team mates send the same state change at the same moment. Each test
below fires copies of one request together (real connections, real commits) and checks that exactly
one takes effect and the others see its outcome:

- two cancellations of one booking: one 200, the rest 409 ``invalid_status`` (before the fix both
  answered 200: the second re-cancelled a cancelled booking and mailed the team again);
- a compute booking sent twice with one Idempotency-Key: every copy answers 201 with the same booking
  (before: the copy that waited for the offer's lock failed with 409 ``conflict``); likewise an
  instrument booking (before: a copy arriving just after the first committed saw its own slot taken);
- two approvals of one voucher application: one voucher, the others 409 ``invalid_status`` (before:
  409 ``conflict`` from the unique index, and an approval racing a rejection issued a voucher on a
  rejected application).
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from booking.core.config import normalise_database_url
from booking.core.db import db, write_intent
from booking.flow import bookings, compute
from booking.models import Booking, OutboxMessage, User
from tests.support.concurrency import run_concurrently
from vouchers.models import Application, Voucher
from vouchers.verify import ledger_breaches

pytestmark = pytest.mark.concurrency

ALWAYS_OPEN = tuple((day, 0, 1440) for day in range(7))
COPIES = 4


def _bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def test_simultaneous_cancellations_cancel_once(app, make):
    owner = make.user("founder")
    team = make.team(owner=owner, verified=True)
    make.voucher(team, make.program())
    start = (datetime.now(UTC) + timedelta(days=3)).replace(hour=2, minute=0, second=0, microsecond=0)
    instrument = make.instrument(hours=ALWAYS_OPEN, lead_minutes=0)
    booking = make.booking(team, instrument, start, start + timedelta(hours=1), now=datetime.now(UTC))
    token = make.token_for(owner)
    with app.app_context():
        mails_before = db.session.scalar(select(func.count()).select_from(OutboxMessage))

    responses = run_concurrently(
        app,
        [
            lambda client: client.post(
                f"/api/v1/bookings/{booking.id}/cancel", json={}, headers=_bearer(token)
            )
            for _ in range(COPIES)
        ],
    )
    assert Counter(r.status_code for r in responses) == {200: 1, 409: COPIES - 1}, [r.json for r in responses]
    assert {r.json["error"]["code"] for r in responses if r.status_code == 409} == {"invalid_status"}
    with app.app_context():
        assert db.session.get(Booking, booking.id).status == "cancelled"
        mails = db.session.scalar(select(func.count()).select_from(OutboxMessage)) - mails_before
        assert mails == 1  # the team is told once
        assert ledger_breaches() == []


def test_a_double_submitted_compute_booking_is_booked_once(app, make):
    owner = make.user("founder")
    team = make.team(owner=owner, verified=True)
    make.voucher(team, make.program())
    offer = make.offer(gpus_total=8)
    token = make.token_for(owner)
    start = (datetime.now(UTC) + timedelta(days=1)).replace(minute=0, second=0, microsecond=0)
    body = {
        "team_id": team.id,
        "offer_id": offer.id,
        "gpus": 2,
        "starts_at": start.isoformat(),
        "ends_at": (start + timedelta(hours=2)).isoformat(),
    }
    headers = {**_bearer(token), "Idempotency-Key": "double-submit-1"}

    responses = run_concurrently(
        app,
        [lambda client: client.post("/api/v1/bookings", json=body, headers=headers) for _ in range(COPIES)],
    )
    assert [r.status_code for r in responses] == [201] * COPIES, [r.json for r in responses]
    assert len({r.json["id"] for r in responses}) == 1
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Booking)) == 1
        assert ledger_breaches() == []


def test_a_resubmitted_instrument_booking_replays_even_when_it_committed_meanwhile(app, make, monkeypatch):
    """The race in slow motion: the copy's first look for an earlier request with its key comes just
    before the first copy commits, so all it then sees is the slot taken, by its own booking."""
    owner = make.user("founder")
    team = make.team(owner=owner, verified=True)
    make.voucher(team, make.program())
    instrument = make.instrument(hours=ALWAYS_OPEN, lead_minutes=0)
    token = make.token_for(owner)
    start = (datetime.now(UTC) + timedelta(days=2)).replace(hour=3, minute=0, second=0, microsecond=0)
    body = {
        "team_id": team.id,
        "instrument_id": instrument.id,
        "starts_at": start.isoformat(),
        "ends_at": (start + timedelta(hours=1)).isoformat(),
    }
    headers = {**_bearer(token), "Idempotency-Key": "double-submit-2"}
    client = app.test_client()
    first = client.post("/api/v1/bookings", json=body, headers=headers)
    assert first.status_code == 201, first.json

    real_replay = bookings.replay
    looks = []

    def replay_not_yet_committed(*args):
        looks.append(args)
        return None if len(looks) == 1 else real_replay(*args)

    monkeypatch.setattr(bookings, "replay", replay_not_yet_committed)
    second = client.post("/api/v1/bookings", json=body, headers=headers)
    assert second.status_code == 201, second.json
    assert second.json["id"] == first.json["id"]
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Booking)) == 1


def test_simultaneous_approvals_issue_one_voucher(app, make):
    owner = make.user("founder")
    team = make.team(owner=owner, verified=True)
    officer = make.finance(None)  # municipal finance decides its programme's applications
    program = make.program(officer)
    officer_token = make.token_for(officer)
    applied = app.test_client().post(
        f"/api/v1/programs/{program.id}/applications",
        json={"team_id": team.id, "amount_fen": 100_000, "purpose": "GPU"},
        headers=_bearer(make.token_for(owner)),
    )
    assert applied.status_code == 201, applied.json
    application_id = applied.json["id"]

    responses = run_concurrently(
        app,
        [
            lambda client: client.post(
                f"/api/v1/applications/{application_id}/approve", json={}, headers=_bearer(officer_token)
            )
            for _ in range(COPIES)
        ],
    )
    assert Counter(r.status_code for r in responses) == {200: 1, 409: COPIES - 1}, [r.json for r in responses]
    assert {r.json["error"]["code"] for r in responses if r.status_code == 409} == {"invalid_status"}
    with app.app_context():
        assert db.session.get(Application, application_id).status == "approved"
        assert db.session.scalar(select(func.count()).select_from(Voucher)) == 1
        assert ledger_breaches() == []


def test_a_cancel_does_not_wait_for_a_booking_in_progress_on_the_same_offer(app, make):
    """The deadlock the load test hit: a compute booking holds its offer's row lock while it waits
    for voucher accounts; a cancellation on the same offer holding those accounts re-checks its
    booking's foreign key to the offer. The offer lock is FOR NO KEY UPDATE, so that check passes."""
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("row locks: PostgreSQL only (SQLite serialises writers)")
    offer = make.offer(gpus_total=8)
    first, second = make.user("founder"), make.user("founder")
    teams = [make.team(owner=owner, verified=True) for owner in (first, second)]
    start = (datetime.now(UTC) + timedelta(days=1)).replace(minute=0, second=0, microsecond=0)
    booking = make.compute_booking(teams[0], offer, start, start + timedelta(hours=1), now=datetime.now(UTC))
    token = make.token_for(first)
    holding, release = threading.Event(), threading.Event()

    def booking_in_progress():
        with app.app_context(), write_intent():
            compute.create_compute_booking(
                db.session.get(User, second.id),
                team_id=teams[1].id,
                offer_id=offer.id,
                gpus=1,
                starts_at=start + timedelta(hours=2),
                ends_at=start + timedelta(hours=3),
            )
            holding.set()
            release.wait(timeout=30)
            db.session.rollback()

    holder = threading.Thread(target=booking_in_progress)
    holder.start()
    try:
        assert holding.wait(timeout=10)
        result = {}
        canceller = threading.Thread(
            target=lambda: result.update(
                response=app.test_client().post(
                    f"/api/v1/bookings/{booking.id}/cancel", json={}, headers=_bearer(token)
                )
            )
        )
        canceller.start()
        canceller.join(timeout=10)
        assert not canceller.is_alive(), "the cancellation waited for the other booking's transaction"
        assert result["response"].status_code == 200, result["response"].json
    finally:
        release.set()
        holder.join(timeout=30)
        if "canceller" in locals():
            canceller.join(timeout=30)


def test_a_short_load_run_passes_its_integrity_checks():
    """``bench.load`` end to end for 3 seconds (about 12 s in all): its own database next to the test
    database (``<name>_load``, dropped and recreated), gunicorn in production mode, locust, then the
    overlap, capacity, cap and ledger checks. PostgreSQL only, and only where locust is installed."""
    url = os.environ.get("TEST_DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql")):
        pytest.skip("the load test runs on PostgreSQL (set TEST_DATABASE_URL)")
    if importlib.util.find_spec("locust") is None:  # never imported here: it monkey-patches with gevent
        pytest.skip("locust is not installed (pip install -e '.[load]')")
    parsed = make_url(normalise_database_url(url))
    load_url = parsed.set(database=f"{parsed.database}_load").render_as_string(hide_password=False)
    run = subprocess.run(
        [sys.executable, "-m", "bench.load", "--duration", "3", "--users", "4", "--workers", "2",
         "--teams", "4", "--labs", "2", "--instruments-per-lab", "4", "--no-scheduler",
         "--timeout", "150", "--database-url", load_url],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=180,
    )  # fmt: skip
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-4000:]
    assert "5xx and connection errors: 0" in output
    assert "PASS  flask ledger verify" in output and "FAIL" not in output
    assert re.search(r"^ALL +\d+ ", output, re.MULTILINE), output[-2000:]
