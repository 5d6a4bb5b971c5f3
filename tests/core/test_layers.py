"""The floors contract: every import keeps to its floor, no cycles, no imports hiding in functions.

The floors are declared in ``tests/support/layers.py`` and described in the README ("Where things
are"). A failure names the importing module, the line and the imported module.
"""

from __future__ import annotations

import pytest

from tests.support import layers
from tests.support.layers import Arrow

ARROWS = layers.all_arrows()


def test_every_product_module_is_on_a_floor():
    for path in layers.product_files():
        layers.floor_of(layers.module_name(path))  # raises, naming the module, when it is on none


def test_every_import_keeps_to_its_floor():
    wrong = [reason for arrow in ARROWS if (reason := layers.wrong_arrow(arrow))]
    assert not wrong, "imports that break the floors:\n" + "\n".join(wrong)


def test_no_import_cycles():
    cycles = layers.import_cycles(ARROWS)
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(cycle) for cycle in cycles)


def test_no_product_import_hides_inside_a_function():
    hidden = [
        f"{a.source} (line {a.line}) imports {a.target} inside a function" for a in ARROWS if a.in_function
    ]
    assert not hidden, "move these imports to the top of their module:\n" + "\n".join(hidden)


@pytest.mark.parametrize(
    ("source", "target", "words"),
    [
        (
            "vouchers.settling",
            "booking.flow.payments.capture",
            "floor 4 (vouchers) must not import floor 5 (flow)",
        ),
        ("booking.core.app", "booking.models", "floor 0 (core) must not import floor 1 (models)"),
        (
            "booking.people.teams",
            "instruments.labs",
            "floor 2 (people) must not import floor 3 (instruments)",
        ),
        ("booking.web.finance", "booking.api.finance", "web and api are siblings"),
        ("booking.jobs.cli", "booking.web.forms", "jobs and web are siblings"),
        ("booking.web.home", "booking.factory", "floor 6 (web) must not import floor 7 (factory)"),
    ],
)
def test_a_wrong_arrow_is_named_with_both_modules(source, target, words):
    reason = layers.wrong_arrow(Arrow(source, target, 12, in_function=False, type_only=False))
    assert reason is not None and words in reason
    assert source in reason and target in reason and "line 12" in reason


@pytest.mark.parametrize(
    ("source", "target"),
    [
        ("booking.flow.bookings", "vouchers.commitments"),  # down
        ("vouchers.ledger", "instruments.rules"),
        ("booking.models.booking", "instruments.models"),  # models are one floor
        ("booking.web.finance", "booking.web.vocabulary"),  # within a package
        ("booking.factory", "booking.web"),
    ],
)
def test_arrows_down_or_level_are_allowed(source, target):
    assert layers.wrong_arrow(Arrow(source, target, 1, in_function=False, type_only=False)) is None


def test_a_type_hint_import_is_no_arrow_and_a_function_import_is_seen(tmp_path, monkeypatch):
    package = tmp_path / "vouchers"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "example.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from booking.flow.bookings import Booking\n"
        "def f():\n"
        "    from booking.web import forms\n"
    )
    monkeypatch.setattr(layers, "ROOT", tmp_path)
    found = layers.arrows_of(package / "example.py")
    assert [(a.target, a.type_only, a.in_function) for a in found] == [
        ("booking.flow.bookings", True, False),
        ("booking.web", False, True),  # no booking/web/forms.py under this root: the package
    ]
    assert layers.wrong_arrow(found[0]) is None
    assert "floor 4 (vouchers) must not import floor 6 (web)" in layers.wrong_arrow(found[1])


def test_a_cycle_is_found_and_spelled_out():
    arrows = [
        Arrow("vouchers.a", "vouchers.b", 1, False, False),
        Arrow("vouchers.b", "vouchers.c", 1, False, False),
        Arrow("vouchers.c", "vouchers.a", 1, False, False),
        Arrow("vouchers.c", "vouchers.d", 1, True, False),  # inside a function: no import-time cycle
    ]
    assert layers.import_cycles(arrows) == [["vouchers.a", "vouchers.b", "vouchers.c", "vouchers.a"]]
