"""The database unreachable, hung or locked: every request ends within a bounded time, with 503
``service_unavailable`` (and ``Retry-After``) in the API's error shape or a friendly page, never a
500 and never a hang. Real failures: an unreachable PostgreSQL port, an unopenable SQLite file, a
server that accepts connections and never answers, a lock held by another connection."""

from __future__ import annotations

import socket
import threading
import time

import pytest
import sqlalchemy as sa

from booking.core.config import TestConfig
from booking.core.db import db, write_intent
from booking.core.outage import database_unavailable
from booking.factory import create_app
from tests.conftest import csrf_token

# These apps have engines of their own: run without the shared test transaction (db.session as in
# production, bound to the current app's engine).
pytestmark = pytest.mark.concurrency

PG_REFUSED = "postgresql+psycopg://postgres@127.0.0.1:1/nowhere"  # nothing listens on port 1


def app_for(url: str, tmp_path, **overrides):
    config = {k: getattr(TestConfig, k) for k in dir(TestConfig) if k.isupper()}
    app = create_app({**config, "SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "test-secret", **overrides})
    app.instance_path = str(tmp_path)
    return app


def _unreachable_url(kind: str, tmp_path) -> str:
    if kind == "postgresql":
        return PG_REFUSED
    return "sqlite:///" + str(tmp_path / "no-such-directory" / "booking.sqlite3")  # cannot be opened


def _assert_unavailable(response):
    assert response.status_code == 503, response.get_data(as_text=True)[:500]
    assert response.json == {
        "error": {"code": "service_unavailable", "message": response.json["error"]["message"], "details": {}}
    }
    assert response.json["error"]["message"]
    assert int(response.headers["Retry-After"]) > 0


@pytest.mark.parametrize("kind", ["postgresql", "sqlite"])
def test_database_down_is_503_service_unavailable_on_the_api(kind, tmp_path):
    app = app_for(_unreachable_url(kind, tmp_path), tmp_path)
    client = app.test_client()
    bearer = {"Authorization": "Bearer some-token"}
    _assert_unavailable(client.get("/api/v1/bookings", headers=bearer))
    _assert_unavailable(client.post("/api/v1/bookings", json={"team_id": 1}, headers=bearer))
    _assert_unavailable(client.post("/api/v1/auth/tokens", json={"email": "a@b.cn", "password": "x" * 12}))
    assert client.get("/healthz").status_code == 503  # unchanged: its own body
    with app.app_context():
        db.engine.dispose()


@pytest.mark.parametrize("kind", ["postgresql", "sqlite"])
def test_database_down_is_a_friendly_503_page(kind, tmp_path):
    app = app_for(_unreachable_url(kind, tmp_path), tmp_path)
    client = app.test_client()
    token = csrf_token(client, "/sign-in")  # the form itself needs no database
    form = {"email": "someone@example.cn", "password": "x" * 12, "csrf_token": token}
    page = client.post("/sign-in", data=form)  # looking the account up does
    assert page.status_code == 503
    assert int(page.headers["Retry-After"]) > 0
    html = page.get_data(as_text=True)
    assert page.mimetype == "text/html"
    assert "服务暂时无法使用" in html and "Traceback" not in html and "OperationalError" not in html
    with client.session_transaction() as session:
        session["locale"] = "en"
    assert "temporarily unavailable" in client.post("/sign-in", data=form).get_data(as_text=True)
    with app.app_context():
        db.engine.dispose()


@pytest.mark.parametrize("kind", ["postgresql", "sqlite"])
def test_database_down_for_a_signed_in_person_is_the_friendly_page(kind, tmp_path, make, client, login):
    """Signed in while the database was up (same secret key), then it goes away: loading the person
    (the rate limit's key, the page's menu) needs it, and still the answer is the 503 page."""
    login(make.user("founder"))
    down = app_for(_unreachable_url(kind, tmp_path), tmp_path).test_client()
    down.set_cookie("session", client.get_cookie("session").value)
    for path in ("/bookings", "/"):
        page = down.get(path)
        assert page.status_code == 503, (path, page.status_code)
        assert "服务暂时无法使用" in page.get_data(as_text=True)


def test_programming_errors_stay_500(tmp_path):
    """Only connection-level failures mean 'unavailable': a missing table is a bug, not an outage."""
    app = app_for("sqlite:///" + str(tmp_path / "empty.sqlite3"), tmp_path)  # no schema at all
    with app.app_context():
        with pytest.raises(sa.exc.OperationalError) as missing:
            db.session.execute(sa.text("SELECT * FROM users"))
        db.session.rollback()
        assert not database_unavailable(missing.value)
        db.engine.dispose()
    with pytest.raises(sa.exc.OperationalError, match="no such table"):  # TESTING propagates a 500's error
        app.test_client().get("/api/v1/bookings", headers={"Authorization": "Bearer t"})


class SilentServer:
    """A TCP server that accepts connections and never says a word: a hung database server."""

    def __init__(self):
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.socket.listen(16)
        self.port = self.socket.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.socket.accept()
            except OSError:
                return
            self.accepted.append(conn)

    def close(self):
        self.socket.close()
        for conn in self.accepted:
            conn.close()


def within(seconds: float, call, release=None):
    """Run ``call()`` on a thread; fail (not hang) if it has not returned after ``seconds``.
    ``release()`` then frees whatever blocks it, so the thread still ends."""
    result: list = []
    thread = threading.Thread(target=lambda: result.append(call()), daemon=True)
    started = time.monotonic()
    thread.start()
    thread.join(seconds)
    hung = thread.is_alive()
    if hung and release is not None:
        release()
        thread.join(60)
    assert not hung, f"the request still waited after {seconds} s"
    return result[0], time.monotonic() - started


def test_hung_database_server_is_503_within_the_connect_timeout(tmp_path):
    server = SilentServer()
    try:
        url = f"postgresql+psycopg://postgres@127.0.0.1:{server.port}/hung"
        app = app_for(url, tmp_path, DATABASE_CONNECT_TIMEOUT_SECONDS=2)
        client = app.test_client()
        response, elapsed = within(
            10, lambda: client.get("/api/v1/bookings", headers={"Authorization": "Bearer t"}), server.close
        )
        _assert_unavailable(response)
        assert elapsed < 6, elapsed  # libpq's default is to wait forever
        with app.app_context():
            db.engine.dispose()
    finally:
        server.close()


def test_request_blocked_by_a_lock_is_503_within_the_bound(app, make, database_url, tmp_path):
    """Another connection holds a lock the request needs (PostgreSQL: the booking's row, so the
    cancellation's FOR UPDATE waits; SQLite: the database's write lock). With small configured
    timeouts the request gives up with 503 and changes nothing."""
    from datetime import timedelta

    from tests.flow.test_booking_concurrency import ALWAYS_OPEN

    lab = make.lab()
    instrument = make.instrument(lab, hours=ALWAYS_OPEN, lead_minutes=0, max_minutes=600)
    owner = make.user("founder")
    team = make.team(owner=owner, verified=True)
    from datetime import UTC, datetime

    start = (datetime.now(UTC) + timedelta(days=3)).replace(hour=2, minute=0, second=0, microsecond=0)
    booking = make.booking(team, instrument, start, start + timedelta(hours=1), now=datetime.now(UTC))
    token = make.token_for(owner)

    short = {
        "DATABASE_STATEMENT_TIMEOUT_MS": 1500,
        "DATABASE_LOCK_TIMEOUT_MS": 500,
        "DATABASE_BUSY_TIMEOUT_MS": 500,
    }
    blocked_app = app_for(database_url, tmp_path, **short)
    with app.app_context():
        holder = db.engine.connect()
    try:
        with write_intent():  # SQLite: BEGIN IMMEDIATE, the database's write lock
            holder.begin()
        lock = (
            sa.select(sa.column("id")).select_from(sa.table("bookings")).where(sa.column("id") == booking.id)
        )
        holder.execute(lock.with_for_update())  # PostgreSQL: the row lock (SQLite has none, nor needs one)
        client = blocked_app.test_client()
        response, elapsed = within(
            15,
            lambda: client.post(
                f"/api/v1/bookings/{booking.id}/cancel", json={}, headers={"Authorization": f"Bearer {token}"}
            ),
            holder.rollback,
        )
    finally:
        holder.rollback()
        holder.close()
    _assert_unavailable(response)
    assert elapsed < 5, elapsed
    fetched = app.test_client().get(
        f"/api/v1/bookings/{booking.id}", headers={"Authorization": f"Bearer {token}"}
    )
    assert fetched.json["status"] == "confirmed"  # nothing changed
    with blocked_app.app_context():
        db.engine.dispose()


def test_database_timeouts_come_from_the_environment(monkeypatch):
    from booking.core.config import Config
    from booking.core.db import engine_options

    monkeypatch.setenv("DATABASE_STATEMENT_TIMEOUT_MS", "1234")
    monkeypatch.setenv("DATABASE_LOCK_TIMEOUT_MS", "567")
    monkeypatch.setenv("DATABASE_CONNECT_TIMEOUT_SECONDS", "7")
    monkeypatch.setenv("DATABASE_BUSY_TIMEOUT_MS", "890")
    settings = {k: getattr(Config, k) for k in dir(Config) if k.isupper()} | Config.from_environ()
    pg = engine_options({**settings, "SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://h/db"})["connect_args"]
    assert pg["connect_timeout"] == 7
    assert "-c statement_timeout=1234" in pg["options"] and "-c lock_timeout=567" in pg["options"]
    assert "-c idle_in_transaction_session_timeout=120000" in pg["options"]
    sqlite = engine_options({**settings, "SQLALCHEMY_DATABASE_URI": "sqlite:///x.sqlite3"})["connect_args"]
    assert sqlite["timeout"] == 0.89
