"""Background statement exports: requested from the statements page, written by the ``exports`` job in
chunks with progress committed per chunk, shown on a progress page, and the same file as the direct
download."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from booking import jobs
from booking.core.db import db
from booking.jobs import JOBS
from tests.conftest import csrf_token, sign_in
from tests.vouchers.finance.conftest import AFTER, END, PERIOD, START, post_usage, run
from vouchers.models import Export, ExportChunk
from vouchers.reports import export_runs, statements


@pytest.fixture
def login(client):
    def _login(user):
        sign_in(client, user)
        client.get("/language/en")

    return _login


@pytest.fixture
def many(api, make, world, settled, app):
    """Five settled bookings in 2026-12 (the two of ``settled`` and three more)."""
    more = [make.compute_booking(world["team"], world["offer"], START, END) for _ in range(3)]
    for booking in more:
        post_usage(api, world, booking, "1")
    assert run(app).settled == 3
    return settled + more


def request_export(client, kind="statement", fmt="csv", period=PERIOD, district_code=""):
    page = f"/finance/statements?period={period}"
    token = csrf_token(client, page)
    response = client.post(
        "/finance/exports",
        data={
            "csrf_token": token,
            "kind": kind,
            "format": fmt,
            "period": period,
            "district_code": district_code,
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    match = re.fullmatch(r".*/finance/exports/(\d+)", response.headers["Location"])
    assert match, response.headers["Location"]
    return int(match.group(1))


def run_job(name, now):
    with _APP[0].app_context():
        return jobs.run_job(name, now)


_APP: list = []


@pytest.fixture(autouse=True)
def _remember_app(app):
    _APP[:] = [app]


def test_the_exports_job_is_registered():
    assert "exports" in JOBS and JOBS["exports"].every <= timedelta(minutes=1)


def test_statement_export_is_the_direct_download(client, login, world, many, app):
    login(world["municipal_officer"])
    export_id = request_export(client)
    pending = client.get(f"/finance/exports/{export_id}")
    assert pending.status_code == 200
    assert pending.headers["Refresh"] == "2"  # refreshes itself while waiting, no script
    body = pending.get_data(as_text=True)
    assert "<progress" in body and "Waiting to start" in body and "/download" not in body
    assert client.get(f"/finance/exports/{export_id}/download").status_code == 302  # not ready yet

    assert run_job("exports", AFTER) == {"written": 1, "removed": 0}

    done = client.get(f"/finance/exports/{export_id}")
    assert "Refresh" not in done.headers
    body = done.get_data(as_text=True)
    assert 'value="100"' in body and "Ready to download" in body
    assert f'/finance/exports/{export_id}/download"' in body
    background = client.get(f"/finance/exports/{export_id}/download")
    data = background.get_data()  # (a streamed body: read it before the next request)
    direct = client.get(f"/finance/statements/download?period={PERIOD}&format=csv").get_data()
    assert background.status_code == 200
    assert background.headers["Content-Disposition"] == f'attachment; filename="statement-{PERIOD}.csv"'
    assert data == direct and data.startswith(b"\xef\xbb\xbfPayee type,")  # the people's layout
    assert int(background.headers["Content-Length"]) == len(direct)


def test_lines_export_reports_progress_per_chunk(client, login, world, many, app, monkeypatch):
    login(world["municipal_officer"])
    export_id = request_export(client, kind="statement_lines")
    app.config["EXPORT_CHUNK_ROWS"] = 2
    seen = []
    beat = export_runs._beat

    def watching(export, rows_done):
        beat(export, rows_done)
        with app.app_context():  # another session: what the progress page would read (committed)
            stored = db.session.get(Export, export_id)
            seen.append((stored.status, stored.rows_done, stored.rows_total))

    monkeypatch.setattr(export_runs, "_beat", watching)
    monkeypatch.setattr(export_runs, "STORE_BYTES", 100)  # several stored pieces
    try:
        run_job("exports", AFTER)
    finally:
        app.config.pop("EXPORT_CHUNK_ROWS")
    assert seen == [("running", 2, 5), ("running", 4, 5)]
    with app.app_context():
        export = db.session.get(Export, export_id)
        assert (export.status, export.rows_done, export.rows_total, export.percent) == ("done", 5, 5, 100)
        assert db.session.scalar(select(func.count()).where(ExportChunk.export_id == export_id)) > 1
    background = client.get(f"/finance/exports/{export_id}/download").get_data()
    direct = client.get(f"/finance/statements/download?period={PERIOD}&format=csv&kind=statement_lines")
    assert background == direct.get_data()
    *lines, total = list(csv.DictReader(io.StringIO(background.decode("utf-8-sig"))))
    assert sorted(int(r["Booking ID"]) for r in lines) == sorted(b.id for b in many)
    assert total["Booking ID"] == "Total"
    statement = list(
        csv.DictReader(
            io.StringIO(
                client.get(f"/finance/statements/download?period={PERIOD}&format=csv")
                .get_data()
                .decode("utf-8-sig")
            )
        )
    )
    subsidy = "Subsidy total (¥)"
    assert (
        sum(Decimal(r[subsidy]) for r in lines) == Decimal(total[subsidy]) == Decimal(statement[-1][subsidy])
    )


def test_xlsx_export_has_the_cells_of_the_direct_download(client, login, world, many, app):
    login(world["municipal_officer"])
    for kind in ("statement", "statement_lines"):
        export_id = request_export(client, kind=kind, fmt="xlsx")
        run_job("exports", AFTER)
        background = client.get(f"/finance/exports/{export_id}/download")
        assert background.headers["Content-Type"].startswith("application/vnd.openxmlformats")
        background = background.get_data()
        direct = client.get(
            f"/finance/statements/download?period={PERIOD}&format=xlsx&kind={kind}"
        ).get_data()

        def cells(data):
            sheet = load_workbook(io.BytesIO(data)).active
            return sheet.title, list(sheet.iter_rows(values_only=True))

        assert cells(background) == cells(direct)
        assert len(cells(background)[1]) == (3 if kind == "statement" else 7)  # header + rows + totals


def test_exports_are_private_and_scoped(client, login, make, world, many, app):
    login(world["district_officer"])
    export_id = request_export(client, kind="statement_lines", district_code="500103")  # scoped to its own
    with app.app_context():
        export = db.session.get(Export, export_id)
        assert export.district_code == "500106" and export.filename == f"statement-lines-{PERIOD}-500106.csv"
    login(make.finance("500106"))  # a colleague of the same office does not see someone else's export
    assert client.get(f"/finance/exports/{export_id}").status_code == 404
    assert client.get(f"/finance/exports/{export_id}/download").status_code == 404
    login(make.user("founder"))
    assert client.get(f"/finance/exports/{export_id}").status_code == 403


def test_bad_export_requests_change_nothing(client, login, world, app):
    login(world["municipal_officer"])
    token = csrf_token(client, f"/finance/statements?period={PERIOD}")
    for data in (
        {"kind": "everything", "format": "csv", "period": PERIOD},
        {"kind": "statement", "format": "pdf", "period": PERIOD},
        {"kind": "statement", "format": "csv", "period": "2026-13"},
    ):
        response = client.post("/finance/exports", data={"csrf_token": token, **data})
        assert response.status_code == 302 and "/finance/statements" in response.headers["Location"]
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Export)) == 0


def test_a_failed_export_says_why_and_a_stale_one_is_taken_over(client, login, world, many, app, monkeypatch):
    login(world["municipal_officer"])
    export_id = request_export(client)

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(statements, "statement_rows", broken)
    run_job("exports", AFTER)
    body = client.get(f"/finance/exports/{export_id}").get_data(as_text=True)
    assert "The export failed: disk full" in body
    monkeypatch.undo()

    stale_id = request_export(client)
    with app.app_context():
        stale = db.session.get(Export, stale_id)
        stale.status, stale.heartbeat_at = "running", datetime.now(UTC) - timedelta(hours=1)
        db.session.commit()
        assert not export_runs.claim(export_id)  # failed: nobody takes it again
        db.session.rollback()
    run_job("exports", AFTER)
    with app.app_context():
        assert db.session.get(Export, stale_id).status == "done"


def test_finished_exports_are_forgotten_after_a_week(client, login, world, many, app):
    login(world["municipal_officer"])
    export_id = request_export(client)
    run_job("exports", AFTER)
    assert run_job("exports", AFTER + export_runs.KEEP_FOR + timedelta(days=1)) == {
        "written": 0,
        "removed": 1,
    }
    with app.app_context():
        assert db.session.get(Export, export_id) is None
        assert db.session.scalar(select(func.count()).select_from(ExportChunk)) == 0


def test_chinese_progress_page(client, login, world, many):
    login(world["municipal_officer"])
    export_id = request_export(client)
    client.get("/language/zh_CN")
    body = client.get(f"/finance/exports/{export_id}").get_data(as_text=True)
    assert "等待开始" in body and "本页面每隔几秒自动刷新。" in body


@pytest.mark.concurrency
def test_thread_runner_writes_the_export_after_the_request(client, login, world, many, app):
    """``EXPORTS_RUNNER=thread`` (the default outside tests): a daemon thread of the web process writes
    the export once the request that asked for it has committed; the progress page then offers it."""
    import time

    app.config["EXPORTS_RUNNER"] = "thread"
    try:
        login(world["municipal_officer"])
        export_id = request_export(client)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            page = client.get(f"/finance/exports/{export_id}")
            if "Refresh" not in page.headers:
                break
            time.sleep(0.1)
    finally:
        app.config.pop("EXPORTS_RUNNER")
    assert "Ready to download" in page.get_data(as_text=True)
    background = client.get(f"/finance/exports/{export_id}/download").get_data()
    direct = client.get(f"/finance/statements/download?period={PERIOD}&format=csv").get_data()
    assert background == direct
