"""The account page of any signed-in user: language preference, password, API tokens, private iCal feeds,
and signing out everywhere.

Tokens and feeds go through ``booking.people.accounts`` and ``booking.flow.calendar``, the same functions as
``/api/v1/auth/tokens`` and ``/api/v1/calendar-feeds``. A new secret is shown once, in the response
to the POST that made it (never flashed: the session cookie would carry it), and is not cached.
"""

from __future__ import annotations

from flask import current_app, flash, redirect, render_template, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_user, logout_user
from sqlalchemy import select
from wtforms import SelectChoice, SelectField, SubmitField
from wtforms.validators import DataRequired

from booking.core.db import db
from booking.core.errors import Invalid
from booking.core.ratelimit import RateLimited
from booking.flow import calendar
from booking.models import CalendarFeed
from booking.people import accounts, password_reset
from booking.web.access import page
from booking.web.blueprint import blp
from booking.web.form_base import PlatformForm
from booking.web.forms import ActionForm
from booking.web.password_forms import ChangePasswordForm, SignOutEverywhereForm
from instruments import catalogue
from instruments.models import Instrument

FEED_INSTRUMENT_CHOICES = 200  # a lab manager picks among at most this many instruments


class LanguageForm(PlatformForm):
    locale = SelectField(_l("Language"), validators=[DataRequired()])
    submit = SubmitField(_l("Save language"))


class TokenForm(PlatformForm):
    submit = SubmitField(_l("Create a token"))


class FeedForm(PlatformForm):
    # "user" (the bookings of all my teams) or "instrument:<id>" (one instrument I manage)
    target = SelectField(_l("Calendar"), validators=[DataRequired()])
    submit = SubmitField(_l("Create a feed URL"))


def _language_form() -> LanguageForm:
    form = LanguageForm(prefix="language", locale=session.get("locale") or current_user.locale)
    form.locale.choices = [
        SelectChoice(code, label) for code, label in current_app.config["LANGUAGES"].items()
    ]
    return form


def _managed_instruments() -> list[Instrument]:
    if current_user.role not in ("lab_manager", "admin"):
        return []
    query = catalogue.managed_instruments(current_user).order_by(Instrument.name, Instrument.id)
    return list(db.session.scalars(query.limit(FEED_INSTRUMENT_CHOICES)))


def _feed_form() -> FeedForm:
    form = FeedForm(prefix="feed")
    form.target.choices = [SelectChoice("user", _("Bookings of my teams"))] + [
        SelectChoice(f"instrument:{i.id}", _("Bookings of %(name)s", name=i.name))
        for i in _managed_instruments()
    ]
    return form


def _password_form() -> ChangePasswordForm:
    form = ChangePasswordForm(prefix="password")
    form.account_email = current_user.email
    return form


def _keep_only_locale() -> None:
    """Empty the session but for the language choice (a fresh session after a password change)."""
    locale = session.get("locale")
    session.clear()
    if locale:
        session["locale"] = locale


def _account_page(status: int = 200, **extra):
    feeds = list(db.session.scalars(calendar.feeds_of(current_user).order_by(CalendarFeed.id)))
    names = {}
    instrument_ids = {f.instrument_id for f in feeds if f.instrument_id is not None}
    if instrument_ids:
        names = dict(
            db.session.execute(
                select(Instrument.id, Instrument.name).where(Instrument.id.in_(instrument_ids))
            ).all()
        )
    context = {
        "language_form": _language_form(),
        "token_form": TokenForm(prefix="token"),
        "feed_form": _feed_form(),
        "action_form": ActionForm(),
        "password_form": _password_form(),
        "everywhere_form": SignOutEverywhereForm(prefix="everywhere"),
        "tokens": accounts.active_tokens(current_user),
        "feeds": feeds,
        "instrument_names": names,
        **extra,
    }
    response = current_app.make_response((render_template("account/account.html", **context), status))
    if "new_token" in extra or "new_feed_url" in extra:
        response.headers["Cache-Control"] = "no-store"
    return response


@blp.route("/account")
@page()
def account():
    return _account_page()


@blp.route("/account/language", methods=["POST"])
@page()
def account_language():
    form = _language_form()
    if not form.validate_on_submit():
        return _account_page(422, language_form=form)
    session["locale"] = form.locale.data
    current_user.locale = form.locale.data
    flash(_("Language saved."), "success")
    return redirect(url_for("web.account"))


@blp.route("/account/tokens", methods=["POST"])
@page()
def account_token_new():
    form = TokenForm(prefix="token")
    if not form.validate_on_submit():
        flash(_("The form has expired; please try again."), "error")
        return redirect(url_for("web.account"))
    token, secret = accounts.issue_token(current_user, current_app.config["API_TOKEN_TTL"])
    return _account_page(200, new_token={"id": token.id, "secret": secret, "expires_at": token.expires_at})


@blp.route("/account/tokens/<int:token_id>/revoke", methods=["POST"])
@page()
def account_token_revoke(token_id: int):
    if ActionForm().validate_on_submit():
        accounts.revoke_token(current_user, token_id)  # someone else's or unknown: 404
        flash(_("Token revoked: it no longer works."), "success")
    else:
        flash(_("The form has expired; please try again."), "error")
    return redirect(url_for("web.account", _anchor="tokens"))


@blp.route("/account/feeds", methods=["POST"])
@page()
def account_feed_new():
    form = _feed_form()
    if not form.validate_on_submit():  # also refuses an instrument the user does not manage
        return _account_page(422, feed_form=form)
    scope, _sep, instrument_id = form.target.data.partition(":")
    feed, secret = calendar.create_feed(current_user, scope, int(instrument_id) if instrument_id else None)
    url = url_for("calendar_feeds.feed", secret=secret, _external=True)
    return _account_page(200, new_feed_url=url, new_feed_id=feed.id)


@blp.route("/account/feeds/<int:feed_id>/revoke", methods=["POST"])
@page()
def account_feed_revoke(feed_id: int):
    if ActionForm().validate_on_submit():
        calendar.revoke_feed(current_user, feed_id)  # someone else's, unknown or revoked: 404
        flash(_("Feed revoked: its URL no longer works."), "success")
    else:
        flash(_("The form has expired; please try again."), "error")
    return redirect(url_for("web.account", _anchor="feeds"))


@blp.route("/account/password", methods=["POST"])
@page()
def account_password():
    """Change the password: every other browser and every API token is signed out; this browser gets a
    fresh session and stays signed in."""
    form = _password_form()
    if not form.validate_on_submit():
        return _account_page(422, password_form=form)
    user = current_user._get_current_object()
    try:
        password_reset.change_password(user, form.current_password.data, form.new_password.data)
    except RateLimited as error:
        wait = error.details["retry_after_seconds"]
        form.current_password.errors.append(
            _("Too many wrong passwords. Try again in %(minutes)d minutes.", minutes=-(-wait // 60))
        )
        return _account_page(429, password_form=form)
    except Invalid as error:
        if error.code == "wrong_password":
            form.current_password.errors.append(_("The current password is wrong."))
        else:
            form.new_password.errors.append(_("This password is too weak; choose another."))
        return _account_page(422, password_form=form)
    _keep_only_locale()
    login_user(user)  # a new server-side session for this browser (the old one ended with the others)
    flash(
        _("Password changed. You were signed out on every other device, and your API tokens were revoked."),
        "success",
    )
    return redirect(url_for("web.account"))


@blp.route("/account/sign-out-everywhere", methods=["POST"])
@page()
def account_sign_out_everywhere():
    form = SignOutEverywhereForm(prefix="everywhere")
    if not form.validate_on_submit():
        return _account_page(422, everywhere_form=form)
    password_reset.sign_out_everywhere(current_user._get_current_object())
    logout_user()
    _keep_only_locale()
    flash(_("You were signed out everywhere, and your API tokens were revoked. Sign in again."), "success")
    return redirect(url_for("web.sign_in"))
