"""Single sign-on pages: off to the OpenID Connect provider and back, signed in.

``/auth/oidc/login`` sends the browser to the provider (keeping a same-site ``next``); the provider sends
it back to ``/auth/oidc/callback``, where Authlib checks the state, trades the code (with the PKCE
verifier) for tokens and checks the ID token and its nonce. ``booking.people.single_sign_on`` finds,
links or makes the account; it is signed in like a password sign-in (a fresh session, then
``login_user``). Whatever goes wrong ends on the sign-in page with words, never a 500. Both answer 404
when ``OIDC_ISSUER`` is not set.
"""

from __future__ import annotations

import requests
from authlib.common.errors import AuthlibBaseError
from authlib.common.security import generate_token
from authlib.integrations.base_client import MismatchingStateError
from flask import abort, flash, redirect, request, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import login_user
from joserfc.errors import JoseError

from booking.core.errors import DomainError
from booking.core.single_sign_on import identity_provider
from booking.people import single_sign_on
from booking.web.access import public_page
from booking.web.blueprint import blp
from booking.web.errors import flash_refusal
from booking.web.home import fresh_session, safe_next

NEXT_KEY = "oidc_next"
# what can go wrong talking to the provider: unreachable, a bad answer, a refused code, a bad ID token
PROVIDER_FAILURES = (
    requests.RequestException,
    AuthlibBaseError,
    JoseError,
    ValueError,
    KeyError,
    RuntimeError,
)

REFUSALS = {
    "sso_email_not_verified": _l(
        "Your university account has no verified e-mail address. Sign up with your e-mail address instead."
    ),
    "account_disabled": _l("This account is disabled. Ask the platform's administrators for help."),
    "sso_subject_mismatch": _l(
        "The account with this e-mail address is linked to another university account. "
        "Sign in with your password instead."
    ),
    "sso_no_subject": _l("Single sign-on failed. Try again or sign in with your password."),
}


def _provider():
    provider = identity_provider()
    if provider is None:
        abort(404)
    return provider


def _back_to_sign_in(message: str):
    flash(message, "error")
    return redirect(url_for("web.sign_in"))


@blp.route("/auth/oidc/login")
@public_page
def oidc_login():
    provider = _provider()
    session[NEXT_KEY] = safe_next(request.args.get("next"))
    try:
        return provider.authorize_redirect(
            url_for("web.oidc_callback", _external=True), nonce=generate_token(20)
        )
    except PROVIDER_FAILURES:
        return _back_to_sign_in(
            _("Single sign-on is not available right now. Try again later or sign in with your password.")
        )


def _claims(provider, token: dict) -> dict:
    """The ID token's claims (checked by Authlib), with the userinfo endpoint's when it left out the e-mail."""
    claims = dict(token.get("userinfo") or {})
    if not claims:
        raise ValueError("no ID token")
    if "email" not in claims:
        extra = dict(provider.userinfo(token=token))
        if extra.get("sub") != claims.get("sub"):
            raise ValueError("userinfo names another subject")
        claims.update({key: extra[key] for key in ("email", "email_verified", "name") if key in extra})
    return claims


@blp.route("/auth/oidc/callback")
@public_page
def oidc_callback():
    provider = _provider()
    if request.args.get("error"):
        if request.args["error"] == "access_denied":
            return _back_to_sign_in(_("Single sign-on was cancelled. You are not signed in."))
        return _back_to_sign_in(
            _("The university's sign-in service refused the sign-in. You are not signed in.")
        )
    try:
        claims = _claims(provider, provider.authorize_access_token())
    except MismatchingStateError:
        return _back_to_sign_in(
            _(
                "This single sign-on was not started here or has expired. Please start again from the sign-in page."
            )
        )
    except PROVIDER_FAILURES:
        return _back_to_sign_in(_("Single sign-on failed. Try again or sign in with your password."))
    try:
        user = single_sign_on.account_for_claims(claims)
    except DomainError as error:
        flash_refusal(error, REFUSALS)
        return redirect(url_for("web.sign_in"))
    next_page = session.get(NEXT_KEY)
    fresh_session()
    login_user(user)
    return redirect(safe_next(next_page))
