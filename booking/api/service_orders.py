"""Service orders (送样检测): a team orders a lab's testing service; the lab accepts or rejects it,
receives the samples, uploads result files and completes it; the team cancels before the samples
arrive, downloads the results and rates the service. Reconciliation settles completed orders."""

from __future__ import annotations

import marshmallow as ma
from flask import request
from flask.views import MethodView

from booking.api.bookings import PaymentSchema, QuoteSchema, SettlementSchema, _idempotency_key
from booking.api.common import (
    Blueprint,
    BodySchema,
    Id,
    Integer,
    PageArgs,
    QueryId,
    StrictBoolean,
    api_auth,
    current_actor,
    documents,
    paginate,
)
from booking.core.body_limits import body_limit
from booking.core.errors import Invalid
from booking.flow import service_orders, service_ratings, service_results
from booking.flow.bookings import request_digest
from instruments.models import SERVICE_ORDER_STATUSES, ServiceOrder
from vouchers import commitments

blp = Blueprint(
    "service_orders", __name__, url_prefix="/api/v1", description="Orders of lab testing services (送样检测)"
)


class ServiceOrderCreateSchema(BodySchema):
    team_id = Id(required=True)
    service_id = Id(required=True)
    samples = Integer(required=True, validate=ma.validate.Range(min=1, max=1_000_000))
    # judged by the service's sample form (422 ``invalid``, details by key)
    answers = ma.fields.Raw(
        load_default=dict,
        metadata={"description": "answers to the service's sample form, by key", "type": "object"},
    )
    use_vouchers = StrictBoolean(load_default=True)
    payment_method = ma.fields.String(validate=ma.validate.Length(min=1, max=200))


class ResultSchema(ma.Schema):
    id = ma.fields.Integer()
    filename = ma.fields.String()
    size = ma.fields.Integer()
    sha256 = ma.fields.String()
    content_type = ma.fields.String()
    uploaded_at = ma.fields.AwareDateTime()


class RatingSchema(ma.Schema):
    score = ma.fields.Integer()
    comment = ma.fields.String(allow_none=True)
    created_at = ma.fields.AwareDateTime()


class ServiceOrderSchema(ma.Schema):
    id = ma.fields.Integer()
    team_id = ma.fields.Integer()
    service_id = ma.fields.Integer()
    lab_id = ma.fields.Integer()
    service_name = ma.fields.Function(lambda o: o.service.name)
    samples = ma.fields.Integer()
    answers = ma.fields.Dict()
    price_per_sample_fen = ma.fields.Integer(metadata={"description": "frozen at ordering"})
    status = ma.fields.String(metadata={"enum": list(SERVICE_ORDER_STATUSES)})
    reason = ma.fields.String(allow_none=True)
    use_vouchers = ma.fields.Function(lambda o: o.booking.use_vouchers)
    quote = ma.fields.Function(
        lambda o: QuoteSchema().dump(commitments.quote(o.booking)),
        metadata={"description": "the split on samples × price, as committed at ordering"},
    )
    settlement = ma.fields.Function(
        lambda o: SettlementSchema().dump(s) if (s := commitments.settlement(o.booking)) else None,
        metadata={"description": "the split on samples_processed × price, after reconciliation"},
    )
    payment = ma.fields.Function(
        lambda o: PaymentSchema().dump(
            {"status": o.booking.payment_status, "intent_id": o.booking.payment_intent_id}
        )
    )
    due_on = ma.fields.Date(allow_none=True, metadata={"description": "YYYY-MM-DD, Asia/Shanghai"})
    overdue = ma.fields.Function(lambda o: service_orders.is_overdue(o))
    samples_processed = ma.fields.Integer(allow_none=True)
    results = ma.fields.List(ma.fields.Nested(ResultSchema))
    rating = ma.fields.Nested(RatingSchema, allow_none=True)
    created_at = ma.fields.AwareDateTime()
    accepted_at = ma.fields.AwareDateTime(allow_none=True)
    rejected_at = ma.fields.AwareDateTime(allow_none=True)
    received_at = ma.fields.AwareDateTime(allow_none=True)
    completed_at = ma.fields.AwareDateTime(allow_none=True)
    cancelled_at = ma.fields.AwareDateTime(allow_none=True)


class ServiceOrderListArgs(PageArgs):
    team_id = QueryId()
    lab_id = QueryId()
    status = ma.fields.String(validate=ma.validate.OneOf(SERVICE_ORDER_STATUSES))
    overdue = ma.fields.Boolean(metadata={"description": "in progress past due_on (lab-local date)"})


class RejectSchema(BodySchema):
    reason = ma.fields.String(validate=ma.validate.Length(max=500), load_default=None)


class CompleteSchema(BodySchema):
    samples_processed = Integer(required=True, validate=ma.validate.Range(min=1, max=1_000_000))


class RatingCreateSchema(BodySchema):
    score = Integer(required=True, validate=ma.validate.Range(min=1, max=5))
    comment = ma.fields.String(
        validate=ma.validate.Length(max=service_ratings.COMMENT_MAX), load_default=None
    )


class ResultUploadSchema(ma.Schema):
    class Meta:
        unknown = ma.EXCLUDE

    file = ma.fields.Raw(required=True, metadata={"type": "string", "format": "binary"})


def _order(order_id: int) -> ServiceOrder:
    return service_orders.get_order(current_actor(), order_id)


@blp.route("/service-orders")
class ServiceOrders(MethodView):
    @blp.response(201, ServiceOrderSchema)
    @documents(400, 404, 503)
    @api_auth("founder")
    @blp.arguments(ServiceOrderCreateSchema)
    def post(self, body):
        """Order a testing service for your team; the vouchers are committed as for a booking.
        Honours ``Idempotency-Key`` like ``POST /bookings``."""
        return service_orders.submit_order(
            current_actor(),
            **body,
            idempotency_key=_idempotency_key(),
            digest=request_digest({"service_order": request.get_json(silent=True) or {}}),
        )

    @blp.paged_list(ServiceOrderSchema, args=ServiceOrderListArgs)
    def get(self, args):
        """Orders you may see (your teams', your labs', your district's), filtered."""
        query = service_orders.visible_orders(
            current_actor(),
            team_id=args.get("team_id"),
            lab_id=args.get("lab_id"),
            status=args.get("status"),
            overdue=args.get("overdue"),
        )
        return paginate(query, ServiceOrder.id, args)


@blp.route("/service-orders/<int:order_id>")
class ServiceOrderById(MethodView):
    @blp.response(200, ServiceOrderSchema)
    @documents(404)
    @api_auth()
    def get(self, order_id):
        return _order(order_id)


@blp.route("/service-orders/<int:order_id>/accept")
class ServiceOrderAcceptance(MethodView):
    @blp.response(200, ServiceOrderSchema)
    @documents(404, 409)
    @api_auth("lab_manager", "admin")
    def post(self, order_id):
        """Accept a submitted order (the lab's managers)."""
        return service_orders.accept(current_actor(), _order(order_id))


@blp.route("/service-orders/<int:order_id>/reject")
class ServiceOrderRejection(MethodView):
    @blp.response(200, ServiceOrderSchema)
    @documents(400, 404, 409)
    @api_auth("lab_manager", "admin")
    @blp.arguments(RejectSchema)
    def post(self, body, order_id):
        """Reject an order before its samples arrive; its commitments and card hold are released."""
        return service_orders.reject(current_actor(), _order(order_id), body.get("reason"))


@blp.route("/service-orders/<int:order_id>/receive")
class ServiceOrderReceipt(MethodView):
    @blp.response(200, ServiceOrderSchema)
    @documents(404, 409)
    @api_auth("lab_manager", "admin")
    def post(self, order_id):
        """The samples arrived: in progress, due ``turnaround_days`` after today (Asia/Shanghai)."""
        return service_orders.receive(current_actor(), _order(order_id))


@blp.route("/service-orders/<int:order_id>/results")
class ServiceOrderResults(MethodView):
    @blp.response(201, ResultSchema)
    @documents(404, 409, 413, 503)
    @body_limit(service_results.RESULT_BODY_LIMIT)
    @api_auth("lab_manager", "admin")
    @blp.arguments(ResultUploadSchema, location="files")
    def post(self, files, order_id):
        """Upload one result file (multipart ``file``, at most 50 MB, any type)."""
        upload = files["file"]
        if not hasattr(upload, "stream"):
            raise Invalid("Send the file as multipart form data.", details={"file": ["A file."]})
        return service_results.add_result(
            current_actor(),
            _order(order_id),
            filename=upload.filename,
            stream=upload.stream,
            content_type=upload.mimetype,
        )


@blp.route("/service-orders/<int:order_id>/results/<int:file_id>")
class ServiceOrderResultFile(MethodView):
    @blp.doc(responses={200: {"description": "the file", "content": {"application/octet-stream": {}}}})
    @documents(404, 503)
    @api_auth()
    def get(self, order_id, file_id):
        """Download a result file (``Content-Disposition: attachment``): the team and the lab."""
        return service_results.open_result(current_actor(), _order(order_id), file_id)


@blp.route("/service-orders/<int:order_id>/complete")
class ServiceOrderCompletion(MethodView):
    @blp.response(200, ServiceOrderSchema)
    @documents(400, 404, 409)
    @api_auth("lab_manager", "admin")
    @blp.arguments(CompleteSchema)
    def post(self, body, order_id):
        """Complete an order in progress: ``samples_processed`` (1..samples) are billed; at least one
        result file is needed (422 ``no_results``)."""
        return service_orders.complete(current_actor(), _order(order_id), body["samples_processed"])


@blp.route("/service-orders/<int:order_id>/cancel")
class ServiceOrderCancellation(MethodView):
    @blp.response(200, ServiceOrderSchema)
    @documents(404, 409)
    @api_auth("founder")
    def post(self, order_id):
        """Cancel your team's order, free while ``submitted`` or ``accepted``."""
        return service_orders.cancel(current_actor(), _order(order_id))


@blp.route("/service-orders/<int:order_id>/rating")
class ServiceOrderRating(MethodView):
    @blp.response(201, RatingSchema)
    @documents(400, 404, 409)
    @api_auth("founder")
    @blp.arguments(RatingCreateSchema)
    def post(self, body, order_id):
        """Rate a completed order, once (409 ``already_rated``)."""
        return service_ratings.rate(current_actor(), _order(order_id), body["score"], body.get("comment"))
