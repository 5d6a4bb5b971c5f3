"""HTML forms of the voucher pages (flask-wtf: every POST carries a CSRF token).

Money is typed in yuan and held as integer fen: ``YuanField`` converts exactly and refuses what is not a
whole number of fen, rather than rounding it. Rates are typed in percent and held as basis points:
``PercentField`` likewise takes at most two decimals (12.34 % = 1234 bp) and never rounds.
"""

from __future__ import annotations

import re
from decimal import Decimal

from flask_babel import lazy_gettext as _l
from wtforms import (
    BooleanField,
    DateField,
    Field,
    IntegerField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, StopValidation
from wtforms.widgets import CheckboxInput, ListWidget, TextInput

from booking.core.i18n import format_yuan
from booking.core.money import MAX_FEN
from booking.models import User
from booking.web import vocabulary
from booking.web.fields import PercentField
from booking.web.form_base import PlatformForm

_PLAIN_DECIMAL = re.compile(r"([0-9]+)(?:\.([0-9]+))?")  # ASCII digits ("１２" is not a number here)
_MAX_WHOLE_DIGITS = 15  # far above MAX_FEN, far below Decimal's 28 significant digits: always exact


class YuanField(Field):
    """An amount in yuan ("1234.56") whose ``data`` is integer fen (123456), or None when left empty."""

    widget = TextInput()

    def __init__(self, label=None, validators=None, min_fen: int = 1, max_fen: int = MAX_FEN, **kwargs):
        render_kw = {"inputmode": "decimal", "autocomplete": "off", **(kwargs.pop("render_kw", None) or {})}
        super().__init__(label, validators, render_kw=render_kw, **kwargs)
        self.min_fen, self.max_fen = min_fen, max_fen

    def _value(self) -> str:
        if self.raw_data:
            return self.raw_data[0]
        if self.data is None:
            return ""
        yuan, fen = divmod(self.data, 100)
        return f"{yuan}.{fen:02d}"

    def process_formdata(self, valuelist) -> None:
        self.data = None
        text = valuelist[0].strip() if valuelist else ""
        if not text:
            return
        match = _PLAIN_DECIMAL.fullmatch(text)
        if match is None:
            raise ValueError(_l("Enter an amount in yuan, e.g. 1234.56."))
        if match.group(2) is not None and len(match.group(2)) > 2:
            raise ValueError(_l("At most two decimals: the smallest amount is one fen (0.01)."))
        if len(match.group(1).lstrip("0")) > _MAX_WHOLE_DIGITS:
            raise ValueError(self._range_message())
        self.data = int(Decimal(text) * 100)  # exact: at most two decimals and few digits

    def _range_message(self):
        return _l(
            "Enter an amount from %(low)s to %(high)s.",
            low=format_yuan(self.min_fen),
            high=format_yuan(self.max_fen),
        )

    def pre_validate(self, form) -> None:
        if self.process_errors:
            raise StopValidation()  # the parse error says it all; "required" would only confuse
        if self.data is not None and not self.min_fen <= self.data <= self.max_fen:
            raise StopValidation(self._range_message())


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


RESOURCE_KIND_LABELS = vocabulary.RESOURCE_KINDS


class ProgramForm(PlatformForm):
    """A new programme. Its level (and a district programme's district) is the officer's own, so the
    form does not ask for it; the stack ceiling exists only on district officers' forms."""

    name = StringField(_l("Programme name"), validators=[DataRequired(), Length(max=200)])
    resource_kinds = MultiCheckboxField(
        _l("Covers"),
        choices=[SelectChoice(kind, label) for kind, label in RESOURCE_KIND_LABELS.items()],
        default=["compute", "instrument"],
        validators=[DataRequired(message=_l("Choose at least one."))],
    )
    rate_percent = PercentField(
        _l("Subsidy rate (%)"),
        validators=[InputRequired()],
        description=_l("A share of the cost, e.g. 30 or 12.5; at most two decimals."),
    )
    stack_ceiling_percent = PercentField(
        _l("Stack ceiling (%)"),
        default=10_000,
        validators=[InputRequired()],
        description=_l(
            "The most that all levels together may subsidise, as a share of the cost; 100 = no limit."
        ),
    )
    budget_yuan = YuanField(
        _l("Total budget (yuan)"), validators=[DataRequired()], description=_l("e.g. 1000000.00")
    )
    per_team_cap_yuan = YuanField(
        _l("Cap per team (yuan)"),
        validators=[DataRequired()],
        description=_l("The most one team may receive from this programme."),
    )
    valid_from = DateField(_l("First day"), validators=[DataRequired()])
    valid_to = DateField(
        _l("Last day"),
        validators=[DataRequired()],
        description=_l("Inclusive. Its vouchers expire at the end of this day at the latest."),
    )
    voucher_validity_days = IntegerField(
        _l("Voucher validity (days)"),
        default=365,
        validators=[InputRequired(), NumberRange(1, 3660)],
        description=_l("A voucher expires this many days after issue, or when the programme ends."),
    )
    submit = SubmitField(_l("Create and fund programme"))

    @classmethod
    def for_officer(cls, officer: User) -> ProgramForm:
        form = cls()
        if officer.district_code is None:
            del form.stack_ceiling_percent  # municipal programmes have no stack ceiling
        return form

    def validate_per_team_cap_yuan(self, field) -> None:
        if (
            self.budget_yuan.data is not None
            and field.data is not None
            and field.data > self.budget_yuan.data
        ):
            raise StopValidation(_l("Must not exceed the total budget."))

    def validate_valid_to(self, field) -> None:
        if self.valid_from.data and field.data and field.data < self.valid_from.data:
            raise StopValidation(_l("Must not be before the first day."))

    def to_fields(self, officer: User) -> dict:
        """What ``programs.create_program`` takes."""
        fields = {
            "name": " ".join(self.name.data.split()),
            "level": "municipal" if officer.district_code is None else "district",
            "resource_kinds": [k for k in RESOURCE_KIND_LABELS if k in self.resource_kinds.data],
            "rate_bp": self.rate_percent.data,
            "budget_fen": self.budget_yuan.data,
            "per_team_cap_fen": self.per_team_cap_yuan.data,
            "valid_from": self.valid_from.data,
            "valid_to": self.valid_to.data,
            "voucher_validity_days": self.voucher_validity_days.data,
        }
        if officer.district_code is not None:
            fields["district_code"] = officer.district_code
            fields["stack_ceiling_bp"] = self.stack_ceiling_percent.data
        return fields


class ApplyForm(PlatformForm):
    team_id = SelectField(_l("Team"), coerce=int, validators=[DataRequired()])
    amount_yuan = YuanField(
        _l("Amount (yuan)"),
        validators=[DataRequired()],
        description=_l("The finance office may approve less; the programme's cap per team applies."),
    )
    purpose = TextAreaField(
        _l("What the voucher is for"),
        validators=[DataRequired(), Length(max=2000)],
        description=_l("e.g. training a model on 8 GPUs for two months"),
    )
    submit = SubmitField(_l("Send application"))


class ApproveForm(PlatformForm):
    amount_yuan = YuanField(
        _l("Approve less (yuan, optional)"),
        validators=[Optional()],
        description=_l("Leave empty to approve the amount asked for."),
    )
    # a voucher issued cannot be taken back, only revoked: the officer confirms first (no script needed)
    confirm = BooleanField(
        _l("I confirm: issue this voucher now"),
        validators=[DataRequired(message=_l("Tick this box to confirm the approval."))],
    )
    submit = SubmitField(_l("Approve"))


class RejectApplicationForm(PlatformForm):
    reason = StringField(_l("Reason for rejecting"), validators=[DataRequired(), Length(max=2000)])
    submit = SubmitField(_l("Reject"))


class RevokeForm(PlatformForm):
    reason = StringField(_l("Reason for revoking"), validators=[DataRequired(), Length(max=2000)])
    submit = SubmitField(_l("Revoke voucher"))


class RefundForm(PlatformForm):
    """An admin's refund of (part of) what a booking's card payment captured, in yuan."""

    amount = YuanField(_l("Amount to refund (¥)"), validators=[InputRequired()])
