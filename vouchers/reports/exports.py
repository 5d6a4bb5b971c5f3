"""Statement exports: what finance asks for and what goes into the file. Two kinds of file, each as CSV
(UTF-8 with a BOM, header always) or XLSX (openpyxl write-only), both through ``booking.core.sheets`` (no
cell can run as a formula), in the API's columns or the people's layout (``vouchers.reports.files``; what
the pages ask for, in the language of who asked):

- ``statement``: one row per payee, exactly ``vouchers.reports.statements.statement_rows`` (the same
  file as the direct download);
- ``statement_lines``: one row per settled booking (``vouchers.reports.statement_lines``), read in keyset
  pages, so a month of 100,000 bookings never sits in memory.

A background export is an ``Export`` row: ``request_export`` records it (pending) in the user's scope;
``visible_exports`` and ``export_for`` are who may see it; ``export_source`` is the table its file is
written from. Writing it, chunk by chunk, is ``vouchers.reports.export_runs``. Also here: the
per-programme rows of the statement page (``program_rows``) and the files' names and content types.
"""

from __future__ import annotations

from sqlalchemy import func, select

from booking.core import clock
from booking.core.db import db
from booking.core.errors import Invalid, NotFound
from booking.models import Booking, Team, User
from vouchers.models import Export, Program, Settlement, SubsidyLine
from vouchers.reports import files, statement_lines, statements
from vouchers.scope import check_period, scope_district

KINDS = ("statement", "statement_lines")
FORMATS = ("csv", "xlsx")
CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def filename(kind: str, fmt: str, period: str, district_code: str | None) -> str:
    stem = "statement" if kind == "statement" else "statement-lines"
    return f"{stem}-{period}" + (f"-{district_code}" if district_code else "") + f".{fmt}"


# --- what goes into the files ---------------------------------------------------------------------------


def program_rows(user: User, period: str, district_code: str | None = None) -> list[dict]:
    """The period's settled subsidy per programme (what each programme's vouchers paid), in the same
    scope as the payee statement; the rows sum to its ``subsidy_fen`` total."""
    district = scope_district(user, district_code)
    check_period(period)
    query = (
        select(
            SubsidyLine.program_id,
            Program.name,
            Program.level,
            Program.district_code,
            func.count(func.distinct(SubsidyLine.booking_id)),
            func.sum(SubsidyLine.settled_fen),
        )
        .join(Settlement, Settlement.booking_id == SubsidyLine.booking_id)
        .join(Program, Program.id == SubsidyLine.program_id)
        .where(Settlement.period == period, SubsidyLine.settled_fen > 0)
        .group_by(SubsidyLine.program_id, Program.name, Program.level, Program.district_code)
        .order_by(Program.level.desc(), SubsidyLine.program_id)
    )
    if district is not None:
        query = query.join(Booking, Booking.id == Settlement.booking_id).join(
            Team, Team.id == Booking.team_id
        )
        query = query.where(Team.district_code == district)
    return [
        {
            "program_id": program_id,
            "name": name,
            "level": level,
            "district_code": program_district,
            "bookings": int(count),
            "settled_fen": int(amount or 0),
        }
        for program_id, name, level, program_district, count, amount in db.session.execute(query)
    ]


def export_source(export: Export, user: User) -> tuple[int, files.Table]:
    """(rows_total, the file's table): the same table as the direct download builds."""
    period, district = export.params["period"], export.params.get("district_code")
    layout = export.params.get("layout", "machine")
    if export.kind == "statement":
        rows = statements.statement_rows(user, period, district)
        return len(rows), statements.statement_table(rows, layout)
    return (
        statement_lines.count_lines(user, period, district),
        statement_lines.lines_table(user, period, district, layout),
    )


# --- requests and who sees them -------------------------------------------------------------------------


def request_export(
    user: User,
    kind: str,
    fmt: str,
    period: str,
    district_code: str | None = None,
    layout: str = "machine",
    language: str | None = None,
) -> Export:
    """Record a pending export in the user's scope (a district office: its own district); ``layout``
    and ``language`` say how the file reads (the pages ask for the people's layout in their language)."""
    if kind not in KINDS:
        raise Invalid("Unknown export.", details={"kind": ["Unknown export."]})
    if fmt not in FORMATS:
        raise Invalid("CSV or XLSX.", details={"format": ["CSV or XLSX."]})
    check_period(period)
    district = scope_district(user, district_code)
    export = Export(
        requested_by_id=user.id,
        kind=kind,
        params={
            "period": period,
            "district_code": district,
            "format": fmt,
            "layout": layout if layout in files.LAYOUTS else "machine",
            "language": language,
        },
        district_code=district,
        status="pending",
        rows_done=0,
        filename=filename(kind, fmt, period, district),
        content_type=CONTENT_TYPES[fmt],
        created_at=clock.now(),
    )
    db.session.add(export)
    db.session.flush()
    return export


def visible_exports(user: User):
    query = select(Export)
    if user.role == "admin":
        return query
    return query.where(Export.requested_by_id == user.id)


def export_for(user: User, export_id: int) -> Export:
    export = db.session.scalar(visible_exports(user).where(Export.id == export_id))
    if export is None:
        raise NotFound("No such export.")
    return export
