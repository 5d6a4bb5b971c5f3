"""The lab's side of service orders (送样检测): the queue of its labs' orders (overdue ones first,
filterable by status) and the steps on an order's page — accept, reject (a reason, then a confirm
step), samples received (which sets the due date), result files (several at once, multipart) and
complete with the number of samples processed.

Every change goes through ``booking.flow.service_orders`` / ``service_results`` (the same functions
as the JSON API); views never commit. A refused step flashes an error, so nothing of it is kept.
"""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from booking.core.body_limits import body_limit
from booking.core.db import db
from booking.core.errors import DomainError
from booking.flow import service_orders, service_results
from booking.web.access import page
from booking.web.blueprint import blp
from booking.web.forms import ActionForm
from booking.web.orders import LIST_LIMIT, order_money, order_refusal, render_order_page
from booking.web.service_order_forms import CompleteOrderForm, RejectOrderForm, ResultUploadForm
from instruments.models import SERVICE_ORDER_STATUSES, ServiceOrder


@blp.route("/lab/orders")
@page("lab_manager", "admin")
def lab_orders():
    status = request.args.get("status")
    status = status if status in SERVICE_ORDER_STATUSES else None
    overdue = list(
        db.session.scalars(
            service_orders.visible_orders(current_user, status=status, overdue=True)
            .order_by(ServiceOrder.due_on, ServiceOrder.id)
            .limit(LIST_LIMIT)
        )
    )
    others = list(
        db.session.scalars(
            service_orders.visible_orders(current_user, status=status, overdue=False)
            .order_by(ServiceOrder.created_at.desc(), ServiceOrder.id.desc())
            .limit(LIST_LIMIT)
        )
    )
    orders = overdue + others
    return render_template(
        "lab/orders.html",
        orders=orders,
        overdue_ids={o.id for o in overdue},
        is_overdue=service_orders.is_overdue,
        money=order_money(orders),
        status=status,
    )


def _order(order_id: int) -> ServiceOrder:
    return service_orders.get_order(current_user, order_id)  # 404 beyond the user's orders


def _back(order_id: int):
    return redirect(url_for("web.order_detail", order_id=order_id))


def _step(order_id: int, change, done) -> object:
    """Run one lab step on the order and go back to its page; a refusal (409/422) is flashed."""
    order = _order(order_id)
    if not ActionForm().validate_on_submit():
        return _back(order_id)
    try:
        change(order)
    except DomainError as error:
        if error.status in (403, 404):
            raise
        flash(order_refusal(error, _order(order_id)), "error")
    else:
        flash(done(order), "success")
    return _back(order_id)


@blp.route("/lab/orders/<int:order_id>/accept", methods=["POST"])
@page("lab_manager", "admin")
def lab_order_accept(order_id: int):
    return _step(
        order_id,
        lambda order: service_orders.accept(current_user, order),
        lambda order: _("Order accepted: the team sends the samples."),
    )


@blp.route("/lab/orders/<int:order_id>/receive", methods=["POST"])
@page("lab_manager", "admin")
def lab_order_receive(order_id: int):
    return _step(
        order_id,
        lambda order: service_orders.receive(current_user, order),
        lambda order: _("Samples received: the results are due on %(date)s.", date=order.due_on.isoformat()),
    )


@blp.route("/lab/orders/<int:order_id>/reject", methods=["POST"])
@page("lab_manager", "admin")
def lab_order_reject(order_id: int):
    order = _order(order_id)
    form = RejectOrderForm(prefix="reject")
    if not form.validate_on_submit():
        return render_order_page(order, 422, reject_form=form)
    if form.confirmed.data != "yes":
        return render_template(
            "orders/confirm.html",
            order=order,
            question=_("Reject this order?"),
            explanation=_("The team is told, with your reason; its vouchers are released."),
            reason=form.reason.data,
            button=_("Yes, reject the order"),
            action=url_for("web.lab_order_reject", order_id=order.id),
            form=form,
        )
    try:
        service_orders.reject(current_user, order, form.reason.data.strip())
    except DomainError as error:
        if error.status in (403, 404):
            raise
        flash(order_refusal(error, _order(order_id)), "error")
    else:
        flash(_("Order rejected; the team is told why."), "success")
    return _back(order_id)


@blp.route("/lab/orders/<int:order_id>/results", methods=["POST"])
@page("lab_manager", "admin")
@body_limit(service_results.RESULT_BODY_LIMIT)
def lab_order_results(order_id: int):
    order = _order(order_id)
    form = ResultUploadForm(prefix="results")
    files = [f for f in (form.files.data or []) if getattr(f, "filename", None)]
    if not form.validate_on_submit() or not files:
        if not form.errors:
            form.files.errors = [*form.files.errors, _("Choose at least one file.")]
        return render_order_page(order, 422, upload_form=form)
    try:
        for upload in files:
            service_results.add_result(
                current_user,
                order,
                filename=upload.filename,
                stream=upload.stream,
                content_type=upload.mimetype,
            )
    except DomainError as error:
        if error.status == 404:
            raise
        flash(order_refusal(error, _order(order_id)), "error")  # the error: nothing of this upload is kept
        return _back(order_id)
    flash(_("Result files uploaded: %(count)s.", count=len(files)), "success")
    return _back(order_id)


@blp.route("/lab/orders/<int:order_id>/complete", methods=["POST"])
@page("lab_manager", "admin")
def lab_order_complete(order_id: int):
    order = _order(order_id)
    form = CompleteOrderForm(prefix="complete")
    if not form.validate_on_submit():
        return render_order_page(order, 422, complete_form=form)
    try:
        service_orders.complete(current_user, order, form.samples_processed.data)
    except DomainError as error:
        if error.status in (403, 404):
            raise
        message = order_refusal(error, _order(order_id))
        if "samples_processed" in error.details:
            form.samples_processed.errors.append(message)
            return render_order_page(_order(order_id), error.status, complete_form=form)
        flash(message, "error")
        return _back(order_id)
    flash(_("Order completed: the team can download the results."), "success")
    return _back(order_id)
