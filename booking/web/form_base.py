"""The base of every HTML form: what the JSON API does to text, done to every text field in one place.

Text fields refuse what cannot be stored (a NUL; PostgreSQL refuses it) and single-line fields are
collapsed onto one line (CR, LF, tabs and runs of spaces become one space, ends trimmed), as the API's
``Text`` does: names end up in mail subjects, where a line break makes the mail unsendable. Multi-line
fields (descriptions, comments) keep their lines; passwords and hidden tokens are left as typed.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, PasswordField, StringField, TextAreaField

from booking import input_rules


def refuse_unstorable(value):
    if isinstance(value, str) and not input_rules.is_storable_text(value):
        raise ValueError(_l("Must not contain control characters such as NUL."))
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
            return unbound_field.bind(form=form, **options)
