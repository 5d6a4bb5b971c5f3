"""The forms and words of service orders (送样检测) on the HTML side.

The order form is built from the service's own sample form: one input per question (text → text
input, number → number input, choice → a select of the lab's choices), named ``answer_<key>`` and
labelled with the lab's words. The form only reads what was typed; whether the answers do is judged
by ``instruments.services.answer_problems`` / ``booking.flow.service_orders.submit_order`` (one
place), whose refusals come back beside the question they name (``details`` by key).
"""

from __future__ import annotations

from uuid import uuid4

from flask_babel import lazy_gettext as _l
from wtforms import (
    BooleanField,
    HiddenField,
    IntegerField,
    MultipleFileField,
    SelectChoice,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from booking.web.form_base import PlatformForm
from instruments.models import Service, ServiceOrderStatus

ANSWER_PREFIX = "answer_"

ORDER_STATUS_LABELS = {
    ServiceOrderStatus.SUBMITTED: _l("submitted, waiting for the lab"),
    ServiceOrderStatus.ACCEPTED: _l("accepted, send the samples"),
    ServiceOrderStatus.REJECTED: _l("rejected by the lab"),
    ServiceOrderStatus.CANCELLED: _l("cancelled"),
    ServiceOrderStatus.IN_PROGRESS: _l("samples received, in progress"),
    ServiceOrderStatus.COMPLETED: _l("completed"),
    ServiceOrderStatus.SETTLED: _l("settled"),
}

# the sample form's refusals (instruments.services.answer_problems speaks English to the API)
ANSWER_WORDS = {
    "Required.": _l("Answer this question."),
    "Must be a number.": _l("Enter a number, e.g. 12.5."),
    "Not one of the choices.": _l("Choose one of the lab's choices."),
    "Must be text.": _l("Enter text."),
    "Not a field of this service's sample form.": _l("This service does not ask this."),
}
ANSWER_FALLBACK = _l("Check this answer (at most 1000 characters, no control characters).")


class _OrderBase(PlatformForm):
    # Sent as the order's Idempotency-Key: a double-clicked "Confirm" orders once.
    request_key = HiddenField(default=lambda: uuid4().hex, validators=[DataRequired(), Length(max=64)])
    team_id = SelectField(_l("Team"), coerce=int, validators=[DataRequired()])
    samples = IntegerField(_l("Number of samples"), default=1, validators=[InputRequired()])
    use_vouchers = BooleanField(_l("Pay with our vouchers where they apply"), default=True)
    # set once the split has been shown: the second submit orders
    confirmed = HiddenField(default="")
    payment_method = StringField(
        _l("Payment method"),
        validators=[Optional(), Length(max=200)],
        description=_l("A card token from the payments provider, e.g. pm_card_visa (a test card)."),
    )
    submit = SubmitField(_l("Review price"))

    service: Service

    def answer_fields(self):
        """(question, form field) in the order of the service's sample form."""
        return [(f, self[ANSWER_PREFIX + f["key"]]) for f in self.service.sample_fields]

    def answers(self) -> dict:
        """The answers typed, by key; a question left blank is left out (a required one is then
        refused by the rules)."""
        found = {}
        for question, field in self.answer_fields():
            value = field.data
            if isinstance(value, str):
                value = value.strip()
            if value not in (None, ""):
                found[question["key"]] = value
        return found

    def show_answer_problems(self, details: dict) -> bool:
        """The rules' problems beside the question they name; True when at least one found its place."""
        shown = False
        for key, messages in details.items():
            field = self._fields.get(ANSWER_PREFIX + str(key))
            if field is None:
                continue
            words = [str(ANSWER_WORDS.get(m, ANSWER_FALLBACK)) for m in messages]
            field.errors = [*field.errors, *words]
            shown = True
        return shown


def _answer_field(question: dict):
    label = question["label"]
    keywords = {"validators": [Optional()], "render_kw": {}}
    if question["required"]:
        keywords["render_kw"] = {"aria-required": "true"}
    if question["type"] == "choice":
        choices = [SelectChoice("", "—")] + [SelectChoice(c, c) for c in question.get("choices") or []]
        return SelectField(label, choices=choices, validate_choice=False, **keywords)
    if question["type"] == "number":
        keywords["render_kw"] |= {"type": "number", "step": "any", "inputmode": "decimal"}
        return StringField(label, validators=[Optional(), Length(max=100)], render_kw=keywords["render_kw"])
    return StringField(label, validators=[Optional(), Length(max=1000)], render_kw=keywords["render_kw"])


def order_form(service: Service, **kwargs) -> _OrderBase:
    """The order form of ``service``: its questions, then team, samples (1..max_samples) and vouchers."""
    fields = {ANSWER_PREFIX + q["key"]: _answer_field(q) for q in service.sample_fields}
    fields["samples"] = IntegerField(
        _l("Number of samples"),
        default=1,
        validators=[InputRequired(), NumberRange(1, service.max_samples)],
        render_kw={"min": 1, "max": service.max_samples},
        description=_l("From 1 to %(most)s.", most=service.max_samples),
    )
    form_class = type("ServiceOrderForm", (_OrderBase,), fields)
    form = form_class(**kwargs)
    form.service = service
    return form


class ConfirmForm(PlatformForm):
    """A button behind a confirm step: the page posts again with ``confirmed=yes``."""

    confirmed = HiddenField(default="")


class RejectOrderForm(PlatformForm):
    reason = StringField(
        _l("Reason for the team"),
        validators=[DataRequired(message=_l("Tell the team why (required).")), Length(max=500)],
    )
    confirmed = HiddenField(default="")


class ResultUploadForm(PlatformForm):
    files = MultipleFileField(
        _l("Result files"), description=_l("Several files at once, together at most 50 MB.")
    )


class CompleteOrderForm(PlatformForm):
    samples_processed = IntegerField(_l("Samples processed"), validators=[InputRequired()])


SCORE_LABELS = {
    5: _l("5 – excellent"),
    4: _l("4 – good"),
    3: _l("3 – fair"),
    2: _l("2 – poor"),
    1: _l("1 – very poor"),
}


class RatingForm(PlatformForm):
    score = SelectField(
        _l("Score"),
        coerce=int,
        choices=[SelectChoice(score, label) for score, label in SCORE_LABELS.items()],
        validators=[InputRequired()],
    )
    comment = TextAreaField(_l("Comment (optional)"), validators=[Optional(), Length(max=2000)])
