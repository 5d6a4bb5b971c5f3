"""Browser tests: Debian's Chromium (``/usr/bin/chromium``, never a downloaded browser) driven by
Playwright against the app served on a free loopback port by werkzeug, in a thread of this process.

The served app is the session's ``app``, so it uses the test database and configuration (payments
fixtures included). Its requests run on their own pooled connections, so the data a test seeds is
committed for real (no SAVEPOINT around the test) and the database is wiped afterwards, as for the
``concurrency`` tests. The server runs on the real clock: tests seed times relative to now.

Without Chromium the tests are skipped locally and fail in CI (``CI=true``). A failed test leaves a
screenshot of its page in ``test-artifacts/``.
"""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from tests.conftest import PASSWORD, wipe_database
from tests.flow.payments.conftest import localstripe, payments_on  # noqa: F401 - fixtures reused here

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
TIMEOUT_MS = 10_000
CALL_REPORT = pytest.StashKey()


def pytest_collection_modifyitems(items):
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.browser)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call":
        item.stash[CALL_REPORT] = report
    return report


@pytest.fixture(autouse=True)
def isolated_db(app):
    """Overrides the SAVEPOINT isolation: the server's connections must see committed data."""
    yield None
    wipe_database(app)


@pytest.fixture(scope="session")
def live_server(app):
    """The app on http://127.0.0.1:<free port>, served by a werkzeug thread for the whole session."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


@pytest.fixture(scope="session")
def chromium():
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        message = f"{CHROMIUM} is missing (install Debian's chromium package)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # Playwright gives every launch its own temporary, empty profile (user-data dir).
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def _artifact_name(nodeid: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", nodeid).strip("_")[:180]


@pytest.fixture
def browser_context(request, chromium, live_server):
    """Makes fresh contexts (cookies, storage) for this test: ``browser_context(viewport=...)``.
    On failure, every open page is screenshotted before the contexts close."""
    contexts = []

    def new_context(**options):
        context = chromium.new_context(base_url=live_server, accept_downloads=True, **options)
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        return context

    yield new_context
    report = request.node.stash.get(CALL_REPORT, None)
    if report is not None and report.failed:
        ARTIFACTS.mkdir(exist_ok=True)
        for n, context in enumerate(contexts):
            for m, page in enumerate(context.pages):
                try:
                    page.screenshot(
                        path=str(ARTIFACTS / f"{_artifact_name(request.node.nodeid)}-{n}-{m}.png"),
                        full_page=True,
                    )
                except Exception as error:  # a crashed page must not hide the test's own failure
                    print(f"no screenshot: {error}")
    for context in contexts:
        context.close()


@pytest.fixture
def page(browser_context):
    """A desktop-sized page (1280×800) in a fresh context."""
    return browser_context(viewport={"width": 1280, "height": 800}).new_page()


def sign_in(page, email: str, password: str = PASSWORD, english: bool = True) -> None:
    """Sign in through the form; the UI is Chinese by default, ``english`` switches first."""
    from playwright.sync_api import expect

    page.goto("/sign-in")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page.get_by_role("heading", name="登录")).to_be_visible()
    if english:
        page.get_by_role("link", name="English").click()
        expect(page.locator("html")).to_have_attribute("lang", "en")
        page.get_by_label("E-mail").fill(email)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    else:
        page.get_by_label("邮箱").fill(email)
        page.get_by_label("密码").fill(password)
        page.get_by_role("button", name="登录").click()
        expect(page.get_by_role("button", name="退出登录")).to_be_visible()
