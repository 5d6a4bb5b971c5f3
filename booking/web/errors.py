"""An operation's refusal (a ``DomainError``) as people read it on a page: the one translator the
views use.

A page names its own words for the refusals it expects (by the API's error ``code``, by the field an
``invalid`` refusal is about, or by the operation's English message); any other refusal shows the
operation's message. The words are shown beside the form field the refusal is about (the keys of
its ``details``), atop the form, or flashed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from flask import flash
from flask_babel import lazy_gettext as _l
from wtforms import Field

from booking.core.errors import DomainError

# code (or field, or message) → a string, a lazy string, or a function giving one (for words that
# need the page's facts, e.g. an instrument's slot length)
Words = Mapping[str, object]

# refusals any page may meet, worded once (a page's own words for the code come first)
PLATFORM_WORDS: Words = {
    "email_not_verified": _l(
        "Verify your e-mail address first: open the link in the mail we sent you (the banner at the top "
        "of the page sends a new one). Then you can book and apply for compute vouchers."
    ),
}


def field_named(fields: dict, keys) -> Field | None:
    """The first form field that one of ``keys`` (the API's ``details`` keys of a refusal) names."""
    return next((fields[key] for key in keys if fields.get(key) is not None), None)


def show_beside(form, field: Field | None, message: str) -> None:
    """A refusal beside the field it is about, or atop the form when it concerns no one field."""
    if field is not None:
        field.errors = [*field.errors, message]
    else:
        form.form_errors.append(message)


def _said(words: object) -> str:
    return words() if callable(words) else str(words)


def refusal_message(
    error: DomainError,
    by_code: Words | None = None,
    *,
    invalid: Words | None = None,
    by_text: Words | None = None,
) -> str:
    """The page's words for ``error``: for an ``invalid`` refusal about one of ``invalid``'s fields
    (the first that ``details`` names, in ``invalid``'s order), else for its code, else for its
    English message, else the platform's words for its code (``PLATFORM_WORDS``); otherwise the
    operation's message."""
    if error.code == "invalid":
        for key, words in (invalid or {}).items():
            if key in error.details:
                return _said(words)
    words = (by_code or {}).get(error.code)
    if words is None:
        words = (by_text or {}).get(error.message)
    if words is None:
        words = PLATFORM_WORDS.get(error.code)
    return _said(words) if words is not None else error.message


def show_refusal(
    form, error: DomainError, fields: Mapping[str, Field], message: str, also: Iterable[str] = ()
) -> None:
    """``message`` beside the first field the refusal's ``details`` (then ``also``) name, else atop the form."""
    show_beside(form, field_named(fields, [*error.details, *also]), message)


def show_on_named_fields(form, error: DomainError, names: Mapping[str, str], message: str) -> None:
    """``message`` beside every field of ``form`` the refusal's ``details`` name (``names`` maps a
    details key to a field name when they differ); flash the operation's message when none is."""
    shown = False
    for key in error.details:
        field = getattr(form, names.get(key, key), None)
        if field is not None:
            field.errors.append(message)
            shown = True
    if not shown:
        flash(error.message, "error")


def flash_refusal(error: DomainError, by_code: Words | None = None) -> None:
    flash(refusal_message(error, by_code), "error")
