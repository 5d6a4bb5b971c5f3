"""Password reset, password change and "sign out everywhere" for API clients.

The operations are ``booking.people.password_reset``'s, shared with the HTML pages. Asking for a reset
answers 202 with the same body whether or not the address has an account; one client address may
ask ``PASSWORD_RESET_REQUESTS_PER_CLIENT`` times in a window (429 beyond; shared with the page).
"""

from __future__ import annotations

import marshmallow as ma
from flask import request
from flask.views import MethodView

from booking.api.common import (
    Blueprint,
    BodySchema,
    api_auth,
    bearer_secret,
    current_actor,
    documents,
    public,
)
from booking.people import accounts, password_reset

blp = Blueprint("passwords", __name__, url_prefix="/api/v1", description="Password reset and sign-out")

PASSWORD = {"validate": ma.validate.Length(min=1, max=1024)}


class ResetRequestSchema(BodySchema):
    email = ma.fields.Email(required=True, validate=ma.validate.Length(max=254))


class ResetConfirmSchema(BodySchema):
    judged_by_operation = frozenset({"password"})  # its rules answer 422 weak_password

    token = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=200))
    password = ma.fields.String(required=True, **PASSWORD)


class PasswordChangeSchema(BodySchema):
    judged_by_operation = frozenset({"current_password", "new_password"})

    current_password = ma.fields.String(required=True, **PASSWORD)
    new_password = ma.fields.String(required=True, **PASSWORD)


class StatusSchema(ma.Schema):
    status = ma.fields.String()


@blp.route("/auth/password-reset")
class PasswordReset(MethodView):
    @blp.response(202, StatusSchema)
    @documents(429)
    @public
    @blp.arguments(ResetRequestSchema)
    def post(self, body):
        """Ask for a password reset link by mail: 202 ``check_your_email`` whether or not the account exists."""
        password_reset.limit_requests_from(request.remote_addr)
        password_reset.request_password_reset(body["email"])
        return {"status": "check_your_email"}


@blp.route("/auth/password-reset/confirm")
class PasswordResetConfirm(MethodView):
    @blp.response(200, StatusSchema)
    @public
    @blp.arguments(ResetConfirmSchema)
    def post(self, body):
        """Set a new password with the mailed token; every token and browser session of the user ends.

        422 ``invalid_token`` (unknown, used or expired) or ``weak_password`` (the token stays usable)."""
        password_reset.reset_password(body["token"], body["password"])
        return {"status": "password_changed"}


@blp.route("/auth/sign-out-everywhere")
class SignOutEverywhere(MethodView):
    @blp.response(204)
    @api_auth()
    def post(self):
        """End every API token and browser session of yours, this token included."""
        password_reset.sign_out_everywhere(current_actor())


@blp.route("/me/password")
class MyPassword(MethodView):
    @blp.response(204)
    @documents(429)
    @api_auth()
    @blp.arguments(PasswordChangeSchema)
    def post(self, body):
        """Change your password: 422 ``wrong_password`` or ``weak_password``; 429 after too many wrong
        current passwords. Every browser session and every other API token ends; this token keeps working."""
        _user, token = accounts.user_for_token(bearer_secret())
        password_reset.change_password(
            current_actor(), body["current_password"], body["new_password"], keep_token_id=token.id
        )
