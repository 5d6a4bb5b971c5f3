"""Signing up and proving an e-mail address: the operations behind ``/api/v1/auth/sign-up``,
``/api/v1/auth/verify-email`` and their pages (``booking.web.sign_up``).

Signing up never tells who has an account: a new address gets a founder account (e-mail not verified)
and a verification mail; a known address gets a "you already have an account" mail instead. Both
answer the same and cost the same password-hash work. Until the address is verified the founder may
sign in and register a team; booking and applying for vouchers refuse with 403 ``email_not_verified``
(``accounts.require_verified_email``). The links in the mails are absolute URLs of the HTML pages,
made with ``url_for(..., _external=True)`` (every caller runs in a request).
"""

from __future__ import annotations

from urllib.parse import urljoin

from flask import current_app, url_for
from sqlalchemy.exc import IntegrityError

from booking.core import clock
from booking.core.db import db
from booking.core.errors import Conflict
from booking.models import User
from booking.people import account_mail, accounts, email_links
from booking.people.passwords import check_password

VERIFY = "verify_email"
# the page of the password reset (built beside this one); linked by its path
PASSWORD_RESET_PATH = "password-reset"


def known_locale(locale: str | None) -> str:
    """``locale`` when the platform speaks it, else the default language."""
    languages = current_app.config["LANGUAGES"]
    if locale in languages:
        return locale
    return current_app.config.get("BABEL_DEFAULT_LOCALE", "zh_CN")


def verification_link(secret: str) -> str:
    return url_for("web.verify_email", token=secret, _external=True)


def send_verification(user: User) -> None:
    """A fresh verification link (older ones stop working) mailed to ``user``."""
    account_mail.queue_verification(user, verification_link(email_links.issue_link(user, VERIFY)))


def sign_up(email: str, password: str, name: str, locale: str | None = None) -> User | None:
    """Make a founder account for a new address, or mail the holder of a known one (only flushes).

    Returns the new account, or None when the address had one: the API answers the same either way
    (the pages sign in only the new account). A weak password is 422 ``weak_password`` for both (the
    rule looks only at the password and the address given).
    """
    email = accounts.normalise_email(email)
    check_password(password, email)
    locale = known_locale(locale)
    existing = accounts.find_user_by_email(email)
    if existing is None:
        try:
            with db.session.begin_nested():  # a concurrent sign-up of the same address: the loser mails
                user = accounts.create_user(
                    email=email, password=password, name=name, role="founder", email_verified=False
                )
                user.locale = locale
        except (IntegrityError, Conflict):
            existing = accounts.find_user_by_email(email)
        else:
            send_verification(user)
            return user
    accounts.hash_password(password)  # the work a new account costs: no answer comes faster
    home = url_for("web.home", _external=True)
    account_mail.queue_already_registered(
        email,
        existing.locale if existing is not None and existing.locale else locale,
        url_for("web.sign_in", _external=True),
        urljoin(home, PASSWORD_RESET_PATH),
    )
    return None


def verify_email(secret: str) -> User:
    """Spend a verification link and mark its user's address verified; 422 ``invalid_token`` when the
    link is unknown, used or expired."""
    user = email_links.redeem_link(secret, VERIFY)
    if user.email_verified_at is None:
        user.email_verified_at = clock.now()
    db.session.flush()
    return user


def resend_verification(user: User) -> None:
    """Mail ``user`` a new verification link; 409 ``already_verified`` when there is nothing to verify."""
    if user.email_verified:
        raise Conflict("Your e-mail address is verified already.", code="already_verified")
    send_verification(user)
