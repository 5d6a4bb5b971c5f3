"""Single sign-on: the account an OpenID Connect provider's claims stand for (found, linked or made).

The provider vouches for a person with claims (``sub``, ``email``, ``email_verified``, ``name``). Only a
verified e-mail is trusted. The account is found by the provider's subject first (it was linked on an
earlier sign-in), then by the e-mail: that account is linked to the subject (and its address counts as
verified). Nobody with that address yet → a new founder account with a random password nobody knows
(a password reset gives them one). Disabled accounts are refused. The caller signs the account in.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping

from sqlalchemy import select

from booking.core import clock
from booking.core.db import db
from booking.core.errors import Conflict, Forbidden, Invalid
from booking.models import User
from booking.people import accounts, audit

NAME_LENGTH = 100  # users.name


def _verified_email(claims: Mapping) -> str:
    email = claims.get("email")
    verified = claims.get("email_verified")
    if isinstance(verified, str):  # some providers send the boolean as a string
        verified = verified.strip().lower() == "true"
    if not isinstance(email, str) or "@" not in email or verified is not True:
        raise Forbidden(
            "The single sign-on account has no verified e-mail address.", code="sso_email_not_verified"
        )
    email = accounts.normalise_email(email)
    if len(email) > 254:
        raise Invalid("The e-mail address is too long.", code="sso_email_not_verified")
    return email


def _name(claims: Mapping, email: str) -> str:
    name = claims.get("name")
    if not isinstance(name, str) or not name.strip():
        name = email.partition("@")[0]
    return name.strip()[:NAME_LENGTH]


def _unusable_password() -> str:
    """A password nobody is told: the account signs in by single sign-on until its owner resets it."""
    return "Sso-" + secrets.token_urlsafe(48)


def account_for_claims(claims: Mapping) -> User:
    """The active account these verified claims stand for, linked to the provider's subject.

    Refusals: 403 ``sso_email_not_verified`` (no verified e-mail), 403 ``account_disabled``,
    409 ``sso_subject_mismatch`` (the account with this e-mail is linked to another subject).
    """
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject or len(subject) > 255:
        raise Invalid("The provider named no subject.", code="sso_no_subject")
    email = _verified_email(claims)
    user = db.session.scalar(select(User).where(User.oidc_subject == subject))
    event = None  # what the audit trail records: an account made, or one linked, by single sign-on
    if user is None:
        user = accounts.find_user_by_email(email)
        event = "sso_link" if user is not None else "sso_sign_up"
        if user is None:
            user = accounts.create_user(
                email=email,
                password=_unusable_password(),
                name=_name(claims, email),
                role="founder",
                email_verified=True,
            )
        elif user.oidc_subject is not None:
            raise Conflict(
                "This account is linked to another single sign-on identity.", code="sso_subject_mismatch"
            )
        user.oidc_subject = subject
    if not user.is_active:
        raise Forbidden("This account is disabled.", code="account_disabled")
    if user.email == email and user.email_verified_at is None:
        user.email_verified_at = clock.now()
    db.session.flush()
    if event is not None:
        audit.record(
            user,
            event,
            user,
            before={"oidc_subject": None} if event == "sso_link" else None,
            after={"email": user.email, "oidc_subject": subject},
        )
    return user
