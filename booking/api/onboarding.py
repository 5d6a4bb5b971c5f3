"""Signing up and verifying the e-mail address (``booking.people.onboarding``).

Sign-up is limited per address (``SIGN_UP_RATE_LIMIT``, shared with the sign-up page) and resending the
verification mail per user (``VERIFICATION_RESEND_LIMIT``): both send mail. ``RATELIMIT_ENABLED=false``
turns them off like every other limit.
"""

from __future__ import annotations

import marshmallow as ma
from flask.views import MethodView

from booking.api.common import Blueprint, BodySchema, Text, api_auth, current_actor, documents, public
from booking.core.ratelimit import limiter, resend_limit, sign_up_limited
from booking.people import onboarding

blp = Blueprint("onboarding", __name__, url_prefix="/api/v1", description="Sign-up and e-mail verification")


class SignUpSchema(BodySchema):
    judged_by_operation = frozenset({"password"})  # its rules answer 422 weak_password

    email = ma.fields.Email(required=True, validate=ma.validate.Length(max=254))
    password = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=1024))
    name = Text(max_length=100, required=True)
    locale = ma.fields.String(
        validate=ma.validate.OneOf(["zh_CN", "en"]),
        metadata={"description": "the language of the mails (default zh_CN)"},
    )


class SignUpAnswerSchema(ma.Schema):
    status = ma.fields.String(metadata={"description": "always check_your_email"})


class VerifyEmailSchema(BodySchema):
    token = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=200))


class EmailVerifiedSchema(ma.Schema):
    email_verified = ma.fields.Boolean()


@blp.route("/auth/sign-up")
class SignUp(MethodView):
    @blp.response(202, SignUpAnswerSchema)
    @documents(400, 429)
    @public
    @sign_up_limited
    @blp.arguments(SignUpSchema)
    def post(self, body):
        """Make a founder account (e-mail not verified) and mail a verification link. The answer is the
        same whether or not the address has an account (that one gets a "you already have an account"
        mail). 422 ``weak_password``; 429 after too many sign-ups from one address."""
        onboarding.sign_up(body["email"], body["password"], body["name"], body.get("locale"))
        return {"status": "check_your_email"}


@blp.route("/auth/verify-email")
class VerifyEmail(MethodView):
    @blp.response(200, EmailVerifiedSchema)
    @documents(400)
    @public
    @blp.arguments(VerifyEmailSchema)
    def post(self, body):
        """Spend the token of a verification mail: the address is verified. An unknown, used or
        expired token is 422 ``invalid_token``."""
        onboarding.verify_email(body["token"])
        return {"email_verified": True}


@blp.route("/auth/verify-email/resend")
class ResendVerification(MethodView):
    @blp.response(202, SignUpAnswerSchema)
    @documents(409)
    @api_auth()
    @limiter.limit(resend_limit)
    def post(self):
        """Mail yourself a new verification link (older links stop working); 409 ``already_verified``."""
        onboarding.resend_verification(current_actor())
        return {"status": "check_your_email"}
