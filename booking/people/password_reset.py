"""Forgotten passwords, password changes and "sign out everywhere": plain functions that only flush.

- ``request_password_reset(email)``: mails a reset link (``booking.people.email_links``, 1 h, single
  use) when an active account has this address; the caller answers the same whether or not one does.
  An address gets at most ``PASSWORD_RESET_MAILS_PER_ADDRESS`` mails in a window; beyond that the
  request is quietly dropped (still the same answer: nobody learns anything, and nobody can flood an
  inbox). ``limit_requests_from(address)`` limits the requests of one client address (429).
- ``reset_password(secret, password)``: sets the password from a mailed link. A weak password is
  refused before the link is spent; success ends every browser session and API token of the user,
  spends their other reset links, proves the e-mail address (it received the link) and mails a
  confirmation. It never signs anyone in.
- ``change_password(user, current, new, keep_token_id=None)``: for a signed-in user who knows the current
  password (a wrong one counts as a failed sign-in, ``booking.people.sign_in_limit``). Every browser
  session and every API token ends except ``keep_token_id``; the HTML page then starts a fresh session
  for the browser that made the change.
- ``sign_out_everywhere(user)``: every browser session and API token of the user ends.
- ``send_reset_link(user)``: issue a link and queue the mail (also for an admin's "send a reset link").
"""

from __future__ import annotations

import hashlib
import secrets

from flask import current_app, url_for
from sqlalchemy import update

from booking.core import clock
from booking.core.db import db
from booking.core.errors import Invalid
from booking.core.ratelimit import RateLimited, enforce
from booking.models import ApiToken, EmailLink, User
from booking.people import account_mail, browser_sessions, email_links
from booking.people.accounts import find_user_by_email, hash_password, normalise_email, password_matches
from booking.people.passwords import check_password
from booking.people.sign_in_limit import clear_sign_in_attempts, count_sign_in_attempt

PURPOSE = "reset_password"
DEFAULT_MAILS_PER_ADDRESS = "3 per hour"
# generous: a campus shares one address, and asking for a link is cheap for an unknown address
DEFAULT_REQUESTS_PER_CLIENT = "60 per hour"
CONFIRM_ENDPOINT = "web.password_reset_confirm"  # the HTML page the link opens
NOBODY = 0  # no user has this id


def reset_link(secret: str) -> str:
    """The absolute URL of the page that takes a new password for this secret."""
    return url_for(CONFIRM_ENDPOINT, token=secret, _external=True)


def send_reset_link(user: User) -> None:
    """Issue a fresh reset link for ``user`` (older ones stop working) and queue the mail with it."""
    secret = email_links.issue_link(user, PURPOSE)
    account_mail.queue_password_reset_mail(user, reset_link(secret))


def _mail_allowed(email: str) -> bool:
    limit = current_app.config.get("PASSWORD_RESET_MAILS_PER_ADDRESS", DEFAULT_MAILS_PER_ADDRESS)
    try:
        enforce(
            limit,
            "password-reset-address",
            hashlib.sha256(email.encode("utf-8", "surrogatepass")).hexdigest(),
        )
    except RateLimited:  # dropped quietly: the answer stays the same
        return False
    return True


def limit_requests_from(client_address: str) -> None:
    """Count one reset request from this client address (the door passes it); beyond
    ``PASSWORD_RESET_REQUESTS_PER_CLIENT`` in the window 429 ``rate_limited``."""
    limit = current_app.config.get("PASSWORD_RESET_REQUESTS_PER_CLIENT", DEFAULT_REQUESTS_PER_CLIENT)
    enforce(
        limit,
        "password-reset-client",
        client_address or "unknown",
        "Too many password reset requests from here; wait and try again.",
    )


def request_password_reset(email: str) -> None:
    """Mail a reset link if an active account has this address; otherwise do nothing, as quietly."""
    if not isinstance(email, str):
        return
    email = normalise_email(email)
    if not email or len(email) > 254 or not _mail_allowed(email):
        return
    user = find_user_by_email(email)
    if user is None or not user.is_active:
        _work_like_a_mail()
        return
    send_reset_link(user)


def _work_like_a_mail() -> None:
    """Roughly what mailing a link costs (a secret, the UPDATE spending older links, the wording), so
    the answer for an unknown address does not come measurably sooner."""
    secret = secrets.token_urlsafe(32)
    db.session.execute(
        update(EmailLink)
        .where(EmailLink.user_id == NOBODY, EmailLink.purpose == PURPOSE, EmailLink.used_at.is_(None))
        .values(used_at=clock.now())
        .execution_options(synchronize_session=False)
    )
    account_mail.password_reset_mail(User(name="", email="", locale=None), reset_link(secret))


def usable_reset_user(secret: str) -> User | None:
    """The active user a reset link is for while it is usable (not spent by looking), else None."""
    user = email_links.usable_link_user(secret, PURPOSE)
    return user if user is not None and user.is_active else None


def revoke_tokens(user: User, keep_token_id: int | None = None) -> None:
    """Revoke every live API token of the user but ``keep_token_id``."""
    query = update(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
    if keep_token_id is not None:
        query = query.where(ApiToken.id != keep_token_id)
    db.session.execute(query.values(revoked_at=clock.now()).execution_options(synchronize_session=False))


def sign_out_everywhere(user: User) -> None:
    """End every browser session and API token of the user, the caller's own included."""
    browser_sessions.end_browser_sessions(user)
    revoke_tokens(user)
    db.session.flush()


def _set_password(user: User, password: str, keep_token_id: int | None = None) -> None:
    user.password_hash = hash_password(password)
    email_links.spend_links(user, PURPOSE)
    browser_sessions.end_browser_sessions(user)
    revoke_tokens(user, keep_token_id)
    clear_sign_in_attempts(user.email)
    account_mail.queue_password_changed_mail(user)
    db.session.flush()


def reset_password(secret: str, password: str) -> User:
    """Set a new password from a mailed link; 422 ``invalid_token`` or ``weak_password`` (link kept)."""
    user = usable_reset_user(secret)
    if user is None:
        raise email_links.invalid_token()
    check_password(password, user.email)
    user = email_links.redeem_link(secret, PURPOSE)  # one conditional UPDATE: of two racers one wins
    if not user.is_active:
        raise email_links.invalid_token()
    if user.email_verified_at is None:  # the link reached this address: it is theirs
        user.email_verified_at = clock.now()
    _set_password(user, password)
    return user


def wrong_current_password() -> Invalid:
    return Invalid(
        "The current password is wrong.",
        code="wrong_password",
        details={"current_password": ["The current password is wrong."]},
    )


def change_password(
    user: User, current_password: str, new_password: str, keep_token_id: int | None = None
) -> None:
    """Change a signed-in user's password; 422 ``wrong_password``, ``weak_password``; 429 after too many
    wrong current passwords (they count as failed sign-ins of the account)."""
    count_sign_in_attempt(user.email)
    if not password_matches(user, current_password):
        raise wrong_current_password()
    check_password(new_password, user.email)
    _set_password(user, new_password, keep_token_id)
