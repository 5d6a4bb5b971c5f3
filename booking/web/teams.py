"""Teams: list, create, members (and invitations, see ``booking.web.invitations``), verification."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from booking.core.db import db
from booking.core.errors import DomainError, Invalid
from booking.core.i18n import current_language
from booking.models import District, Team, TeamInvitation
from booking.people import accounts, invitations, teams
from booking.web.access import page
from booking.web.blueprint import blp
from booking.web.errors import flash_refusal
from booking.web.forms import ActionForm, AddMemberForm, TeamForm, VerifyTeamForm
from booking.web.invitations import InviteForm


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
    found = []
    if team.has_member(current_user):
        query = invitations.invitations_of(current_user, team_id).order_by(TeamInvitation.id.desc())
        found = list(db.session.scalars(query.limit(200)))
    return render_template(
        "teams/detail.html",
        team=team,
        member_form=AddMemberForm(),
        verify_form=VerifyTeamForm(),
        invite_form=InviteForm(),
        action_form=ActionForm(),
        invitations=found,
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
