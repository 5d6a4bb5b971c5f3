"""Every CSV and XLSX the platform writes goes through here, so no cell can run as a formula.

Text a spreadsheet could read as a formula (the OWASP CSV-injection rule: a cell starting with
``= + - @``, tab, CR or LF — also after leading spaces, and the full-width ``＝ ＋ － ＠`` that some
spreadsheet programs fold to ASCII) gets a leading ``'``, in CSV and XLSX alike; in XLSX every text
cell is also written as a string, never as a formula or an error value. Numbers (``int``,
``Decimal``) stay numbers: a negative amount is ``-5.00``, not text.

A column may carry an XLSX number format (``MONEY``: yuan with two decimals); a naive ``datetime`` is
a date cell in XLSX and ``YYYY-MM-DD HH:MM:SS`` in CSV.
"""

from __future__ import annotations

import csv
import io
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from decimal import Decimal
from typing import IO

FORMULA_STARTS = tuple("=+-@\t\r\n\uff1d\uff0b\uff0d\uff20")
MONEY = "#,##0.00"  # yuan, two decimals, thousands separated
DECIMAL = "0.00"
DATETIME = "yyyy-mm-dd hh:mm:ss"


_STARTS = frozenset(FORMULA_STARTS)
_SPACES = " \u3000"


def neutralise(text: str) -> str:
    """``text`` as inert text: a leading ``'`` when a spreadsheet could take it for a formula."""
    if not text:
        return text
    first = text[0]
    if first in _STARTS or (first in _SPACES and text.lstrip(_SPACES)[:1] in _STARTS):
        return "'" + text
    return text


def csv_value(value):
    """One CSV field: text neutralised, numbers as they are, a time to the second, None empty."""
    if value.__class__ is str:
        return neutralise(value)
    if value is None:
        return ""
    if isinstance(value, int | float):
        return value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return neutralise(str(value))


def csv_pieces(header: Sequence, value_rows: Iterable[Sequence], bom: bool = True) -> Iterator[str]:
    """CSV, UTF-8 with a BOM (so spreadsheet programs read the Chinese names), header always; one
    piece per row, so a download streams instead of being built in memory."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def flush() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    writer.writerow([csv_value(v) for v in header])
    yield ("\ufeff" if bom else "") + flush()
    for values in value_rows:
        writer.writerow([v if v.__class__ is int else csv_value(v) for v in values])  # ints: the common case
        yield flush()


class XlsxWriter:
    """A write-only workbook with one sheet: rows are streamed to a temporary file by openpyxl, not
    held as cells in memory. ``formats`` gives a number format per column (None: general)."""

    def __init__(self, title: str, header: Sequence, formats: Sequence[str | None] = ()):
        from openpyxl import Workbook

        self.workbook = Workbook(write_only=True)
        self.sheet = self.workbook.create_sheet(title=title)
        self.formats = list(formats)
        self.append(header, formatted=False)

    def _cell(self, value, number_format: str | None):
        from openpyxl.cell import WriteOnlyCell
        from openpyxl.cell.cell import ERROR_CODES, ILLEGAL_CHARACTERS_RE

        if value is None:
            return None
        if isinstance(value, str):
            # control characters XLSX cannot hold are dropped (a name with one must not fail the file)
            text = neutralise(ILLEGAL_CHARACTERS_RE.sub("", value))
            if text not in ERROR_CODES:
                return text  # openpyxl writes it as a string: after ``neutralise`` it cannot start with "="
            cell = WriteOnlyCell(self.sheet)
            cell._value, cell.data_type = text, "s"  # "#N/A" as text, not an error value
            return cell
        if isinstance(value, datetime):
            number_format = DATETIME
        elif not isinstance(value, int | float | Decimal):
            return self._cell(str(value), None)
        if not number_format:
            return value  # plain values are cheaper than cells (no style)
        cell = WriteOnlyCell(self.sheet, value=value)
        cell.number_format = number_format
        return cell

    def append(self, values: Sequence, formatted: bool = True) -> None:
        formats = self.formats if formatted else ()
        self.sheet.append(
            [self._cell(v, formats[i] if i < len(formats) else None) for i, v in enumerate(values)]
        )

    def save(self, handle: IO[bytes]) -> None:
        self.workbook.save(handle)


def xlsx_pieces(
    header: Sequence, value_rows: Iterable[Sequence], title: str, formats: Sequence[str | None] = ()
) -> Iterator[bytes]:
    """The XLSX file in 64 KiB chunks (written to a temporary file first)."""
    writer = XlsxWriter(title, header, formats)
    for values in value_rows:
        writer.append(values)
    with tempfile.TemporaryFile() as handle:
        writer.save(handle)
        handle.seek(0)
        while chunk := handle.read(64 * 1024):
            yield chunk
