"""Test fixtures: the app and schema once per session (built by the migrations), each test isolated
in a SAVEPOINT that is rolled back, factories for the domain objects, an API client with tokens.

``TEST_DATABASE_URL`` selects PostgreSQL; without it the tests run on a fresh SQLite file. When it is
set the database must be reachable: the run fails, it never skips.
"""

from __future__ import annotations

import os
import re

import flask_migrate
import pytest
import sqlalchemy as sa
from flask_sqlalchemy.session import _app_ctx_id
from sqlalchemy import orm

from booking.core.config import TestConfig, normalise_database_url
from booking.core.db import db
from booking.factory import create_app
from tests.support.factories import Factory

PASSWORD = "correct horse battery"


def _reset_postgres(url: str) -> None:
    """An empty schema; and commits that do not wait for the WAL flush (``synchronous_commit = off``,
    for every later connection to the test database, the app's and its subprocesses' alike): a commit
    is as visible and as atomic as before, only a crash of the PostgreSQL server itself could lose the
    last ones, which no test does. The tests that commit for real (concurrency, browser, subprocesses)
    and the wipes after them stop waiting on the disk."""
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    name = sa.engine.make_url(url).database
    try:
        with engine.connect() as conn:
            conn.execute(sa.text(f'ALTER DATABASE "{name}" SET synchronous_commit = off'))
            conn.execute(sa.text("DROP SCHEMA IF EXISTS public CASCADE"))
            conn.execute(sa.text("CREATE SCHEMA public"))
    except sa.exc.OperationalError as error:
        pytest.exit(f"TEST_DATABASE_URL is set but PostgreSQL is unreachable: {error}", returncode=3)
    finally:
        engine.dispose()


def _worker_database(url: str) -> str:
    """Under pytest-xdist each worker process gets its own PostgreSQL database beside the one named
    (``test_gw0``, ``test_gw1``...), created when missing, so workers never see each other's rows."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker:
        return url
    parsed = sa.engine.make_url(url)
    name = f"{parsed.database}_{worker}"
    admin = sa.create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            if not conn.scalar(sa.text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}):
                conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as error:
        pytest.exit(f"TEST_DATABASE_URL is set but PostgreSQL is unreachable: {error}", returncode=3)
    finally:
        admin.dispose()
    return parsed.set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def database_url(tmp_path_factory) -> str:
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        url = _worker_database(normalise_database_url(url))
        _reset_postgres(url)
        return url
    return "sqlite:///" + str(tmp_path_factory.mktemp("db") / "test.sqlite3")


@pytest.fixture(scope="session")
def app(database_url, tmp_path_factory):
    app = create_app(
        {
            **{k: getattr(TestConfig, k) for k in dir(TestConfig) if k.isupper()},
            "SQLALCHEMY_DATABASE_URI": database_url,
            "SECRET_KEY": "test-secret",
        }
    )
    app.instance_path = str(tmp_path_factory.mktemp("instance"))
    with app.app_context():
        flask_migrate.upgrade()
    yield app
    with app.app_context():
        db.engine.dispose()


def wipe_database(app) -> None:
    """Delete every row but the reference data (after tests that commit for real)."""
    tables = [t for t in reversed(db.metadata.sorted_tables) if t.name != "districts"]
    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            # TRUNCATE: the ledger's append-only triggers refuse row deletes
            db.session.execute(
                sa.text(f"TRUNCATE {', '.join(t.name for t in tables)} RESTART IDENTITY CASCADE")
            )
        else:
            for table in tables:
                db.session.execute(table.delete())
        db.session.commit()


def _assert_ledger_sound(request, app) -> None:
    """``ledger verify`` after every test: whatever a test did through the app, the ledger's
    invariants hold (each transaction sums to zero, balances equal their postings, nothing negative,
    programmes and vouchers add up, the running totals agree). Tests that break the ledger on purpose
    to see it caught are marked ``ledger_tampered``."""
    if request.node.get_closest_marker("ledger_tampered"):
        return
    from vouchers.verify import ledger_breaches

    with app.app_context():
        breaches = ledger_breaches()
    assert breaches == [], f"ledger verify after {request.node.nodeid}: {breaches[:5]}"


@pytest.fixture(autouse=True)
def isolated_db(request, app):
    """Run the test inside one outer transaction; every commit in it only releases a SAVEPOINT.

    Tests marked ``concurrency`` need real, separate connections that commit: they run without the
    outer transaction, and the database is wiped afterwards.
    """
    if request.node.get_closest_marker("concurrency"):
        yield None
        try:
            _assert_ledger_sound(request, app)
        finally:
            wipe_database(app)
        return
    with app.app_context():
        engine = db.engine
    connection = engine.connect()
    outer = connection.begin()
    original = db.session
    db.session = orm.scoped_session(
        orm.sessionmaker(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False),
        scopefunc=_app_ctx_id,
    )
    try:
        yield connection
        if outer.is_active:
            _assert_ledger_sound(request, app)
    finally:
        db.session = original  # each app context already closed its own session at teardown
        if outer.is_active:
            outer.rollback()
        connection.close()


@pytest.fixture(autouse=True)
def fresh_rate_limits(app):
    """Rate-limit counters live outside the database: start every test from zero."""
    from booking.core.ratelimit import limiter

    with app.app_context():
        limiter.reset()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def make(app) -> Factory:
    return Factory(app, PASSWORD)


class ApiClient:
    """The test client with a bearer token for one user: ``api.as_(user).post(...)``."""

    def __init__(self, client, factory: Factory, user=None):
        self._client = client
        self._factory = factory
        self.user = user
        self._token = factory.token_for(user) if user is not None else None

    def as_(self, user) -> ApiClient:
        return ApiClient(self._client, self._factory, user)

    def _headers(self, headers):
        merged = dict(headers or {})
        if self._token:
            merged.setdefault("Authorization", f"Bearer {self._token}")
        return merged

    def get(self, path, **kw):
        return self._client.get(path, headers=self._headers(kw.pop("headers", None)), **kw)

    def post(self, path, **kw):
        return self._client.post(path, headers=self._headers(kw.pop("headers", None)), **kw)

    def put(self, path, **kw):
        return self._client.put(path, headers=self._headers(kw.pop("headers", None)), **kw)

    def patch(self, path, **kw):
        return self._client.patch(path, headers=self._headers(kw.pop("headers", None)), **kw)

    def delete(self, path, **kw):
        return self._client.delete(path, headers=self._headers(kw.pop("headers", None)), **kw)


@pytest.fixture
def api(client, make) -> ApiClient:
    return ApiClient(client, make)


CSRF_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


def csrf_token(client, path: str) -> str:
    page = client.get(path, follow_redirects=True)  # "/" sends most roles on to their console
    match = CSRF_RE.search(page.get_data(as_text=True))
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def sign_in(client, user, password: str = PASSWORD):
    """Sign in through the HTML form, CSRF token and all."""
    token = csrf_token(client, "/sign-in")
    response = client.post("/sign-in", data={"email": user.email, "password": password, "csrf_token": token})
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    return response


@pytest.fixture
def login(client):
    def _login(user, password: str = PASSWORD):
        return sign_in(client, user, password)

    return _login
