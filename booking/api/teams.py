"""Teams: register, members, verification."""

from flask.views import MethodView

from booking.api.common import Blueprint, api_auth, current_actor, documents, paginate
from booking.api.schemas import MemberSchema, TeamCreateSchema, TeamSchema, VerifiedSchema
from booking.models import Team
from booking.people import teams

blp = Blueprint("teams", __name__, url_prefix="/api/v1", description="Startup teams")


@blp.route("/teams")
class Teams(MethodView):
    @blp.response(201, TeamSchema)
    @documents(400)
    @api_auth("founder")
    @blp.arguments(TeamCreateSchema)
    def post(self, body):
        """Register a team; the caller becomes its owner. It starts unverified."""
        return teams.create_team(current_actor(), **body)

    @blp.paged_list(TeamSchema)
    def get(self, args):
        """Teams you may see: your own; a district's for its finance office; all for admins."""
        return paginate(teams.visible_teams(current_actor()), Team.id, args)


@blp.route("/teams/<int:team_id>")
class TeamById(MethodView):
    @blp.response(200, TeamSchema)
    @documents(404)
    @api_auth()
    def get(self, team_id):
        return teams.team_for(current_actor(), team_id)


@blp.route("/teams/<int:team_id>/members")
class TeamMembers(MethodView):
    @blp.response(204)
    @documents(400, 404)
    @api_auth("founder", "admin")
    @blp.arguments(MemberSchema)
    def post(self, body, team_id):
        """Add a founder to the team (owner only; adding twice is fine)."""
        teams.add_team_member(current_actor(), team_id, body["user_id"])


@blp.route("/teams/<int:team_id>/verify")
class TeamVerification(MethodView):
    @blp.response(200, VerifiedSchema)
    @documents(404)
    @api_auth("finance", "admin")
    def post(self, team_id):
        """Verify a team (finance of the team's district, or an admin). Idempotent."""
        return teams.verify_team(current_actor(), team_id)
