"""Read back the CSV and XLSX files the platform writes, and check them for formula injection: no
cell is a formula, every text cell that a spreadsheet could take for one starts with the ``'`` the
writers put in front of it, and numbers stay numbers."""

from __future__ import annotations

import csv
import io
from decimal import Decimal, InvalidOperation
from html.parser import HTMLParser

from openpyxl import load_workbook

# what a spreadsheet may read as the start of a formula (ASCII and full-width), and line breaks/tabs
DANGEROUS_STARTS = tuple("=+-@\t\r\n\uff1d\uff0b\uff0d\uff20")


def csv_rows(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def xlsx_cells(data: bytes) -> list:
    """Every cell of every sheet (formulas kept as formulas: not ``data_only``)."""
    book = load_workbook(io.BytesIO(data))
    return [cell for sheet in book.worksheets for row in sheet.iter_rows() for cell in row]


def _is_number(text: str) -> bool:
    try:
        Decimal(text)
    except InvalidOperation:
        return False
    return True


def assert_csv_is_inert(data: bytes) -> list[list[str]]:
    rows = csv_rows(data)
    for row in rows:
        for value in row:
            if value.lstrip(" \u3000").startswith(DANGEROUS_STARTS):
                assert _is_number(value), f"formula-like CSV cell {value!r}"
    return rows


def assert_xlsx_is_inert(data: bytes) -> list:
    cells = xlsx_cells(data)
    for cell in cells:
        assert cell.data_type != "f", f"formula in {cell.coordinate}: {cell.value!r}"
        if isinstance(cell.value, str):
            assert cell.data_type in ("s", "inlineStr"), (cell.coordinate, cell.data_type)
            assert not cell.value.lstrip(" \u3000").startswith(DANGEROUS_STARTS), (
                cell.coordinate,
                cell.value,
            )
    return cells


class _Ids(HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.ids.extend(value for name, value in attrs if name == "id" and value is not None)

    handle_startendtag = handle_starttag


def duplicate_ids(html: str) -> list[str]:
    """The element ids that occur more than once in a page (HTML requires each to be unique)."""
    parser = _Ids()
    parser.feed(html)
    seen: set[str] = set()
    return sorted({i for i in parser.ids if i in seen or seen.add(i)})
