"""Importing a module never configures the ORM's mappers. A statement with loader options
(``joinedload``) built at import time configures them then, and fails with "expression 'Instrument'
failed to locate a name" whenever the models it needs are not imported yet — as the scheduler's
process found when it imported ``booking.flow.waitlist`` before ``instruments.models``. Statements
built once are built on first use (``functools.cache``), when every model is known."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

IMPORT_EVERYTHING = """
import importlib, pkgutil, sys
import sqlalchemy as sa
first = sys.argv[1]
importlib.import_module(first)  # first, alone: the order a process may really import it in
for package in ("booking", "instruments", "vouchers"):
    module = importlib.import_module(package)
    for info in pkgutil.walk_packages(module.__path__, package + "."):
        importlib.import_module(info.name)
from booking.models import Booking
print("configured" if sa.inspect(Booking).configured else "not configured")
"""


def _import(first: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", IMPORT_EVERYTHING, first],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_no_module_configures_the_mappers_when_imported():
    for first in ("booking.flow.waitlist", "booking.people.accounts", "vouchers.ledger", "booking.factory"):
        done = _import(first)
        assert done.returncode == 0, done.stderr[-3000:]
        assert done.stdout.strip() == "not configured", first
