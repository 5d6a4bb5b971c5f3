"""The home page, language choice, signing in and out.

``/`` is each role's own start: anonymous visitors get the public page (what the platform is, sign
in); a founder their overview (teams, next bookings, voucher balances, next steps, from
``booking.flow.founder_home``); the other roles are sent to their console. Signing in without a
``next`` lands here, so everyone lands on their own home."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import abort, current_app, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user

from booking.core import clock
from booking.core.errors import Unauthorized
from booking.core.ratelimit import RateLimited
from booking.flow import founder_home
from booking.people import accounts, browser_sessions
from booking.web.access import public_page
from booking.web.blueprint import blp
from booking.web.forms import SignInForm, SignOutForm


def safe_next(target: str | None) -> str:
    """Only same-site relative redirects (no open redirect).

    Browsers read a backslash like a slash, so ``/\\evil.example`` would leave the site too.
    """
    if (
        target
        and target.startswith("/")
        and not target.startswith("//")
        and "\\" not in target
        and not any(ord(c) < 32 for c in target)
        and not urlsplit(target).netloc
    ):
        return target
    return url_for("web.home")


def fresh_session() -> None:
    """Drop everything in the session except the language choice (no session fixation); a server-side
    session it still named (a sign-in over a live one) ends too."""
    locale = session.get("locale")
    browser_sessions.end_browser_session(session.get(browser_sessions.SESSION_KEY))
    session.clear()
    if locale:
        session["locale"] = locale


# where each role other than the founder starts: its console
ROLE_HOMES = {
    "lab_manager": "web.lab_console",
    "provider": "web.provider_console",
    "finance": "web.finance_dashboard",
    "admin": "web.admin_overview",
}


@blp.route("/")
@public_page
def home():
    if not current_user.is_authenticated:
        return render_template("home.html")
    if current_user.role == "founder":
        overview = founder_home.founder_overview(current_user, clock.now())
        return render_template("home/founder.html", overview=overview)
    endpoint = ROLE_HOMES.get(current_user.role)
    if endpoint is None:
        return render_template("home.html")
    return redirect(url_for(endpoint))


@blp.route("/favicon.ico")
@public_page
def favicon():
    """Browsers (and crawlers) ask for this path whatever the page links; answer with the icon."""
    return current_app.send_static_file("favicon.ico")


@blp.route("/language/<code>")
@public_page
def set_language(code: str):
    if code not in current_app.config["LANGUAGES"]:
        abort(404)
    session["locale"] = code
    if current_user.is_authenticated:
        current_user.locale = code
    return redirect(safe_next(request.args.get("next")))


@blp.route("/sign-in", methods=["GET", "POST"])
@public_page
def sign_in():
    form = SignInForm()
    if form.validate_on_submit():
        try:
            user = accounts.authenticate(form.email.data, form.password.data)
        except RateLimited as error:
            wait = error.details["retry_after_seconds"]
            form.email.errors.append(
                _(
                    "Too many failed sign-ins for this account. Try again in %(minutes)d minutes.",
                    minutes=-(-wait // 60),
                )
            )
            return render_template("auth/sign_in.html", form=form), 429, {"Retry-After": str(wait)}
        except Unauthorized as error:
            if error.code == "account_disabled":  # only after the right password
                form.email.errors.append(
                    _("This account is disabled. Ask the platform administrator to reactivate it.")
                )
            else:
                form.password.errors.append(_("E-mail or password is wrong."))
        else:
            fresh_session()
            login_user(user)
            return redirect(safe_next(request.args.get("next")))
    return render_template("auth/sign_in.html", form=form), 200 if not form.errors else 422


@blp.route("/sign-out", methods=["POST"])
@public_page
def sign_out():
    if SignOutForm().validate_on_submit():
        logout_user()
        fresh_session()
    return redirect(url_for("web.home"))
