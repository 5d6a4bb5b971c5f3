"""Rate limits: failed sign-ins per account (HTML form and ``POST /api/v1/auth/tokens``), the general
per-client limit, 429 in the API error shape and a friendly page for browsers, and the Redis storage
that several web nodes share."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest

from tests.conftest import PASSWORD, csrf_token

ROOT = Path(__file__).resolve().parent.parent
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379


def _limit(app) -> int:
    return int(app.config["SIGN_IN_FAILURE_LIMIT"].split()[0])


def _html_sign_in(client, email, password):
    token = csrf_token(client, "/sign-in")
    return client.post("/sign-in", data={"email": email, "password": password, "csrf_token": token})


def test_html_sign_in_is_limited_per_account_with_a_friendly_page(client, make, app):
    victim, neighbour = make.user("founder"), make.user("founder")
    for _ in range(_limit(app)):
        assert _html_sign_in(client, victim.email, "guess-guess").status_code == 422
    blocked = _html_sign_in(client, victim.email, PASSWORD)  # even the right password, for now
    assert blocked.status_code == 429
    assert int(blocked.headers["Retry-After"]) > 0
    page = blocked.get_data(as_text=True)
    assert "此账号登录失败次数过多" in page and 'name="email"' in page  # the form again, in Chinese
    with client.session_transaction() as session:
        assert "_user_id" not in session
    client.get("/language/en")
    english = _html_sign_in(client, victim.email, PASSWORD).get_data(as_text=True)
    assert "Too many failed sign-ins for this account" in english
    # the same address may still sign in to another account (a campus shares one address)
    assert _html_sign_in(client, neighbour.email, PASSWORD).status_code == 302


def test_html_and_api_failures_count_together(client, make, app):
    user = make.user("founder")
    for i in range(_limit(app)):
        if i % 2:
            _html_sign_in(client, user.email, "guess-guess")
        else:
            client.post("/api/v1/auth/tokens", json={"email": user.email, "password": "guess-guess"})
    response = client.post("/api/v1/auth/tokens", json={"email": user.email, "password": PASSWORD})
    assert response.status_code == 429
    assert response.json["error"]["code"] == "rate_limited"
    assert set(response.json["error"]) == {"code", "message", "details"}
    assert response.json["error"]["details"]["retry_after_seconds"] > 0
    assert (
        abs(int(response.headers["Retry-After"]) - response.json["error"]["details"]["retry_after_seconds"])
        <= 1
    )


def test_the_general_limit_answers_429_in_the_api_shape(client, app):
    """Beyond ``RATELIMIT_DEFAULT`` requests a minute, one client (here: an address) gets 429."""
    allowed = int(app.config["RATELIMIT_DEFAULT"].split()[0])
    for _ in range(allowed):
        assert client.get("/api/v1/me").status_code == 401
    limited = client.get("/api/v1/me")
    assert limited.status_code == 429
    assert limited.json["error"]["code"] == "rate_limited"
    assert set(limited.json["error"]) == {"code", "message", "details"}
    assert "Retry-After" in limited.headers
    assert client.get("/api/v1/districts").status_code == 401  # the count is per route


# --- Redis: the storage several web nodes share ---------------------------------------------------------


def _redis_reachable() -> bool:
    try:
        with socket.create_connection((REDIS_HOST, REDIS_PORT), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@pytest.fixture
def redis_uri() -> str:
    if not _redis_reachable():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true but Redis is unreachable at {REDIS_HOST}:{REDIS_PORT}")
        pytest.skip(f"no Redis at {REDIS_HOST}:{REDIS_PORT}")
    return f"redis://{REDIS_HOST}:{REDIS_PORT}/0"


NODE = textwrap.dedent(
    """
    import sys
    from booking import create_app
    from booking.ratelimit import RateLimited, check_sign_in_allowed, limiter, record_failed_sign_in, _sign_in_limit

    uri, *actions = sys.argv[1:]
    app = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", "SECRET_KEY": "x", "RATELIMIT_STORAGE_URI": uri})
    with app.test_request_context():
        print(type(limiter.limiter.storage).__name__)
        for action in actions:
            mode, email = action.split(":", 1)
            if mode == "fail":
                for _ in range(int(app.config["SIGN_IN_FAILURE_LIMIT"].split()[0])):
                    record_failed_sign_in(email)
            elif mode == "clear":
                limiter.limiter.clear(_sign_in_limit(), "sign-in", email)
            else:
                try:
                    check_sign_in_allowed(email)
                    print("allowed")
                except RateLimited:
                    print("blocked")
    """
)


def _node(uri: str, *actions: str) -> list[str]:
    """One web node: a separate process with its own app, sharing only the limiter storage."""
    env = {**os.environ, "RATELIMIT_ENABLED": "true"}
    env.pop("RATELIMIT_STORAGE_URI", None)
    done = subprocess.run(
        [sys.executable, "-c", NODE, uri, *actions],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.split()


def test_failed_sign_ins_are_shared_between_nodes_through_redis(redis_uri):
    """Node A sees an account fail too often; node B (another process) refuses it too. With the
    default memory storage node B would not know (each process counts alone)."""
    email = f"victim-{uuid.uuid4().hex}@example.cn"
    other = f"other-{uuid.uuid4().hex}@example.cn"
    first = _node(redis_uri, f"fail:{email}", f"check:{email}", f"check:{other}")
    assert first == ["RedisStorage", "blocked", "allowed"]
    second = _node(redis_uri, f"check:{email}", f"clear:{email}", f"check:{email}")
    assert second == ["RedisStorage", "blocked", "allowed"]


def test_sign_in_goes_on_when_the_shared_store_is_down():
    """Redis unreachable (nothing listens on port 1): failures are not counted and sign-in stays
    possible — logged, never a 500 — instead of locking everyone out."""
    email = f"someone-{uuid.uuid4().hex}@example.cn"
    assert _node("redis://127.0.0.1:1/0", f"fail:{email}", f"check:{email}") == ["RedisStorage", "allowed"]
