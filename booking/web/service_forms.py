"""The lab managers' service form: details, price per sample, and the sample form as a repeating group
of rows (key, label, type, required, choices as comma-separated text). "Add a question" posts the form
back with one more empty row (no JavaScript); empty rows are left out. The rows' rules are judged by
``instruments.services`` (one place), and its refusals come back beside the row they name."""

from __future__ import annotations

import re

from flask_babel import lazy_gettext as _l
from wtforms import (
    BooleanField,
    FieldList,
    Form,
    FormField,
    IntegerField,
    SelectChoice,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from booking.web.form_base import PlatformForm
from booking.web.voucher_forms import YuanField
from instruments.models import Service
from instruments.services import MAX_SAMPLE_FIELDS

FIELD_TYPE_LABELS = {"text": _l("Text"), "number": _l("Number"), "choice": _l("Choice")}
_CHOICE_SEPARATORS = re.compile(r"[,，、]")

# the rules' problems with a row, by the part of the row they name (the rules speak English to the API)
ROW_WORDS = {
    "key": _l(
        "A key is a lowercase identifier (letters a–z, digits, _; starting with a letter), at most 40 "
        "characters, each key once."
    ),
    "label": _l("Write the question, at most 100 characters."),
    "type": _l("Choose text, number or choice."),
    "required": _l("Choose text, number or choice."),
    "choices": _l(
        "A choice question needs its choices, each once, separated by commas; other questions have none."
    ),
}


class SampleFieldRow(Form):
    """One question of the sample form (a row of the repeating group; the page's form holds the CSRF token)."""

    key = StringField(_l("Key"), validators=[Optional(), Length(max=40)], description=_l("e.g. material"))
    label = StringField(_l("Question"), validators=[Optional(), Length(max=100)])
    type = SelectField(
        _l("Answer type"), choices=[SelectChoice(code, label) for code, label in FIELD_TYPE_LABELS.items()]
    )
    required = BooleanField(_l("Required"))
    choices = StringField(
        _l("Choices (comma-separated)"),
        validators=[Optional(), Length(max=2000)],
        description=_l("e.g. 金, 碳"),
    )

    def is_empty(self) -> bool:
        return not (self.key.data or "").strip() and not (self.label.data or "").strip()

    def to_field(self) -> dict:
        field = {
            "key": (self.key.data or "").strip(),
            "label": (self.label.data or "").strip(),
            "type": self.type.data,
            "required": bool(self.required.data),
        }
        choices = [c.strip() for c in _CHOICE_SEPARATORS.split(self.choices.data or "") if c.strip()]
        if self.type.data == "choice":
            field["choices"] = choices
        elif choices:
            field["choices"] = choices  # refused by the rules: only a choice field has choices
        return field


class ServiceForm(PlatformForm):
    lab_id = SelectField(_l("Lab"), coerce=int)
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=200)])
    category = StringField(
        _l("Category"), validators=[DataRequired(), Length(max=50)], description=_l("e.g. SEM, XRD")
    )
    description = TextAreaField(_l("Description"), validators=[Optional(), Length(max=5000)])
    price_yuan = YuanField(
        _l("Price per sample (yuan)"), min_fen=0, validators=[InputRequired()], description=_l("e.g. 300.00")
    )
    turnaround_days = IntegerField(
        _l("Turnaround (days)"),
        default=5,
        validators=[InputRequired(), NumberRange(1, 365)],
        description=_l("Days from receiving the samples to the results."),
    )
    max_samples = IntegerField(
        _l("Most samples per order"), default=10, validators=[InputRequired(), NumberRange(1, 10_000)]
    )
    sample_fields = FieldList(FormField(SampleFieldRow), min_entries=1, max_entries=MAX_SAMPLE_FIELDS + 1)
    add_row = SubmitField(_l("Add a question"))
    too_many_rows = False  # set when the rules refuse the number of questions
    submit = SubmitField(_l("Save service"))

    @classmethod
    def of(cls, service: Service) -> ServiceForm:
        """The edit form of a service, with one empty row to add a question."""
        rows = [{**f, "choices": ", ".join(f.get("choices") or [])} for f in service.sample_fields]
        form = cls(
            data={
                "name": service.name,
                "category": service.category,
                "description": service.description,
                "price_yuan": service.price_per_sample_fen,
                "turnaround_days": service.turnaround_days,
                "max_samples": service.max_samples,
                "sample_fields": [*rows, {}],
            }
        )
        return form

    def adding_a_row(self) -> bool:
        """Whether "Add a question" was pressed: the form comes back with one more empty row."""
        if self.add_row.data and len(self.sample_fields.entries) <= MAX_SAMPLE_FIELDS:
            self.sample_fields.append_entry()
            return True
        return bool(self.add_row.data)

    def filled_rows(self) -> list[SampleFieldRow]:
        return [entry.form for entry in self.sample_fields.entries if not entry.form.is_empty()]

    def to_fields(self) -> dict:
        """What ``services.create_service`` / ``update_service`` take."""
        return {
            "name": self.name.data.strip(),
            "category": self.category.data.strip(),
            "description": (self.description.data or "").strip(),
            "price_per_sample_fen": self.price_yuan.data,
            "turnaround_days": self.turnaround_days.data,
            "max_samples": self.max_samples.data,
            "sample_fields": [row.to_field() for row in self.filled_rows()],
        }

    def show_problems(self, details: dict) -> bool:
        """Put the rules' problems (``sample_fields.2.choices``) beside the row fields they name; True
        when at least one found its place."""
        rows = self.filled_rows()
        shown = False
        for path, messages in details.items():
            parts = str(path).split(".")
            if parts[0] != "sample_fields":
                field = getattr(self, {"price_per_sample_fen": "price_yuan"}.get(parts[0], parts[0]), None)
                if field is not None and hasattr(field, "errors") and isinstance(field.errors, list):
                    field.errors.extend(messages)
                    shown = True
                continue
            if len(parts) < 2 or not parts[1].isdigit() or int(parts[1]) >= len(rows):
                self.too_many_rows = True
                shown = True
                continue
            part = parts[2] if len(parts) > 2 and parts[2] in ROW_WORDS else "key"
            target = getattr(rows[int(parts[1])], "type" if part == "required" else part)
            words = str(ROW_WORDS[part])
            if words not in (target.errors or []):
                target.errors = [*(target.errors or []), words]
            shown = True
        return shown


class ServiceSearchForm(PlatformForm):
    """The catalogue's filters (a GET form: no CSRF token, nothing changes)."""

    class Meta:
        csrf = False

    q = StringField(_l("Search"), validators=[Optional(), Length(max=200)])
    category = SelectField(_l("Category"), validate_choice=False)
    district_code = SelectField(_l("District"), validate_choice=False)
    lab_id = SelectField(_l("Lab"), validate_choice=False)
