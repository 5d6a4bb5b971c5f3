"""The HTML side's blueprint, its layout context and the words for roles; every page module registers on ``blp``."""

from __future__ import annotations

from flask import Blueprint, current_app
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from booking.core.extensions import login_manager
from booking.core.i18n import current_language
from booking.web.forms import SignOutForm

blp = Blueprint("web", __name__)

# Role names as shown in the UI (codes are not words); lazy, so translated per request and extracted.
ROLE_LABELS = {
    "founder": _l("founder"),
    "lab_manager": _l("lab manager"),
    "provider": _l("compute provider"),
    "finance": _l("finance officer"),
    "admin": _l("administrator"),
}


@blp.record_once
def _localise_sign_in_prompt(state) -> None:
    # Flask-Login flashes this when a page needs a signed-in user; its default is English only.
    login_manager.login_message = _l("Please sign in to see this page.")
    login_manager.localize_callback = str


@blp.app_context_processor
def _layout_context():
    return {
        # never bound to the request's body: the layout also renders the 413 page of a body too large to read
        "sign_out_form": SignOutForm(formdata=None) if current_user.is_authenticated else None,
        "languages": current_app.config["LANGUAGES"],
        "current_locale": current_language(),
        "role_labels": ROLE_LABELS,
    }
