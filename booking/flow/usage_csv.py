"""Usage as a CSV file: reading the file, checking its header, turning each row into the record the
API takes, and saying in people's words what is wrong with a row (the rule is ``usage.record_problems``,
the same as ``POST /api/v1/usage-records``).

A file is read whole before anything is stored: a file that is not UTF-8, lacks a column, has a
malformed value in any row or more than 10,000 rows is refused with the reasons and changes nothing.
A well-formed file is then ingested like one API batch (``usage.ingest``), and each row is reported
as accepted, duplicate (sent before, or repeated in the file) or rejected (with the reason).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from booking.core.db import db
from booking.flow import usage
from booking.models import UsageRecord, User

COLUMNS = ("external_id", "booking_id", "started_at", "ended_at", "gpu_hours")
MAX_LISTED_ERRORS = 30
REJECTION_REASONS = {
    "unknown_booking": _l("No compute booking of yours has this booking_id."),
    "invalid": _l("The record is malformed."),
}


class CsvRefused(Exception):
    """The file as a whole is refused; ``messages`` say why (with row numbers)."""

    def __init__(self, messages: list[str]):
        super().__init__(messages)
        self.messages = messages


def row_record(values: dict[str, str]) -> dict:
    """The record as the API takes it: the booking id a number when the cell is one (otherwise the
    text, which the rule refuses), the timestamps and GPU-hours the text written (never floats)."""
    booking_id = values["booking_id"]
    if booking_id.isascii() and booking_id.isdigit() and len(booking_id) <= 16:
        return {**values, "booking_id": int(booking_id)}
    return dict(values)


@dataclass
class CsvRow:
    line: int
    values: dict[str, str]
    outcome: str = ""
    reason: str = ""

    def record(self) -> dict:
        return row_record(self.values)


def _shown(value: str) -> str:
    return value if len(value) <= 40 else value[:39] + "…"


def problem_message(problem: usage.Problem, values: dict[str, str]) -> str:
    """What a person reads for one of ``usage.record_problems``' findings on a row."""
    value = _shown(values.get(problem.field, ""))
    if problem.code == "length":
        return _("external_id must have 1 to 200 characters.")
    if problem.code == "unstorable":
        return _("external_id must not contain control characters such as NUL.")
    if problem.code == "not_id":
        return _("booking_id must be a booking number, not “%(value)s”.", value=value)
    if problem.code == "not_instant":
        return _(
            "%(column)s must be a time with its UTC offset, e.g. 2026-03-02T10:00:00+08:00, not “%(value)s”.",
            column=problem.field,
            value=value,
        )
    if problem.code == "out_of_range":
        return _(
            "%(column)s must be between the years 1900 and 2199, not “%(value)s”.",
            column=problem.field,
            value=value,
        )
    if problem.code == "order":
        return _("ended_at is before started_at.")
    return _(
        "gpu_hours must be a decimal number with a dot and at most 6 decimals, e.g. 1.5, not “%(value)s”.",
        value=value,
    )


def row_problems(values: dict[str, str]) -> list[str]:
    return [problem_message(p, values) for p in usage.record_problems(row_record(values))]


def read_usage_csv(data: bytes) -> list[CsvRow]:
    """The file's rows, each well-formed; or CsvRefused. Blank lines are skipped; extra columns are
    ignored; decimals are kept as the text written (never floats)."""
    try:
        text = data.decode("utf-8-sig")  # a byte order mark (Excel's "CSV UTF-8") is fine
    except UnicodeDecodeError:
        raise CsvRefused([_("The file is not UTF-8 text. Save it as “CSV UTF-8” and upload it again.")])
    if "\x00" in text:
        raise CsvRefused([_("The file is not a CSV text file.")])
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
        if header is None:
            raise CsvRefused([_("The file is empty.")])
        names = [name.strip().lower() for name in header]
        missing = [c for c in COLUMNS if c not in names]
        if missing:
            raise CsvRefused(
                [
                    _(
                        "Missing column(s): %(missing)s. The first row must name the columns %(columns)s.",
                        missing=", ".join(missing),
                        columns=", ".join(COLUMNS),
                    )
                ]
            )
        repeated = sorted({c for c in COLUMNS if names.count(c) > 1})
        if repeated:
            raise CsvRefused([_("Column(s) named twice: %(columns)s.", columns=", ".join(repeated))])
        where = {c: names.index(c) for c in COLUMNS}
        rows: list[CsvRow] = []
        errors: list[str] = []
        error_count = 0
        for cells in reader:
            if not any(cell.strip() for cell in cells):
                continue
            if len(rows) == usage.MAX_BATCH:
                raise CsvRefused(
                    [
                        _(
                            "The file has more than %(max)s rows. Split it into files of at most %(max)s rows.",
                            max=f"{usage.MAX_BATCH:,}",
                        )
                    ]
                )
            line = reader.line_num
            values = {c: (cells[i].strip() if i < len(cells) else "") for c, i in where.items()}
            problems = row_problems(values)
            if problems:
                error_count += 1
                if len(errors) < MAX_LISTED_ERRORS:
                    errors.append(_("Line %(line)s: %(problems)s", line=line, problems=" ".join(problems)))
            rows.append(CsvRow(line, values))
    except csv.Error as error:
        raise CsvRefused([_("Line %(line)s is not valid CSV: %(error)s", line=reader.line_num, error=error)])
    if error_count > len(errors):
        errors.append(_("… and %(count)s more rows with errors.", count=error_count - len(errors)))
    if errors:
        raise CsvRefused(errors)
    if not rows:
        raise CsvRefused([_("The file has no records, only the column names.")])
    return rows


def _known_external_ids(provider_id: int, external_ids: list[str]) -> set[str]:
    known: set[str] = set()
    for start in range(0, len(external_ids), 5000):
        chunk = external_ids[start : start + 5000]
        known.update(
            db.session.scalars(
                select(UsageRecord.external_id).where(
                    UsageRecord.provider_id == provider_id, UsageRecord.external_id.in_(chunk)
                )
            )
        )
    return known


def ingest_rows(provider_user: User, rows: list[CsvRow]) -> usage.IntakeResult:
    """One ``usage.ingest`` batch, as the API sends it; then each row's outcome. Records already
    received are looked up first, so that each row can say "duplicate" (the counts are ingest's)."""
    known = _known_external_ids(provider_user.provider_id, sorted({r.values["external_id"] for r in rows}))
    result = usage.ingest(provider_user, [r.record() for r in rows])
    rejected = {r["external_id"]: r["code"] for r in result.rejected}
    seen: set[str] = set()
    for row in rows:
        external_id = row.values["external_id"]
        if external_id in seen:
            row.outcome, row.reason = "duplicate", _("Repeated in this file.")
        elif external_id in rejected:
            code = rejected[external_id]
            row.outcome, row.reason = "rejected", str(REJECTION_REASONS.get(code, code))
        elif external_id in known:
            row.outcome, row.reason = "duplicate", _("Received before.")
        else:
            row.outcome = "accepted"
        seen.add(external_id)
    return result
