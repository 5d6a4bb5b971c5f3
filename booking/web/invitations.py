"""Team invitations on the pages: the owner invites and revokes on the team page; the invitee opens
the mailed link (``/invitations/accept?token=...``), signs in (or up) and joins the team."""

from __future__ import annotations

from urllib.parse import urlencode

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from wtforms import EmailField, HiddenField, SubmitField
from wtforms.validators import DataRequired, Length

from booking.core.errors import Conflict, DomainError, Invalid
from booking.people import invitations
from booking.web.access import page, public_page
from booking.web.blueprint import blp
from booking.web.errors import flash_refusal, refusal_message
from booking.web.form_base import PlatformForm
from booking.web.forms import ActionForm


class InviteForm(PlatformForm):
    # its own id: the team page also has the add-member form's ``email``
    email = EmailField(
        _l("E-mail address to invite"), validators=[DataRequired(), Length(max=254)], id="invite-email"
    )
    submit = SubmitField(_l("Send invitation"))


class JoinForm(PlatformForm):
    token = HiddenField(validators=[DataRequired(), Length(max=200)])
    submit = SubmitField(_l("Join the team"))


def _refusal_words():
    return {
        "invalid_token": _l(
            "This invitation link does not work any more: it was used or revoked, or it expired. "
            "Ask the team's owner for a new invitation."
        ),
        "wrong_account": _l(
            "This invitation is for another e-mail address. Sign out, then sign in with the invited address."
        ),
        "email_not_verified": _l(
            "Verify your e-mail address first: follow the link in the mail we sent you, then open this "
            "invitation again."
        ),
        "not_a_founder": _l("Only founder accounts can join a team."),
        "already_member": _l("This address belongs to a member of the team already."),
        "already_accepted": _l("This invitation was accepted already."),
    }


@blp.route("/teams/<int:team_id>/invitations", methods=["POST"])
@page("founder")
def team_invite(team_id: int):
    form = InviteForm()
    if form.validate_on_submit():
        try:
            invitation = invitations.invite(current_user, team_id, form.email.data)
        except (Conflict, Invalid) as error:  # 403/404 go to the error pages
            flash_refusal(error, {**_refusal_words(), "invalid": _("Check the e-mail address.")})
        else:
            flash(_("Invitation sent to %(email)s.", email=invitation.email), "success")
    else:
        flash(_("Check the e-mail address."), "error")
    return redirect(url_for("web.team_detail", team_id=team_id, _anchor="invitations"))


@blp.route("/teams/<int:team_id>/invitations/<int:invitation_id>/revoke", methods=["POST"])
@page("founder")
def team_invitation_revoke(team_id: int, invitation_id: int):
    if ActionForm().validate_on_submit():
        try:
            invitations.revoke(current_user, team_id, invitation_id)
        except Conflict as error:
            flash_refusal(error, _refusal_words())
        else:
            flash(_("Invitation revoked: its link no longer works."), "success")
    else:
        flash(_("The form has expired; please try again."), "error")
    return redirect(url_for("web.team_detail", team_id=team_id, _anchor="invitations"))


def _accept_page(token: str, status: int = 200, problem: str | None = None):
    invitation = invitations.open_invitation(token)
    if problem is None and current_user.is_authenticated and invitation is not None:
        if not invitations.is_for(invitation, current_user):
            problem = str(_refusal_words()["wrong_account"])
        elif not current_user.email_verified:
            problem = str(_refusal_words()["email_not_verified"])
    here = url_for("web.invitation_accept", token=token) if token else None
    return render_template(
        "invitations/accept.html",
        invitation=invitation,
        problem=problem,
        form=JoinForm(token=token),
        sign_in_url=url_for("web.sign_in", next=here),
        # the sign-up page is another module's: link its path, with the way back here
        sign_up_url="/sign-up?" + urlencode({"next": here}) if here else "/sign-up",
    ), status


@blp.route("/invitations/accept", methods=["GET"])
@public_page
def invitation_accept():
    return _accept_page(request.args.get("token", "")[:200])


@blp.route("/invitations/accept", methods=["POST"])
@page()
def invitation_join():
    form = JoinForm()
    if not form.validate_on_submit():
        return _accept_page(form.token.data or "", 422, str(_refusal_words()["invalid_token"]))
    try:
        team = invitations.accept(current_user, form.token.data)
    except DomainError as error:
        return _accept_page(form.token.data, error.status, refusal_message(error, _refusal_words()))
    flash(_("You joined the team %(team)s.", team=team.name), "success")
    return redirect(url_for("web.team_detail", team_id=team.id))
