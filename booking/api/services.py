"""Lab testing services (送样检测): a lab's managers publish and change them; anyone signed in searches
the catalogue. Orders of a service come later (their endpoints will reference ``service_id``)."""

from __future__ import annotations

import copy

import marshmallow as ma
from flask.views import MethodView

from booking.api.common import (
    Blueprint,
    BodySchema,
    DistrictCode,
    Integer,
    PageArgs,
    QueryId,
    StrictBoolean,
    Text,
    api_auth,
    current_actor,
    documents,
    paginate,
)
from booking.core.money import MAX_FEN
from instruments import services
from instruments.catalogue import managed_lab_for
from instruments.models import Service

blp = Blueprint("services", __name__, url_prefix="/api/v1", description="Lab testing services (送样检测)")


class SampleFieldSchema(ma.Schema):
    """One question of a service's sample form (documentation of what ``sample_fields`` holds)."""

    key = ma.fields.String(metadata={"description": "snake_case identifier, at most 40 characters, unique"})
    label = ma.fields.String(metadata={"description": "what the form asks, at most 100 characters"})
    type = ma.fields.String(validate=ma.validate.OneOf(services.FIELD_TYPES))
    required = ma.fields.Boolean()
    choices = ma.fields.List(
        ma.fields.String(),
        metadata={"description": "a choice field's options (only there, non-empty, unique)"},
    )


class ServiceFields(ma.Schema):
    """Writable fields, shared by create (name, category, price, turnaround, max samples required)."""

    name = Text(required=True)
    category = Text(max_length=50, required=True)
    description = ma.fields.String(validate=ma.validate.Length(max=5000), load_default="")
    price_per_sample_fen = Integer(required=True, validate=ma.validate.Range(0, MAX_FEN))
    turnaround_days = Integer(required=True, validate=ma.validate.Range(1, 365))
    max_samples = Integer(required=True, validate=ma.validate.Range(1, 10_000))
    # judged by instruments.services (422 invalid, details by path: sample_fields.2.choices)
    sample_fields = ma.fields.Raw(
        load_default=list,
        metadata={
            "description": "at most 30 fields [{key, label, type: text|number|choice, required, choices?}]",
            "type": "array",
            "items": {"type": "object"},
        },
    )


class ServiceCreateSchema(ServiceFields, BodySchema):
    pass


def _optional(field: ma.fields.Field) -> ma.fields.Field:
    field = copy.copy(field)
    field.required = False
    field.load_default = ma.missing
    return field


ServiceUpdateSchema = BodySchema.from_dict(
    {
        **{name: _optional(field) for name, field in ServiceFields._declared_fields.items()},
        "active": StrictBoolean(),
    },
    name="ServiceUpdateSchema",
)
ServiceUpdateSchema.__doc__ = "Any subset of the writable fields, plus ``active``."


class ServiceSchema(ma.Schema):
    id = ma.fields.Integer()
    lab_id = ma.fields.Integer()
    lab_name = ma.fields.Function(lambda s: s.lab.name)
    university = ma.fields.Function(lambda s: s.lab.university.name)
    district_code = ma.fields.Function(lambda s: s.lab.district_code)
    name = ma.fields.String()
    category = ma.fields.String()
    description = ma.fields.String()
    price_per_sample_fen = ma.fields.Integer()
    turnaround_days = ma.fields.Integer()
    max_samples = ma.fields.Integer()
    sample_fields = ma.fields.List(ma.fields.Nested(SampleFieldSchema))
    active = ma.fields.Boolean()
    created_at = ma.fields.AwareDateTime()


class ServiceSearchArgs(PageArgs):
    q = ma.fields.String(
        validate=ma.validate.Length(max=200),
        metadata={"description": "case-insensitive text in the name, category or description"},
    )
    category = ma.fields.String(validate=ma.validate.Length(min=1, max=50), metadata={"description": "exact"})
    district_code = DistrictCode
    lab_id = QueryId()


@blp.route("/labs/<int:lab_id>/services")
class LabServices(MethodView):
    @blp.response(201, ServiceSchema)
    @documents(400, 404)
    @api_auth("lab_manager", "admin")
    @blp.arguments(ServiceCreateSchema)
    def post(self, body, lab_id):
        """Publish a testing service of this lab (its managers only)."""
        return services.create_service(managed_lab_for(current_actor(), lab_id), **body)


@blp.route("/services")
class Services(MethodView):
    @blp.paged_list(ServiceSchema, args=ServiceSearchArgs)
    def get(self, args):
        """Search the service catalogue: active services, and the inactive ones of labs you manage."""
        return paginate(services.found_services(current_actor(), args), Service.id, args)


@blp.route("/services/<int:service_id>")
class ServiceById(MethodView):
    @blp.response(200, ServiceSchema)
    @documents(404)
    @api_auth()
    def get(self, service_id):
        """One service with its sample form."""
        return services.service_for(current_actor(), service_id)

    @blp.response(200, ServiceSchema)
    @documents(400, 404)
    @api_auth("lab_manager", "admin")
    @blp.arguments(ServiceUpdateSchema)
    def patch(self, body, service_id):
        """Change a service (e.g. ``active: false`` to withdraw it from the catalogue)."""
        return services.update_service(services.managed_service_for(current_actor(), service_id), **body)
