"""Form fields shared by several pages' forms."""

from __future__ import annotations

import re
from decimal import Decimal

from flask_babel import lazy_gettext as _l
from wtforms import Field
from wtforms.validators import StopValidation
from wtforms.widgets import TextInput

_PLAIN_DECIMAL = re.compile(r"(\d+)(?:\.(\d+))?")


def percent_text(bp: int) -> str:
    """Basis points as typed in percent: 3000 → "30", 1250 → "12.5", 1234 → "12.34"."""
    whole, rest = divmod(int(bp), 100)
    return str(whole) if not rest else f"{whole}.{rest:02d}".rstrip("0")


class PercentField(Field):
    """A rate in percent ("12.5", "12.5%") whose ``data`` is integer basis points (1250), or None when
    left empty. More than two decimals is refused, not rounded."""

    widget = TextInput()

    def __init__(self, label=None, validators=None, min_bp: int = 1, max_bp: int = 10_000, **kwargs):
        render_kw = {"inputmode": "decimal", "autocomplete": "off", **(kwargs.pop("render_kw", None) or {})}
        super().__init__(label, validators, render_kw=render_kw, **kwargs)
        self.min_bp, self.max_bp = min_bp, max_bp

    def _value(self) -> str:
        if self.raw_data:
            return self.raw_data[0]
        return "" if self.data is None else percent_text(self.data)

    def process_data(self, value) -> None:
        self.data = value  # defaults are given in basis points, like the data

    def process_formdata(self, valuelist) -> None:
        self.data = None
        text = valuelist[0].strip().removesuffix("%").strip() if valuelist else ""
        if not text:
            return
        match = _PLAIN_DECIMAL.fullmatch(text)
        if match is None or len(match.group(1).lstrip("0")) > 3:
            raise ValueError(self._range_message())
        if match.group(2) is not None and len(match.group(2)) > 2:
            raise ValueError(_l("At most two decimals, e.g. 12.34 (%)."))
        self.data = int(Decimal(text) * 100)  # exact: at most two decimals, at most three whole digits

    def _range_message(self):
        return _l(
            "Enter a percentage from %(low)s to %(high)s.",
            low=percent_text(self.min_bp) + "%",
            high=percent_text(self.max_bp) + "%",
        )

    def pre_validate(self, form) -> None:
        if self.process_errors:
            raise StopValidation()
        if self.data is None and self.flags.required:  # blank (or only spaces): InputRequired lets it by
            raise StopValidation(self._range_message())
        if self.data is not None and not self.min_bp <= self.data <= self.max_bp:
            raise StopValidation(self._range_message())
