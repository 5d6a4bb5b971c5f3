"""Compute providers as resource owners."""

from flask.views import MethodView

from booking.api.common import Blueprint, api_auth, current_actor, documents, paginate
from booking.api.schemas import ProviderCreateSchema, ProviderSchema
from booking.models import Provider
from booking.people import providers

blp = Blueprint("providers", __name__, url_prefix="/api/v1", description="Compute providers")


@blp.route("/providers")
class Providers(MethodView):
    @blp.response(201, ProviderSchema)
    @documents(400)
    @api_auth("admin")
    @blp.arguments(ProviderCreateSchema)
    def post(self, body):
        """Register a compute provider; its users are then created with ``provider_id``."""
        return providers.create_provider(**body)

    @blp.paged_list(ProviderSchema)
    def get(self, args):
        return paginate(providers.visible_providers(current_actor()), Provider.id, args)


@blp.route("/providers/<int:provider_id>")
class ProviderById(MethodView):
    @blp.response(200, ProviderSchema)
    @documents(404)
    @api_auth()
    def get(self, provider_id):
        return providers.provider_for(current_actor(), provider_id)
