"""Request and response schemas of the core API (accounts, teams, labs, providers)."""

from __future__ import annotations

import marshmallow as ma

from booking.api.common import BodySchema, DistrictCode, Id, Text
from booking.models import ROLES
from instruments.labs import labs_managed_by


class TokenRequestSchema(BodySchema):
    email = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=254))
    password = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=1024))


class UserBriefSchema(ma.Schema):
    id = ma.fields.Integer()
    email = ma.fields.String()
    role = ma.fields.String()
    email_verified = ma.fields.Boolean()
    active = ma.fields.Boolean(attribute="is_active")


class UserSchema(UserBriefSchema):
    name = ma.fields.String()
    district_code = ma.fields.String(allow_none=True)
    provider_id = ma.fields.Integer(allow_none=True)
    lab_ids = ma.fields.Method("_lab_ids")
    created_at = ma.fields.AwareDateTime()
    locale = ma.fields.String(allow_none=True)

    def _lab_ids(self, user) -> list[int]:
        return [lab.id for lab in labs_managed_by(user)] if user.role == "lab_manager" else []


class TokenSchema(ma.Schema):
    token = ma.fields.String(metadata={"description": "the bearer secret; shown once"})
    id = ma.fields.Integer()
    expires_at = ma.fields.AwareDateTime()
    user = ma.fields.Nested(UserBriefSchema)


class TokenInfoSchema(ma.Schema):
    id = ma.fields.Integer()
    created_at = ma.fields.AwareDateTime()
    expires_at = ma.fields.AwareDateTime()


class UserCreateSchema(BodySchema):
    judged_by_operation = frozenset({"password"})  # NUL, surrogates: weak_password (API.md), not invalid text

    email = ma.fields.Email(required=True, validate=ma.validate.Length(max=254))
    # the rules (422 weak_password) are booking.people.passwords', shared with the forms and the CLI
    password = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=1024))
    name = Text(max_length=100, required=True)
    role = ma.fields.String(required=True, validate=ma.validate.OneOf(ROLES))
    district_code = DistrictCode
    lab_id = Id()
    provider_id = Id()


class UserUpdateSchema(BodySchema):
    """``PATCH /users/{id}``: only the fields given change (``booking.people.user_admin.update_user``)."""

    active = ma.fields.Boolean(truthy={True}, falsy={False})  # JSON true or false, not "yes" or 1
    name = Text(max_length=100)
    role = ma.fields.String(validate=ma.validate.OneOf(ROLES))
    district_code = ma.fields.String(
        allow_none=True, validate=ma.validate.Regexp(r"^[0-9]{6}\Z", error="Six digits, e.g. 500106.")
    )
    lab_id = Id()
    provider_id = Id(allow_none=True)


class TeamCreateSchema(BodySchema):
    name = Text(required=True)
    university = Text(required=True)
    district_code = ma.fields.String(
        required=True, validate=ma.validate.Regexp(r"^[0-9]{6}\Z", error="Six digits, e.g. 500106.")
    )
    organization = Text(required=True)


class MemberSchema(BodySchema):
    user_id = Id(required=True)


class TeamMemberSchema(ma.Schema):
    user_id = ma.fields.Integer()
    role = ma.fields.String()


class TeamSchema(ma.Schema):
    id = ma.fields.Integer()
    name = ma.fields.String()
    university = ma.fields.Function(lambda team: team.university.name)
    organization = ma.fields.Function(lambda team: team.organization.name)
    district_code = ma.fields.String()
    owner_id = ma.fields.Integer()
    verified = ma.fields.Boolean()
    verified_at = ma.fields.AwareDateTime(allow_none=True)
    members = ma.fields.List(ma.fields.Nested(TeamMemberSchema), attribute="memberships")
    created_at = ma.fields.AwareDateTime()


class VerifiedSchema(ma.Schema):
    id = ma.fields.Integer()
    verified = ma.fields.Boolean()
    verified_at = ma.fields.AwareDateTime(allow_none=True)


class LabCreateSchema(BodySchema):
    name = Text(required=True)
    university = Text(required=True)
    district_code = ma.fields.String(
        required=True, validate=ma.validate.Regexp(r"^[0-9]{6}\Z", error="Six digits, e.g. 500106.")
    )
    organization = Text(required=True)


class LabSchema(ma.Schema):
    id = ma.fields.Integer()
    name = ma.fields.String()
    university = ma.fields.Function(lambda lab: lab.university.name)
    organization = ma.fields.Function(lambda lab: lab.organization.name)
    district_code = ma.fields.String()
    manager_ids = ma.fields.Function(lambda lab: [m.user_id for m in lab.managers])
    created_at = ma.fields.AwareDateTime()


class ProviderCreateSchema(BodySchema):
    name = Text(required=True)
    organization = Text(required=True)


class ProviderSchema(ma.Schema):
    id = ma.fields.Integer()
    name = ma.fields.String()
    organization = ma.fields.Function(lambda provider: provider.organization.name)
    created_at = ma.fields.AwareDateTime()


class DistrictSchema(ma.Schema):
    code = ma.fields.String()
    name_zh = ma.fields.String()
    name_en = ma.fields.String()
    kind = ma.fields.String()
