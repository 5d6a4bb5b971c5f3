"""The people's layout of the finance files: what finance staff download from the pages (and what the
API gives for ``layout=human``). The machine layout (``*_fen`` columns, codes, UTC instants) stays the
API's default; this one is built from it, one column at a time:

- headers in the user's language;
- yuan with two decimals, as exact numbers (``Decimal``; an XLSX number format ``#,##0.00``);
- times in Asia/Shanghai, to the second (a date cell in XLSX);
- payee kinds, resource kinds and operation modes as words;
- a totals row at the end (counts, amounts and hours summed), computed as the rows stream by.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from booking.core import sheets
from instruments.rules import zone
from vouchers.ledger import PERIOD_ZONE

LAYOUTS = ("machine", "human")


@dataclass(frozen=True)
class Column:
    label: object  # a lazy string: read in the language of the request (or the export)
    kind: str  # id, text, count, number, money, hours, score, percent, time, payee_kind, resource_kind, mode


# by machine column name
COLUMNS = {
    "payee_kind": Column(_l("Payee type"), "payee_kind"),
    "payee_id": Column(_l("Payee ID"), "id"),
    "payee_name": Column(_l("Payee"), "text"),
    "organization": Column(_l("Organisation"), "text"),
    "bookings": Column(_l("Number of bookings"), "count"),
    "total_fen": Column(_l("Actual cost (¥)"), "money"),
    "actual_cost_fen": Column(_l("Actual cost (¥)"), "money"),
    "municipal_fen": Column(_l("Municipal subsidy (¥)"), "money"),
    "district_fen": Column(_l("District subsidy (¥)"), "money"),
    "subsidy_fen": Column(_l("Subsidy total (¥)"), "money"),
    "team_fen": Column(_l("Team share (¥)"), "money"),
    "fee_fen": Column(_l("Fees (¥)"), "money"),
    "booking_id": Column(_l("Booking ID"), "id"),
    "settled_at": Column(_l("Settled at (China time)"), "time"),
    "team_id": Column(_l("Team ID"), "id"),
    "team_name": Column(_l("Team"), "text"),
    "resource_kind": Column(_l("Resource type"), "resource_kind"),
    "resource_name": Column(_l("Resource"), "text"),
    "lab_id": Column(_l("Lab ID"), "id"),
    "lab_name": Column(_l("Lab"), "text"),
    "instrument_id": Column(_l("Instrument ID"), "id"),
    "instrument_name": Column(_l("Instrument"), "text"),
    "operation_mode": Column(_l("Operation mode"), "mode"),
    "teams": Column(_l("Teams served"), "number"),  # distinct per row: a sum would count twice
    "hours_booked": Column(_l("Hours booked (h)"), "hours"),
    "hours_used": Column(_l("Hours used (h)"), "hours"),
    "opening_hours": Column(_l("Opening hours (h)"), "hours"),
    "utilisation_bp": Column(_l("Utilisation (%)"), "percent"),
    "income_fen": Column(_l("Income (¥)"), "money"),
    "service_id": Column(_l("Service ID"), "id"),
    "service_name": Column(_l("Testing service"), "text"),
    "orders_completed": Column(_l("Orders completed"), "count"),
    "orders_settled": Column(_l("Orders settled"), "count"),
    "samples_processed": Column(_l("Samples processed"), "count"),
    "ratings": Column(_l("Ratings"), "count"),
    "average_score": Column(_l("Average score"), "score"),  # a decimal, never summed
}
SUMMED = ("count", "money", "hours")
FORMATS = {"money": sheets.MONEY, "hours": sheets.DECIMAL, "percent": sheets.DECIMAL, "score": sheets.DECIMAL}


def yuan(fen: int) -> Decimal:
    """Fen as exact yuan with two decimals: 123450 → Decimal('1234.50')."""
    return Decimal(int(fen)).scaleb(-2)


def local_time(value) -> datetime | None:
    """A stored instant (aware, naive UTC from SQLite, or an ISO string) → naive Asia/Shanghai wall
    time to the second (spreadsheets hold no zone; the header names it)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(zone(PERIOD_ZONE)).replace(tzinfo=None, microsecond=0)


def _words() -> dict[str, dict[str, str]]:
    return {
        "payee_kind": {"lab": _("Lab"), "provider": _("Provider")},
        "resource_kind": {
            "compute": _("Compute"),
            "instrument": _("Instrument"),
            "service": _("Testing service"),
        },
        "mode": {
            "public_interest": _("Public interest"),
            "market": _("Market rate"),
            "project": _("Project-based"),
        },
    }


def _converter(kind: str, words: dict) -> Callable:
    if kind == "money":
        return lambda v: None if v is None else yuan(v)
    if kind in ("hours", "score"):
        return lambda v: None if v is None else Decimal(str(v))
    if kind == "percent":
        return lambda v: None if v is None else Decimal(int(v)).scaleb(-2)
    if kind == "time":
        return local_time
    if kind in words:
        names = words[kind]
        return lambda v: names.get(v, v)
    return lambda v: v


@dataclass
class Table:
    """A file's content: header, per-column XLSX number formats, the value rows (streamed) and, once
    they are read, an optional last row (the totals)."""

    header: list
    formats: list
    body: Iterator[list]
    footer: Callable[[], list | None] = lambda: None

    def rows(self) -> Iterator[list]:
        yield from self.body
        if (last := self.footer()) is not None:
            yield last


def human_table(machine_header: Sequence[str], machine_rows: Iterable[Sequence]) -> Table:
    """The people's layout of a machine table (same columns, same order, plus a totals row). Labels
    and words are read now, in the caller's language; rows convert lazily, so a large file streams."""
    columns = [COLUMNS[name] for name in machine_header]
    words = _words()
    convert = [_converter(c.kind, words) for c in columns]
    summed = [i for i, c in enumerate(columns) if c.kind in SUMMED]
    totals = dict.fromkeys(summed, Decimal(0))
    total_label = _("Total")

    def body() -> Iterator[list]:
        for values in machine_rows:
            row = [f(v) for f, v in zip(convert, values, strict=True)]
            for i in summed:
                if row[i] is not None:
                    totals[i] += row[i]
            yield row

    def footer() -> list:
        last = [None] * len(columns)
        last[0] = total_label
        for i in summed:
            total = totals[i]
            last[i] = int(total) if columns[i].kind == "count" else total.quantize(Decimal("0.01"))
        return last

    return Table(
        header=[str(c.label) for c in columns],
        formats=[FORMATS.get(c.kind) for c in columns],
        body=body(),
        footer=footer,
    )


def machine_table(machine_header: Sequence[str], machine_rows: Iterable[Sequence]) -> Table:
    return Table(header=list(machine_header), formats=[], body=iter(machine_rows))


def table(layout: str, machine_header: Sequence[str], machine_rows: Iterable[Sequence]) -> Table:
    maker = human_table if layout == "human" else machine_table
    return maker(machine_header, machine_rows)


def csv_pieces(table: Table) -> Iterator[str]:
    return sheets.csv_pieces(table.header, table.rows())


def xlsx_pieces(table: Table, title: str) -> Iterator[bytes]:
    return sheets.xlsx_pieces(table.header, table.rows(), title, table.formats)


def pieces(table: Table, fmt: str, title: str):
    return csv_pieces(table) if fmt == "csv" else xlsx_pieces(table, title)
