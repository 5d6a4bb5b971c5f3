"""Sign-in for API clients: bearer tokens."""

from flask import current_app
from flask.views import MethodView

from booking.api.common import Blueprint, api_auth, current_actor, documents, public
from booking.api.schemas import TokenInfoSchema, TokenRequestSchema, TokenSchema, UserSchema
from booking.people import accounts

blp = Blueprint("auth", __name__, url_prefix="/api/v1", description="Sign-in and API tokens")


@blp.route("/auth/tokens")
class Tokens(MethodView):
    @blp.response(201, TokenSchema)
    @documents(400, 401, 429)
    @public
    @blp.arguments(TokenRequestSchema)
    def post(self, body):
        """Exchange e-mail and password for a bearer token (401 ``invalid_credentials``)."""
        user = accounts.authenticate(body["email"], body["password"])
        token, secret = accounts.issue_token(user, current_app.config["API_TOKEN_TTL"])
        return {"token": secret, "id": token.id, "expires_at": token.expires_at, "user": user}

    @blp.response(200, TokenInfoSchema(many=True))
    @api_auth()
    def get(self):
        """Your tokens that are still usable (never their secrets)."""
        return accounts.active_tokens(current_actor())


@blp.route("/auth/tokens/<int:token_id>")
class Token(MethodView):
    @blp.response(204)
    @documents(404)
    @api_auth()
    def delete(self, token_id):
        """Revoke one of your tokens (at once: later requests with it get 401 ``token_revoked``)."""
        accounts.revoke_token(current_actor(), token_id)


@blp.route("/me")
class Me(MethodView):
    @blp.response(200, UserSchema)
    @api_auth()
    def get(self):
        """The signed-in user."""
        return current_actor()
