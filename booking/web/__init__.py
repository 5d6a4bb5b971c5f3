"""The HTML side. Views call the same operations as the JSON API; only the request boundary commits."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_user, logout_user
from sqlalchemy import select

from booking import accounts, browser_sessions, login_manager, teams
from booking.db import db
from booking.errors import DomainError, Invalid, Unauthorized
from booking.i18n import current_language
from booking.models import District, Team
from booking.ratelimit import RateLimited
from booking.web.access import page, public_page
from booking.web.errors import flash_refusal
from booking.web.forms import AddMemberForm, SignInForm, SignOutForm, TeamForm, VerifyTeamForm

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


def _safe_next(target: str | None) -> str:
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


def _fresh_session() -> None:
    """Drop everything in the session except the language choice (no session fixation); a server-side
    session it still named (a sign-in over a live one) ends too."""
    locale = session.get("locale")
    browser_sessions.end_browser_session(session.get(browser_sessions.SESSION_KEY))
    session.clear()
    if locale:
        session["locale"] = locale


@blp.route("/")
@public_page
def home():
    return render_template("home.html")


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
    return redirect(_safe_next(request.args.get("next")))


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
        except Unauthorized:
            form.password.errors.append(_("E-mail or password is wrong."))
        else:
            _fresh_session()
            login_user(user)
            return redirect(_safe_next(request.args.get("next")))
    return render_template("auth/sign_in.html", form=form), 200 if not form.errors else 422


@blp.route("/sign-out", methods=["POST"])
@public_page
def sign_out():
    if SignOutForm().validate_on_submit():
        logout_user()
        _fresh_session()
    return redirect(url_for("web.home"))


def district_options() -> list[tuple[str, str]]:
    locale = current_language()
    districts = db.session.scalars(select(District).order_by(District.code))
    return [(d.code, f"{d.display_name(locale)} ({d.code})") for d in districts]


@blp.route("/teams")
@page()
def team_list():
    found = db.session.scalars(teams.visible_teams(current_user).order_by(Team.id).limit(200)).unique()
    return render_template("teams/list.html", teams=list(found))


@blp.route("/teams/new", methods=["GET", "POST"])
@page("founder")
def team_new():
    form = TeamForm()
    form.district_code.choices = district_options()
    status = 200
    if form.validate_on_submit():
        try:
            team = teams.create_team(
                current_user,
                name=form.name.data,
                university=form.university.data,
                district_code=form.district_code.data,
                organization=form.organization.data,
            )
        except DomainError as error:
            db.session.rollback()
            flash_refusal(error)
            status = error.status
        else:
            flash(_("Team registered. The district's finance office will verify it."), "success")
            return redirect(url_for("web.team_detail", team_id=team.id))
    elif form.errors:
        status = 422
    return render_template("teams/new.html", form=form), status


@blp.route("/teams/<int:team_id>", methods=["GET"])
@page()
def team_detail(team_id: int):
    team = teams.team_for(current_user, team_id)
    return render_template(
        "teams/detail.html", team=team, member_form=AddMemberForm(), verify_form=VerifyTeamForm()
    )


@blp.route("/teams/<int:team_id>/members", methods=["POST"])
@page()
def team_add_member(team_id: int):
    # Permission first: otherwise anyone signed in could probe which e-mail addresses have accounts.
    team = teams.team_for(current_user, team_id)
    if not team.is_owner(current_user):
        abort(403)
    form = AddMemberForm()
    if form.validate_on_submit():
        member = accounts.find_user_by_email(form.email.data)
        if member is None:
            flash(_("No user with this e-mail."), "error")
        else:
            try:
                teams.add_team_member(current_user, team_id, member.id)
            except Invalid as error:  # e.g. not a founder; 403/404 go to the error pages
                db.session.rollback()
                flash_refusal(error)
            else:
                flash(_("Member added."), "success")
    else:
        flash(_("Check the e-mail address."), "error")
    return redirect(url_for("web.team_detail", team_id=team_id))


@blp.route("/teams/<int:team_id>/verify", methods=["POST"])
@page("finance", "admin")
def team_verify(team_id: int):
    if VerifyTeamForm().validate_on_submit():
        teams.verify_team(current_user, team_id)
        flash(_("Team verified."), "success")
    return redirect(url_for("web.team_detail", team_id=team_id))


# The instrument, booking and voucher pages register their routes on ``blp`` (imported last: they import it).
from booking.web import (  # noqa: E402, F401
    account,
    admin,
    bookings,
    compute,
    finance,
    finance_periods,
    finance_reports,
    instruments,
    lab_console,
    lab_instruments,
    provider,
    voucher_applications,
    voucher_wallet,
    vouchers,
)
