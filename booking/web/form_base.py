"""The base of every HTML form: what the JSON API does to text, done to every text field in one place.

Text fields refuse what cannot be stored (a NUL; PostgreSQL refuses it) and single-line fields are
collapsed onto one line (CR, LF, tabs and runs of spaces become one space, ends trimmed), as the API's
``Text`` does: names end up in mail subjects, where a line break makes the mail unsendable. Multi-line
fields (descriptions, comments) keep their lines; passwords and hidden tokens are left as typed.
Dates and times are refused outside the years the platform computes with; decimals that are not
finite numbers (NaN, Infinity) are no number.
"""

from __future__ import annotations

from decimal import Decimal

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateTimeField, DecimalField, HiddenField, PasswordField, StringField, TextAreaField
from wtforms.validators import Regexp

from booking.core import input_rules

# The API validates addresses with marshmallow's Email; this catches the usual slips without the
# email_validator package (a form field may be stricter than the API, never laxer in what it stores).
EMAIL_SHAPE = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"


def an_email_address() -> Regexp:
    return Regexp(EMAIL_SHAPE, message=_l("Enter an e-mail address, e.g. name@example.cn."))


def refuse_unstorable(value):
    if isinstance(value, str) and not input_rules.is_storable_text(value):
        raise ValueError(_l("Must not contain control characters such as NUL."))
    return value


def refuse_far_dates(value):
    """Dates and times in the years the platform computes with (a year-1 date in local time overflows
    when converted to UTC, a year-9999 one when a day is added)."""
    year = getattr(value, "year", None)
    if year is not None and not input_rules.EARLIEST_INSTANT.year <= year < input_rules.LATEST_INSTANT.year:
        raise ValueError(_l("Must be between the years 1900 and 2199."))
    return value


def finite_or_none(value):
    """ "NaN", "sNaN" and "Infinity" parse as decimals; they compare with an exception (a 500) or
    nowhere. As no number at all, the field's NumberRange refuses them with its message."""
    if isinstance(value, Decimal) and not value.is_finite():
        return None
    return value


class PlatformForm(FlaskForm):
    class Meta:
        def bind_field(self, form, unbound_field, options):
            field_class = unbound_field.field_class
            if issubclass(field_class, StringField) and not issubclass(
                field_class, PasswordField | HiddenField
            ):
                added = [refuse_unstorable]
                if not issubclass(field_class, TextAreaField):
                    added.append(input_rules.one_line)
                options = {**options, "filters": [*unbound_field.kwargs.get("filters", ()), *added]}
            elif issubclass(field_class, DecimalField):
                options = {**options, "filters": [finite_or_none, *unbound_field.kwargs.get("filters", ())]}
            elif issubclass(field_class, DateTimeField):  # DateField, DateTimeLocalField too
                options = {**options, "filters": [*unbound_field.kwargs.get("filters", ()), refuse_far_dates]}
            return unbound_field.bind(form=form, **options)
