"""Forms of the compute pages (founders booking GPUs) and of the provider console (offers, usage CSV)."""

from __future__ import annotations

from decimal import Decimal
from uuid import uuid4

from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField, FileRequired
from wtforms import (
    BooleanField,
    DateTimeLocalField,
    DecimalField,
    HiddenField,
    IntegerField,
    SelectField,
    StringField,
    SubmitField,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, ValidationError

from booking.web.form_base import PlatformForm

LOCAL_MINUTE = "%Y-%m-%dT%H:%M"


def _plausible_year(form, field) -> None:
    # far dates cannot be booked anyway, and year 1 or 9999 overflow in timezone arithmetic
    if field.data is not None and not 2000 <= field.data.year <= 2100:
        raise ValidationError(_l("Choose a date within the booking horizon."))


class OfferSearchForm(PlatformForm):
    """The compute catalogue's filter (a GET form: no CSRF token, nothing changes)."""

    class Meta:
        csrf = False

    gpu_model = SelectField(_l("GPU model"), validate_choice=False)


class ComputeBookingForm(PlatformForm):
    # Sent as the booking's Idempotency-Key: a double-clicked "Book" makes one booking, not a refusal.
    request_key = HiddenField(default=lambda: uuid4().hex, validators=[DataRequired(), Length(max=64)])
    team_id = SelectField(_l("Team"), coerce=int, validators=[DataRequired()])
    gpus = IntegerField(
        _l("Number of GPUs"), default=1, validators=[InputRequired(), NumberRange(1, 100_000)]
    )
    starts_at = DateTimeLocalField(
        _l("Start"), format=LOCAL_MINUTE, validators=[DataRequired(), _plausible_year]
    )
    ends_at = DateTimeLocalField(_l("End"), format=LOCAL_MINUTE, validators=[DataRequired(), _plausible_year])
    use_vouchers = BooleanField(_l("Pay with our compute vouchers where they apply"), default=True)
    # Set once the split has been shown: the second submit books.
    confirmed = HiddenField(default="")
    payment_method = StringField(
        _l("Payment method"),
        validators=[Optional(), Length(max=200)],
        description=_l("A card token from the payments provider, e.g. pm_card_visa (a test card)."),
    )
    submit = SubmitField(_l("Review price"))

    def validate_ends_at(self, field) -> None:
        if self.starts_at.data and field.data and field.data <= self.starts_at.data:
            raise ValidationError(_l("The booking must end after it starts."))


def _whole_fen(form, field) -> None:
    if isinstance(field.data, Decimal) and field.data.as_tuple().exponent < -2:
        raise ValidationError(_l("At most two decimals (fen)."))


class OfferForm(PlatformForm):
    """A GPU offer as a provider enters it (price in yuan); ``to_fields`` gives what the operations take."""

    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=200)])
    gpu_model = StringField(
        _l("GPU model"), validators=[DataRequired(), Length(max=100)], description=_l("e.g. A100-80G")
    )
    gpus_total = IntegerField(_l("GPUs in total"), validators=[InputRequired(), NumberRange(1, 100_000)])
    price_per_gpu_hour_yuan = DecimalField(
        _l("Price per GPU-hour (yuan)"),
        places=2,
        validators=[InputRequired(), NumberRange(0, 1_000_000), _whole_fen],
    )
    active = BooleanField(_l("Published (bookable)"), default=True)
    submit = SubmitField(_l("Save offer"))

    @classmethod
    def of(cls, offer) -> OfferForm:
        return cls(obj=offer, price_per_gpu_hour_yuan=Decimal(offer.price_per_gpu_hour_fen) / 100)

    def to_fields(self) -> dict:
        return {
            "name": self.name.data.strip(),
            "gpu_model": self.gpu_model.data.strip(),
            "gpus_total": self.gpus_total.data,
            "price_per_gpu_hour_fen": int(self.price_per_gpu_hour_yuan.data * 100),
            "active": self.active.data,
        }


class UsageUploadForm(PlatformForm):
    file = FileField(
        _l("Usage file (CSV)"),
        validators=[FileRequired(_l("Choose a CSV file."))],
        description=_l("UTF-8, one record per row, at most 10,000 rows."),
    )
    submit = SubmitField(_l("Upload usage"))
