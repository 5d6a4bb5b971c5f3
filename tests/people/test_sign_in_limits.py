"""Failed sign-ins per account, counted in the database: every worker and node sees the same count,
and the count is taken atomically (no check-then-hit race), on SQLite and PostgreSQL alike."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest

from booking.core import clock
from tests.conftest import CSRF_RE, PASSWORD
from tests.support.concurrency import run_concurrently

ROOT = Path(__file__).resolve().parents[2]


def _limit(app) -> int:
    return int(app.config["SIGN_IN_FAILURE_LIMIT"].split()[0])


def _token(client, email, password):
    return client.post("/api/v1/auth/tokens", json={"email": email, "password": password})


def test_an_unknown_email_is_limited_like_a_real_account(client, make, app):
    """Same answers, in the same order, for an account that exists and one that does not."""
    user = make.user("founder")
    known = [_token(client, user.email, "guess-guess") for _ in range(_limit(app) + 1)]
    unknown = [_token(client, "nobody-here@example.cn", "guess-guess") for _ in range(_limit(app) + 1)]
    assert [r.status_code for r in known] == [401] * _limit(app) + [429]
    assert [r.status_code for r in unknown] == [r.status_code for r in known]
    assert unknown[-1].json["error"]["code"] == known[-1].json["error"]["code"] == "rate_limited"
    assert unknown[0].json == known[0].json


def test_an_unknown_email_costs_the_same_password_hash_work(client, make, app, monkeypatch):
    from argon2 import PasswordHasher

    calls = []
    original = PasswordHasher.verify
    monkeypatch.setattr(PasswordHasher, "verify", lambda self, h, p: calls.append(h) or original(self, h, p))
    user = make.user("founder")
    _token(client, user.email, "guess-guess")
    _token(client, "nobody-here@example.cn", "guess-guess")
    assert len(calls) == 2


def test_a_success_resets_the_count(client, make, app):
    user = make.user("founder")
    for _ in range(_limit(app) - 1):
        assert _token(client, user.email, "guess-guess").status_code == 401
    assert _token(client, user.email, PASSWORD).status_code == 201
    for _ in range(_limit(app)):
        assert _token(client, user.email, "guess-guess").status_code == 401
    assert _token(client, user.email, PASSWORD).status_code == 429


def test_the_window_ends_after_fifteen_minutes_and_retry_after_says_when(client, make, app):
    user = make.user("founder")
    start = clock.now()
    with clock.frozen_at(start):
        for _ in range(_limit(app)):
            _token(client, user.email, "guess-guess")
    with clock.frozen_at(start + timedelta(minutes=5)):
        blocked = _token(client, user.email, PASSWORD)
        assert blocked.status_code == 429
        assert blocked.json["error"]["details"]["retry_after_seconds"] == 600
        # flask-limiter re-writes the header from the real clock, truncating: within a second
        assert abs(int(blocked.headers["Retry-After"]) - 600) <= 1
    with clock.frozen_at(start + timedelta(minutes=15, seconds=1)):
        assert _token(client, user.email, PASSWORD).status_code == 201


# --- real concurrency: threads with their own connections, and separate processes --------------------------


def _html_attempt(email, password):
    def call(client):
        token = CSRF_RE.search(client.get("/sign-in").get_data(as_text=True)).group(1)
        return client.post("/sign-in", data={"email": email, "password": password, "csrf_token": token})

    return call


@pytest.mark.concurrency
@pytest.mark.parametrize("surface", ["api", "html"])
def test_a_concurrent_burst_lets_exactly_the_limit_through(app, make, surface):
    """30 wrong passwords for one account at the same moment: exactly 10 are checked (401, or 422 for
    the form), the other 20 are refused with 429 — no check-then-hit race lets extra guesses in."""
    user = make.user("founder")
    if surface == "api":
        calls = [lambda c: _token(c, user.email, "guess-guess")] * 30
        wrong = 401
    else:
        calls = [_html_attempt(user.email, "guess-guess")] * 30
        wrong = 422
    statuses = Counter(r.status_code for r in run_concurrently(app, calls))
    assert statuses == {wrong: _limit(app), 429: 30 - _limit(app)}, statuses


NODE = textwrap.dedent(
    """
    import sys
    from booking.factory import create_app
    from booking.core.config import TestConfig

    url, email, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    settings = {k: getattr(TestConfig, k) for k in dir(TestConfig) if k.isupper()}
    app = create_app({**settings, "SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "x", "RATELIMIT_ENABLED": True})
    client = app.test_client()
    sys.stdin.readline()  # start together
    for _ in range(count):
        response = client.post("/api/v1/auth/tokens", json={"email": email, "password": "guess-guess"})
        print(response.status_code, flush=True)
    """
)


@pytest.mark.concurrency
def test_separate_processes_share_one_count(app, make, database_url):
    """Four processes (like gunicorn -w 4, each with its own in-memory limiter) try 8 wrong passwords
    each for one account: 10 are checked in all, not 10 per process."""
    user = make.user("founder")
    env = {**os.environ, "RATELIMIT_ENABLED": "true"}
    env.pop("RATELIMIT_STORAGE_URI", None)
    nodes = [
        subprocess.Popen(
            [sys.executable, "-c", NODE, database_url, user.email, "8"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    outputs = []
    for node in nodes:
        node.stdin.write("go\n")
        node.stdin.flush()
    for node in nodes:
        out, err = node.communicate(timeout=120)
        assert node.returncode == 0, err[-2000:]
        outputs += out.split()
    assert Counter(outputs) == {"401": _limit(app), "429": 32 - _limit(app)}, Counter(outputs)


def test_ended_windows_are_forgotten(client, app):
    """Attempts for e-mails nobody owns would pile up: windows that have ended are deleted when a new
    window starts, so the table holds about one row per e-mail tried in the last 15 minutes."""
    from sqlalchemy import func, select

    from booking.core.db import db
    from booking.models import SignInAttempt

    def rows() -> int:
        with app.app_context():
            return db.session.scalar(select(func.count()).select_from(SignInAttempt))

    start = clock.now()
    with clock.frozen_at(start):
        for n in range(5):
            _token(client, f"typo{n}@example.cn", "guess-guess")
    assert rows() == 5
    with clock.frozen_at(start + timedelta(minutes=16)):
        _token(client, "someone-else@example.cn", "guess-guess")
    assert rows() == 1
