"""HTML forms of the finance pages (flask-wtf: every POST carries a CSRF token; the GET filter forms
read the query string and carry none)."""

from __future__ import annotations

from flask import request
from flask_babel import lazy_gettext as _l
from wtforms import (
    BooleanField,
    DateField,
    HiddenField,
    SelectChoice,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, Optional, Regexp, ValidationError

from booking.people import audit
from booking.web import vocabulary
from booking.web.form_base import PlatformForm
from vouchers import scope
from vouchers.reports import exports

PERIOD_MESSAGE = _l("Enter a month as YYYY-MM, e.g. 2026-11.")


class QueryForm(PlatformForm):
    """A filter form read from the query string (GET: nothing to forge, so no CSRF token)."""

    class Meta:
        csrf = False

    def __init__(self, **kwargs):
        kwargs.setdefault("formdata", request.args)
        super().__init__(**kwargs)


def district_choices(districts, locale: str) -> list[SelectChoice]:
    return [SelectChoice("", _l("All districts"))] + [
        SelectChoice(d.code, d.display_name(locale)) for d in districts
    ]


class DistrictPickerForm(QueryForm):
    district_code = SelectField(_l("District"), choices=[], validate_choice=True, validators=[Optional()])
    show = SubmitField(_l("Show"))


class PeriodForm(QueryForm):
    period = StringField(
        _l("Month"),
        validators=[DataRequired(), Regexp(scope.PERIOD_RE, message=PERIOD_MESSAGE)],
        render_kw={"placeholder": "YYYY-MM", "inputmode": "numeric", "autocomplete": "off"},
    )
    district_code = SelectField(_l("District"), choices=[], validators=[Optional()])
    show = SubmitField(_l("Show"))


class RunReconciliationForm(PlatformForm):
    submit = SubmitField(_l("Run reconciliation"))


EXCEPTION_KINDS = tuple(vocabulary.EXCEPTION_KINDS)


class ExceptionFilterForm(QueryForm):
    status = SelectField(
        _l("Status"),
        choices=[
            SelectChoice("", _l("Any status")),
            SelectChoice("open", _l("Open")),
            SelectChoice("resolved", _l("Resolved")),
        ],
        validators=[Optional()],
    )
    kind = SelectField(_l("Kind"), choices=[], validators=[Optional()])
    show = SubmitField(_l("Filter"))


class ResolveExceptionForm(PlatformForm):
    comment = TextAreaField(
        _l("Resolution comment"),
        validators=[
            DataRequired(message=_l("Say how it was resolved.")),
            Length(max=2000, message=_l("At most 2,000 characters.")),
        ],
    )
    submit = SubmitField(_l("Resolve"))


class ExportForm(PlatformForm):
    kind = SelectField(
        _l("Contents"),
        choices=[
            SelectChoice("statement", _l("Lines per payee")),
            SelectChoice("statement_lines", _l("Lines per booking")),
        ],
    )
    format = SelectField(_l("Format"), choices=[SelectChoice("csv", "CSV"), SelectChoice("xlsx", "XLSX")])
    period = HiddenField(validators=[DataRequired(), Regexp(scope.PERIOD_RE, message=PERIOD_MESSAGE)])
    district_code = HiddenField()
    submit = SubmitField(_l("Export in the background"))

    def validate_kind(self, field):
        if field.data not in exports.KINDS:
            raise ValidationError(_l("Unknown export."))


class ClosePeriodForm(PlatformForm):
    # the choices (ended open months since the first settlement) are set by the view; anything else is refused
    period = SelectField(_l("Month to close"), choices=[], validators=[InputRequired()])
    confirm = BooleanField(
        _l("I understand that a closed month cannot be reopened, for every district and the municipality"),
        validators=[DataRequired(message=_l("Tick this box to confirm."))],
    )
    submit = SubmitField(_l("Close period"))

    def validate_period(self, field):
        if not scope.PERIOD_RE.match(field.data or ""):
            raise ValidationError(PERIOD_MESSAGE)


class PayoutForm(PlatformForm):
    period = HiddenField(validators=[DataRequired(), Regexp(scope.PERIOD_RE, message=PERIOD_MESSAGE)])
    payee_kind = HiddenField(validators=[DataRequired()])
    payee_id = HiddenField(validators=[DataRequired(), Regexp(r"^[0-9]{1,9}\Z")])
    reference = StringField(
        _l("Payment reference"),
        validators=[
            DataRequired(message=_l("Enter the bank transfer's reference.")),
            Length(max=200, message=_l("At most 200 characters.")),
        ],
        render_kw={"autocomplete": "off"},
    )
    submit = SubmitField(_l("Mark paid"))


class AuditFilterForm(QueryForm):
    action = SelectField(
        _l("Action"),
        choices=[SelectChoice("", _l("Any action"))]
        + [SelectChoice(a, vocabulary.AUDIT_ACTIONS.get(a, a)) for a in audit.ACTIONS],
        validators=[Optional()],
    )
    actor_id = SelectField(_l("Who"), choices=[], validators=[Optional()])
    since = DateField(_l("From"), validators=[Optional()])
    until = DateField(_l("Until (inclusive)"), validators=[Optional()])
    show = SubmitField(_l("Filter"))

    def validate_until(self, field):
        if field.data and self.since.data and field.data < self.since.data:
            raise ValidationError(_l("Must not be before the first day."))
