"""HTML forms of the voucher pages (flask-wtf: every POST carries a CSRF token).

Money is typed in yuan and held as integer fen: ``YuanField`` converts exactly and refuses what is not a
whole number of fen, rather than rounding it. Rates are typed in percent and held as basis points:
``PercentField`` likewise takes at most two decimals (12.34 % = 1234 bp) and never rounds.
"""

from __future__ import annotations

import re
from decimal import Decimal

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
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

from booking.core.db import db
from booking.core.i18n import format_yuan
from booking.core.money import MAX_FEN
from booking.models import Provider, User
from booking.web import vocabulary
from booking.web.fields import PercentField
from booking.web.form_base import PlatformForm
from instruments.models import Lab

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


class ProgramRulesForm(PlatformForm):
    """A programme's rules, on the new-programme form and the edit form: the labs and providers its
    vouchers subsidise (all, or those ticked), a rate per resource kind, an annual cap per team."""

    payees_restricted = BooleanField(
        _l("Only the labs and providers ticked below (入库服务商)"),
        description=_l("Elsewhere its vouchers do not apply: the team pays, nothing is refused."),
    )
    eligible_payees = MultiCheckboxField(_l("Eligible labs and providers"), choices=[])
    rate_compute_percent = PercentField(
        _l("Rate for compute (%)"),
        min_bp=0,
        validators=[Optional()],
        description=_l("Empty: the subsidy rate."),
    )
    rate_instrument_percent = PercentField(
        _l("Rate for lab instruments (%)"),
        min_bp=0,
        validators=[Optional()],
        description=_l("Empty: the subsidy rate."),
    )
    rate_service_percent = PercentField(
        _l("Rate for testing services (%)"),
        min_bp=0,
        validators=[Optional()],
        description=_l("Empty: the subsidy rate."),
    )
    annual_team_cap_yuan = YuanField(
        _l("Annual cap per team (yuan)"),
        validators=[Optional()],
        description=_l(
            "The most one team receives from this programme in a calendar year; empty: no annual cap."
        ),
    )

    def offer_payees(self) -> None:
        """Every lab and provider on the platform to tick, as "lab:3" and "provider:7"."""
        labs = db.session.scalars(select(Lab).order_by(Lab.name, Lab.id))
        providers = db.session.scalars(select(Provider).order_by(Provider.name, Provider.id))
        self.eligible_payees.choices = [
            SelectChoice(f"lab:{lab.id}", str(_l("Lab")) + " · " + lab.name) for lab in labs
        ] + [SelectChoice(f"provider:{p.id}", str(_l("Provider")) + " · " + p.name) for p in providers]

    def rule_fields(self) -> dict:
        """The API's ``details`` keys of the rules → the fields that show their refusals."""
        return {
            "eligible_payees": self.eligible_payees,
            "rate_bp_by_kind": self.rate_compute_percent,
            "annual_team_cap_fen": self.annual_team_cap_yuan,
        }

    def validate_eligible_payees(self, field) -> None:
        if self.payees_restricted.data and not field.data:
            raise StopValidation(_l("Tick at least one lab or provider, or untick the restriction."))

    def fill_rules(self, program) -> None:
        """Prefill from a programme (the edit form's GET)."""
        self.payees_restricted.data = program.eligible_payees is not None
        self.eligible_payees.data = [f"{p['kind']}:{p['id']}" for p in program.eligible_payees or []]
        for kind in RESOURCE_KIND_LABELS:
            getattr(self, f"rate_{kind}_percent").data = getattr(program, f"rate_bp_{kind}")
        self.annual_team_cap_yuan.data = program.annual_team_cap_fen

    def rules(self) -> dict:
        """The rules as ``vouchers.program_rules`` takes them."""
        payees = None
        if self.payees_restricted.data:
            payees = []
            for value in self.eligible_payees.data or []:
                kind, _sep, number = value.partition(":")
                payees.append({"kind": kind, "id": int(number)})
        rates = {
            kind: getattr(self, f"rate_{kind}_percent").data
            for kind in RESOURCE_KIND_LABELS
            if getattr(self, f"rate_{kind}_percent").data is not None
        }
        return {
            "eligible_payees": payees,
            "rate_bp_by_kind": rates,
            "annual_team_cap_fen": self.annual_team_cap_yuan.data,
        }


class ProgramForm(ProgramRulesForm):
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
        return fields | self.rules()


class ProgramEditForm(ProgramRulesForm):
    """A programme's changes: name, budget (up, or down to what is issued), a later last day, rules."""

    name = StringField(_l("Programme name"), validators=[DataRequired(), Length(max=200)])
    budget_yuan = YuanField(
        _l("Total budget (yuan)"),
        validators=[DataRequired()],
        description=_l("A higher budget is funded at once; a lower one may not fall below what is issued."),
    )
    valid_to = DateField(
        _l("Last day"),
        validators=[DataRequired()],
        description=_l(
            "Only later. Active vouchers cut short by the old last day then run to their own validity."
        ),
    )
    submit = SubmitField(_l("Save changes"))

    def changes(self) -> dict:
        """What ``program_changes.update_program`` takes."""
        return {
            "name": self.name.data,
            "budget_fen": self.budget_yuan.data,
            "valid_to": self.valid_to.data,
        } | self.rules()


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
