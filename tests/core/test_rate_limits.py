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

ROOT = Path(__file__).resolve().parents[2]
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
    from limits import parse
    from booking.factory import create_app
    from booking.core.ratelimit import limiter

    uri, *actions = sys.argv[1:]
    app = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", "SECRET_KEY": "x", "RATELIMIT_STORAGE_URI": uri})
    item = parse("3 per minute")
    with app.test_request_context():
        print(type(limiter.limiter.storage).__name__)
        for action in actions:
            mode, key = action.split(":", 1)
            if mode == "hit":
                for _ in range(item.amount):
                    limiter.limiter.hit(item, key)
            elif mode == "clear":
                limiter.limiter.clear(item, key)
            else:
                print("allowed" if limiter.limiter.test(item, key) else "blocked")
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


def test_request_limits_are_shared_between_nodes_through_redis(redis_uri):
    """Node A uses up a client's limit; node B (another process) refuses that client too. With the
    default memory storage node B would not know (each process counts alone). Failed sign-ins do not
    need this: they are counted in the database (tests/people/test_sign_in_limits.py)."""
    client = f"addr:{uuid.uuid4().hex}"
    other = f"addr:{uuid.uuid4().hex}"
    first = _node(redis_uri, f"hit:{client}", f"check:{client}", f"check:{other}")
    assert first == ["RedisStorage", "blocked", "allowed"]
    second = _node(redis_uri, f"check:{client}", f"clear:{client}", f"check:{client}")
    assert second == ["RedisStorage", "blocked", "allowed"]


DOWN_NODE = textwrap.dedent(
    """
    import sys
    from booking.factory import create_app
    from booking.people import accounts
    from booking.core.db import db

    uri, database = sys.argv[1:]
    app = create_app({"SQLALCHEMY_DATABASE_URI": database, "SECRET_KEY": "x", "RATELIMIT_STORAGE_URI": uri,
                      "PASSWORD_HASH_PROFILE": "CHEAPEST"})
    with app.app_context():
        db.create_all()
        accounts.create_user(email="a@example.cn", password="correct horse battery", name="A", role="founder")
        db.session.commit()
    client = app.test_client()
    for _ in range(int(app.config["SIGN_IN_FAILURE_LIMIT"].split()[0]) + 1):
        body = {"email": "a@example.cn", "password": "guess-guess"}
        print(client.post("/api/v1/auth/tokens", json=body).status_code)
    """
)


def test_sign_in_and_its_limit_go_on_when_the_shared_store_is_down(tmp_path, app):
    """Redis unreachable (nothing listens on port 1): requests are served (logged, never a 500) and
    failed sign-ins are still limited, because they are counted in the database, not in Redis."""
    env = {**os.environ, "RATELIMIT_ENABLED": "true"}
    env.pop("RATELIMIT_STORAGE_URI", None)
    database = "sqlite:///" + str(tmp_path / "node.sqlite3")
    done = subprocess.run(
        [sys.executable, "-c", DOWN_NODE, "redis://127.0.0.1:1/0", database],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["401"] * _limit(app) + ["429"]
