"""Writing background statement exports: claiming a pending export (or one whose writer stopped
beating), writing its file chunk by chunk with ``rows_done`` committed after each chunk (the progress
page reads it), then storing the file in ``export_chunks`` pieces so any web node can stream it back.

Who runs it (``EXPORTS_RUNNER``): ``thread`` (default outside tests) starts a daemon thread in the web
process right after the request that asked for it has committed — fine under the dev server and
gunicorn's sync/gthread workers; ``scheduler`` leaves it to the scheduler's ``exports`` job (every 15 s),
which also takes over any export whose writer stopped beating for ``STALE_AFTER`` (a worker restarted
mid-export), so nothing is ever stuck in "running".

Unlike the request views, ``run_export`` commits itself (per chunk): it is its own unit-of-work
boundary, like the outbox and card-capture jobs. What goes into the file, and who may ask for it, is
``vouchers.reports.exports``.
"""

from __future__ import annotations

import logging
import tempfile
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from flask import current_app
from flask_babel import force_locale
from sqlalchemy import delete, func, or_, select, update

from booking.core import clock, sheets
from booking.core.db import db, write_intent
from booking.models import User
from vouchers.models import Export, ExportChunk
from vouchers.reports.exports import export_source

log = logging.getLogger(__name__)

STORE_BYTES = 256 * 1024  # size of one stored piece of a finished file
STALE_AFTER = timedelta(minutes=5)
KEEP_FOR = timedelta(days=7)


def _wall_clock() -> datetime:
    return datetime.now(UTC)  # liveness is about real time, even when a job runs "as of" another instant


def claim(export_id: int) -> bool:
    """Take the export for writing: pending, or running with a writer that stopped beating. One
    conditional UPDATE, so two runners never write the same export."""
    now = _wall_clock()
    taken = db.session.execute(
        update(Export)
        .where(
            Export.id == export_id,
            or_(
                Export.status == "pending",
                (Export.status == "running") & (Export.heartbeat_at < now - STALE_AFTER),
            ),
        )
        .values(status="running", started_at=now, heartbeat_at=now, rows_done=0, error=None)
        .execution_options(synchronize_session=False)
    )
    return taken.rowcount == 1


def run_export(export_id: int, chunk_rows: int | None = None) -> Export:
    """Write a claimed export: progress committed every ``chunk_rows`` rows, then the file stored in
    pieces and the export marked done (or failed, with the reason)."""
    chunk_rows = chunk_rows or int(current_app.config.get("EXPORT_CHUNK_ROWS", 500))
    export = db.session.get(Export, export_id)
    user = db.session.get(User, export.requested_by_id)
    fmt = export.params["format"]
    done = 0

    def counted(rows: Iterator[list]) -> Iterator[list]:
        nonlocal done
        for done, row in enumerate(rows, start=1):
            yield row
            if done % chunk_rows == 0:  # the row is written: say so
                _beat(export, done)

    try:
        # headers and words in the language of the person who asked (no request here)
        with force_locale(export.params.get("language") or "zh_CN"):
            total, table = export_source(export, user)
        export.rows_total, export.rows_done = total, 0
        db.session.commit()
        table.body = counted(table.body)
        with tempfile.TemporaryFile() as handle:
            if fmt == "csv":
                for piece in sheets.csv_pieces(table.header, table.rows()):
                    handle.write(piece.encode())
            else:
                writer = sheets.XlsxWriter(export.params["period"], table.header, table.formats)
                for row in table.rows():
                    writer.append(row)
                writer.save(handle)
            handle.seek(0)
            db.session.execute(delete(ExportChunk).where(ExportChunk.export_id == export.id))
            seq = size = 0
            while data := handle.read(STORE_BYTES):
                chunk = ExportChunk(export_id=export.id, seq=seq, data=data)
                db.session.add(chunk)
                db.session.flush()
                db.session.expunge(chunk)  # written; do not keep the bytes in the session
                seq, size = seq + 1, size + len(data)
        export = db.session.get(Export, export_id)
        export.rows_done = done
        export.rows_total = done
        export.size_bytes = size
        export.status, export.finished_at, export.heartbeat_at = "done", clock.now(), _wall_clock()
        db.session.commit()
    except Exception as error:
        db.session.rollback()
        log.exception("export %s failed", export_id)
        export = db.session.get(Export, export_id)
        export.status, export.error = "failed", str(error)[:2000]
        export.finished_at = clock.now()
        db.session.commit()
    return export


def _beat(export: Export, rows_done: int) -> None:
    export.rows_done = rows_done
    export.heartbeat_at = _wall_clock()
    db.session.commit()


def file_chunks(export: Export) -> Iterator[bytes]:
    """The finished file, one stored piece per query (bounded memory whatever its size)."""
    count = db.session.scalar(select(func.count()).where(ExportChunk.export_id == export.id))
    for seq in range(count or 0):
        yield db.session.scalar(
            select(ExportChunk.data).where(ExportChunk.export_id == export.id, ExportChunk.seq == seq)
        )


def run_pending(now: datetime | None = None) -> dict:
    """The scheduler's ``exports`` job: write every pending export (and take over stale ones), then
    forget finished exports older than ``KEEP_FOR``."""
    now = now or clock.now()
    stale = _wall_clock() - STALE_AFTER
    ids = list(
        db.session.scalars(
            select(Export.id)
            .where(
                or_(
                    Export.status == "pending",
                    (Export.status == "running") & (Export.heartbeat_at < stale),
                )
            )
            .order_by(Export.id)
        )
    )
    done = 0
    for export_id in ids:
        if claim(export_id):
            db.session.commit()
            run_export(export_id)
            done += 1
        else:
            db.session.rollback()
    old = list(
        db.session.scalars(
            select(Export.id).where(
                Export.status.in_(("done", "failed")), Export.finished_at < now - KEEP_FOR
            )
        )
    )
    if old:
        db.session.execute(delete(ExportChunk).where(ExportChunk.export_id.in_(old)))
        db.session.execute(delete(Export).where(Export.id.in_(old)))
    return {"written": done, "removed": len(old)}


def runner() -> str:
    configured = current_app.config.get("EXPORTS_RUNNER")
    if configured in ("thread", "scheduler"):
        return configured
    return "scheduler" if current_app.testing else "thread"


def start_in_thread(export_id: int) -> threading.Thread:
    """Write the export in a daemon thread of this process (call after the request committed)."""
    app = current_app._get_current_object()

    def main() -> None:
        with app.app_context(), write_intent():
            try:
                if claim(export_id):
                    db.session.commit()
                    run_export(export_id)
                else:
                    db.session.rollback()
            except Exception:  # never kill the worker; the scheduler takes a stale export over
                log.exception("background export %s", export_id)
                db.session.rollback()

    thread = threading.Thread(target=main, name=f"export-{export_id}", daemon=True)
    thread.start()
    return thread
