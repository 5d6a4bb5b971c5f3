"""Users (admin) and reference data."""

from flask.views import MethodView
from sqlalchemy import select

from booking.api.common import Blueprint, api_auth, current_actor, documents, paginate
from booking.api.schemas import DistrictSchema, UserCreateSchema, UserSchema, UserUpdateSchema
from booking.core.db import db
from booking.core.errors import NotFound
from booking.models import District, User
from booking.people import accounts, user_admin
from instruments.labs import add_lab_manager, require_lab_reference

blp = Blueprint("users", __name__, url_prefix="/api/v1", description="Users and reference data")


@blp.route("/users")
class Users(MethodView):
    @blp.response(201, UserSchema)
    @documents(400, 409)
    @api_auth("admin")
    @blp.arguments(UserCreateSchema)
    def post(self, body):
        """Create a user. Finance without ``district_code`` is municipal finance; lab managers may be
        given ``lab_id`` and provider users need ``provider_id``. A weak password (under 10 characters,
        one character class, the e-mail, a common password, control characters) is 422
        ``weak_password``."""
        lab = require_lab_reference(body["lab_id"]) if "lab_id" in body else None
        user = accounts.create_user(
            email=body["email"],
            password=body["password"],
            name=body["name"],
            role=body["role"],
            district_code=body.get("district_code"),
            provider_id=body.get("provider_id"),
        )
        if lab is not None:
            add_lab_manager(lab, user.id)
        return user

    @blp.paged_list(UserSchema, "admin")
    def get(self, args):
        """All users (admin)."""
        return paginate(select(User), User.id, args)


@blp.route("/users/<int:user_id>")
class UserById(MethodView):
    @blp.response(200, UserSchema)
    @documents(404)
    @api_auth()
    def get(self, user_id):
        """A user: admins see anyone, others only themselves."""
        actor = current_actor()
        if actor.id != user_id and actor.role != "admin":
            raise NotFound("No such user.")
        return accounts.get_user(user_id)

    @blp.response(200, UserSchema)
    @documents(404)
    @api_auth("admin")
    @blp.arguments(UserUpdateSchema)
    def patch(self, body, user_id):
        """Change a user (admin): ``name``, ``role`` with ``district_code`` (finance), ``provider_id``
        (provider, required), ``lab_id`` (lab managers: also manage that lab), and ``active``.
        ``active: false`` revokes every API token, ends every browser session and makes sign-in answer
        401 ``account_disabled``; nothing the user owns is deleted. 422 ``cannot_deactivate_self``,
        ``last_admin`` (the last active admin stays one), ``unknown_reference``, ``invalid`` with the field."""
        return user_admin.update_user(current_actor(), user_id, **body)


@blp.route("/districts")
class Districts(MethodView):
    @blp.response(200, DistrictSchema(many=True))
    @api_auth()
    def get(self):
        """Chongqing's 38 districts and counties (GB/T 2260)."""
        return list(db.session.scalars(select(District).order_by(District.code)))
