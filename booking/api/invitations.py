"""Team invitations by e-mail: invite, list, revoke (the team's side) and accept (the invitee's)."""

from __future__ import annotations

import marshmallow as ma
from flask.views import MethodView

from booking.api.common import (
    Blueprint,
    BodySchema,
    api_auth,
    current_actor,
    documents,
    paginate,
)
from booking.models import INVITATION_STATUSES, TeamInvitation
from booking.people import invitations

blp = Blueprint("invitations", __name__, url_prefix="/api/v1", description="Team invitations by e-mail")


class InvitationCreateSchema(BodySchema):
    # trimmed and lower-cased, then judged by the operation (422 with details on ``email``)
    email = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=300))


class InviterSchema(ma.Schema):
    id = ma.fields.Integer()
    name = ma.fields.String()


class InvitationSchema(ma.Schema):
    id = ma.fields.Integer()
    team_id = ma.fields.Integer()
    email = ma.fields.String()
    status = ma.fields.String(metadata={"enum": list(INVITATION_STATUSES)})
    invited_by = ma.fields.Nested(InviterSchema)
    created_at = ma.fields.AwareDateTime()
    expires_at = ma.fields.AwareDateTime()


class AcceptSchema(BodySchema):
    # any string: a wrong one is 422 invalid_token (API.md), not a field error
    token = ma.fields.String(required=True)


class AcceptedSchema(ma.Schema):
    team_id = ma.fields.Integer()


@blp.route("/teams/<int:team_id>/invitations")
class TeamInvitations(MethodView):
    @blp.response(201, InvitationSchema)
    @documents(404, 409)
    @api_auth("founder")
    @blp.arguments(InvitationCreateSchema)
    def post(self, body, team_id):
        """Invite an e-mail address to the team (owner only); a mail with the link goes to it.

        The invitation lives 14 days. Inviting an address with a pending invitation refreshes it (a
        new link; the old one stops working). An address of a member already: 409 ``already_member``.
        """
        return invitations.invite(current_actor(), team_id, body["email"])

    @blp.paged_list(InvitationSchema, "founder", codes=(404,))
    def get(self, args, team_id):
        """The team's invitations (members): pending, accepted, revoked or expired."""
        return paginate(invitations.invitations_of(current_actor(), team_id), TeamInvitation.id, args)


@blp.route("/teams/<int:team_id>/invitations/<int:invitation_id>")
class TeamInvitationById(MethodView):
    @blp.response(204)
    @documents(404, 409)
    @api_auth("founder")
    def delete(self, team_id, invitation_id):
        """Revoke an invitation (owner only): its link stops working. An accepted one: 409."""
        invitations.revoke(current_actor(), team_id, invitation_id)


@blp.route("/invitations/accept")
class InvitationAcceptance(MethodView):
    @blp.response(200, AcceptedSchema)
    @api_auth()
    @blp.arguments(AcceptSchema)
    def post(self, body):
        """Join the team of the invitation (the account with the invited, verified address).

        Another account: 403 ``wrong_account``; unverified address: 403 ``email_not_verified``; an
        unknown, used, revoked or expired token: 422 ``invalid_token``. Accepting twice is fine.
        """
        team = invitations.accept(current_actor(), body["token"])
        return {"team_id": team.id}
