"""HTML forms of the claims pages (兑付): filing, attaching scans, and an office's decision and payment
(each irreversible step asks for a ticked confirmation)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField
from wtforms import BooleanField, HiddenField, StringField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional, Regexp

from booking.web.finance_forms import PERIOD_MESSAGE
from booking.web.form_base import PlatformForm
from vouchers import scope

SCAN_ACCEPT = "application/pdf,image/*"
CONFIRM_MESSAGE = _l("Tick this box to confirm.")


class FileClaimForm(PlatformForm):
    payee = HiddenField(validators=[DataRequired(), Regexp(r"^(lab|provider)-[0-9]{1,9}\Z")])
    period = HiddenField(validators=[DataRequired(), Regexp(scope.PERIOD_RE, message=PERIOD_MESSAGE)])
    invoice_number = StringField(
        _l("Invoice number"),
        validators=[
            DataRequired(message=_l("Enter the invoice (发票) number.")),
            Length(max=100, message=_l("At most 100 characters.")),
        ],
        render_kw={"autocomplete": "off"},
    )
    note = TextAreaField(_l("Note"), validators=[Optional(), Length(max=2000)])
    file = FileField(
        _l("Invoice or contract scan (PDF or image, at most 20 MB)"), render_kw={"accept": SCAN_ACCEPT}
    )
    submit = SubmitField(_l("File claim"))


class AttachmentForm(PlatformForm):
    file = FileField(
        _l("Invoice or contract scan (PDF or image, at most 20 MB)"),
        validators=[DataRequired(message=_l("Choose a file."))],
        render_kw={"accept": SCAN_ACCEPT},
    )
    submit = SubmitField(_l("Upload"))


class ApproveClaimForm(PlatformForm):
    confirm = BooleanField(
        _l("I checked the invoice and the amount of my office's share"),
        validators=[DataRequired(message=CONFIRM_MESSAGE)],
    )
    submit = SubmitField(_l("Approve my share"))


class RejectClaimForm(PlatformForm):
    reason = TextAreaField(
        _l("Reason"),
        validators=[
            DataRequired(message=_l("Say why the claim is rejected.")),
            Length(max=2000, message=_l("At most 2000 characters.")),
        ],
    )
    confirm = BooleanField(
        _l("I understand that the whole claim is rejected and the payee must file again"),
        validators=[DataRequired(message=CONFIRM_MESSAGE)],
    )
    submit = SubmitField(_l("Reject"))


class PayClaimForm(PlatformForm):
    reference = StringField(
        _l("Payment reference"),
        validators=[
            DataRequired(message=_l("Enter the bank transfer's reference.")),
            Length(max=200, message=_l("At most 200 characters.")),
        ],
        render_kw={"autocomplete": "off"},
    )
    confirm = BooleanField(
        _l("I confirm my office has transferred this share; this cannot be undone"),
        validators=[DataRequired(message=CONFIRM_MESSAGE)],
    )
    submit = SubmitField(_l("Mark my share paid"))
