"""A real localstripe server on a free loopback port (a subprocess, started once per session) and
fixtures that point the app's payments client at it for one test."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

import pytest
import requests

from booking.core import clock

CST = timezone(timedelta(hours=8))
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=CST)  # a Tuesday morning in Chongqing
WEBHOOK_SECRET = "whsec_test_secret"


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 12, day, hour, minute, tzinfo=CST)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def localstripe():
    port = free_port()
    exe = shutil.which("localstripe") or str(
        __import__("pathlib").Path(sys.executable).parent / "localstripe"
    )
    process = subprocess.Popen(
        [exe, "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    try:
        while True:
            try:
                requests.get(base + "/v1/payment_intents", auth=("sk_test_x", ""), timeout=1)
                break
            except requests.ConnectionError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("localstripe did not start") from None
                time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)


def _configure(app, base: str, **extra):
    saved = {
        k: app.config.get(k) for k in ("PAYMENTS_API_BASE", "PAYMENTS_API_KEY", "PAYMENTS_WEBHOOK_SECRET")
    }
    saved.update({k: app.config.get(k) for k in extra})
    app.config.update(
        PAYMENTS_API_BASE=base,
        PAYMENTS_API_KEY="sk_test_12345",
        PAYMENTS_WEBHOOK_SECRET=WEBHOOK_SECRET,
        PAYMENTS_BACKOFF_SECONDS=0.0,
        PAYMENTS_BACKOFF_CAP_SECONDS=0.0,
        **extra,
    )
    app.extensions.pop("payments", None)
    return saved


@pytest.fixture
def payments_on(app, localstripe):
    """The app talks to localstripe for this test (its data wiped first)."""
    requests.delete(localstripe + "/_config/data", timeout=5)
    saved = _configure(app, localstripe)
    yield localstripe
    app.config.update(saved)
    app.extensions.pop("payments", None)


@pytest.fixture
def fake_payments(app):
    """The app talks to a URL served by the ``responses`` library (fault tests)."""
    base = "http://payments.invalid"
    saved = _configure(app, base, PAYMENTS_TIMEOUT_SECONDS=(0.5, 0.5), PAYMENTS_MAX_RETRIES=3)
    yield base
    app.config.update(saved)
    app.extensions.pop("payments", None)


@pytest.fixture
def lab_world(make):
    manager = make.user("lab_manager")
    lab = make.lab(manager=manager)
    owner = make.user("founder")
    team = make.team(owner=owner, verified=True)
    instrument = make.instrument(lab, hourly_rate_fen=10_000, free_cancel_hours=24, late_cancel_fee_bp=5000)
    admin = make.user("admin")
    return {
        "manager": manager,
        "lab": lab,
        "owner": owner,
        "team": team,
        "instrument": instrument,
        "admin": admin,
    }


def book(api, world, starts_at=None, ends_at=None, now=NOW, headers=None, **extra):
    body = {
        "team_id": world["team"].id,
        "instrument_id": world["instrument"].id,
        "starts_at": (starts_at or at(3, 10)).isoformat(),
        "ends_at": (ends_at or at(3, 12)).isoformat(),
        **extra,
    }
    with clock.frozen_at(now):
        return api.as_(world["owner"]).post("/api/v1/bookings", json=body, headers=headers)
