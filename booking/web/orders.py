"""Service orders (送样检测) as the team sees them: ordering a service from its page (the form built
from the service's sample form, then a confirm step with the voucher split), "My orders", one order's
page (answers, timeline, result files, cancel, rating). The lab's side is in ``booking.web.lab_orders``.

Every change goes through ``booking.flow.service_orders`` / ``service_results`` / ``service_ratings``
(the same functions as the JSON API); views never commit.
"""

from __future__ import annotations

from datetime import timedelta

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from booking.core.db import db
from booking.core.errors import DomainError
from booking.flow import bookings, service_orders, service_ratings, service_results
from booking.flow.payments.client import client as payments_client
from booking.people.accounts import require_verified_email
from booking.web.access import page
from booking.web.blueprint import blp
from booking.web.errors import refusal_message, show_beside
from booking.web.forms import ActionForm
from booking.web.instruments import bookable_teams, team_choices
from booking.web.service_order_forms import (
    ORDER_STATUS_LABELS,
    CompleteOrderForm,
    ConfirmForm,
    RatingForm,
    RejectOrderForm,
    ResultUploadForm,
    order_form,
)
from booking.web.services import render_service_page
from instruments import services
from instruments.models import (
    ORDER_CANCELLABLE_STATUSES,
    ORDER_DONE_STATUSES,
    SERVICE_ORDER_STATUSES,
    ServiceOrder,
    ServiceOrderStatus,
)
from vouchers import commitments

LIST_LIMIT = 200

ORDER_WORDS = {
    "too_many_samples": _l("This service takes fewer samples in one order."),
    "team_not_verified": _l("The team is not verified yet."),
    "forbidden": _l("Only the team's members order for it."),
    "unknown_reference": _l("This service cannot be ordered at the moment."),
    "idempotency_key_reused": _l("This form was already used for an order; reload the page."),
    "invalid_status": _l("The order changed meanwhile; see its status."),
    "already_rated": _l("This order was rated already."),
    "no_results": _l("Upload at least one result file first."),
    "payload_too_large": _l("A result file is at most 50 MB."),
    "payment_method_required": _l("Enter a card: the team pays part of the cost."),
    "payment_declined": _l("The card was declined. Try another card."),
    "payments_unavailable": _l("Card payments are unavailable at the moment. Try again shortly."),
}
PAYMENT_CODES = ("payment_method_required", "payment_declined", "payments_unavailable")


@blp.app_context_processor
def _order_labels():
    return {"order_status_labels": ORDER_STATUS_LABELS}


def order_refusal(error: DomainError, order: ServiceOrder | None = None) -> str:
    """A refused order operation in the page's language; the order (reloaded) names its status."""
    words = dict(ORDER_WORDS)
    if order is not None:
        words["invalid_status"] = lambda: _(
            "This order is %(status)s and cannot be changed this way.",
            status=ORDER_STATUS_LABELS[order.status],  # the table's CHECK admits only these
        )
    invalid = {
        "samples": _l("Give a number of samples the service takes."),
        "samples_processed": _l("Between 1 and the number of samples ordered."),
    }
    return refusal_message(error, words, invalid=invalid)


# --- ordering -------------------------------------------------------------------------------------------


def _show_order_refusal(form, error: DomainError) -> None:
    if error.code == "invalid" and form.show_answer_problems(error.details):
        form.form_errors.append(_("Some answers about the samples need fixing; see below."))
        return
    fields = {"samples": form.samples, "team_id": form.team_id}
    target = next((fields[k] for k in error.details if k in fields), None)
    if error.code in ("team_not_verified", "forbidden"):
        target = form.team_id
    if error.code in PAYMENT_CODES:
        target = form.payment_method  # shown with the price, on the confirm step
    show_beside(form, target, order_refusal(error))


def _review(form, service) -> dict:
    """The confirm step: the cost and how vouchers would split it (``quote_order``, as the API's)."""
    team = next(t for t in bookable_teams(current_user) if t.id == form.team_id.data)
    split = service_orders.quote_order(team, service, form.samples.data, form.use_vouchers.data)
    form.confirmed.data = "yes"
    return {
        "total_fen": service_orders.order_cost_fen(service, form.samples.data),
        "municipal_fen": split.by_level("municipal"),
        "district_fen": split.by_level("district"),
        "team_pays_fen": split.team_pays_fen,
        "needs_payment": payments_client() is not None and split.team_pays_fen > 0,
    }


@blp.route("/services/<int:service_id>/order", methods=["POST"])
@page("founder")
def service_order(service_id: int):
    service = services.service_for(current_user, service_id)
    form = order_form(service)
    form.team_id.choices = team_choices(bookable_teams(current_user))
    try:
        require_verified_email(current_user)  # before the other rules, as for the API
    except DomainError as error:
        form.form_errors.append(order_refusal(error))
        return render_service_page(service, form, error.status)
    if not form.validate_on_submit():
        return render_service_page(service, form, 422)
    answers = form.answers()
    if form.confirmed.data != "yes":
        problems = services.answer_problems(service.sample_fields, answers)
        if problems:  # no price for an order the lab cannot take: say what is missing first
            form.show_answer_problems(problems)
            return render_service_page(service, form, 422)
        return render_service_page(service, form, review=_review(form, service))
    try:
        order = service_orders.submit_order(
            current_user,
            team_id=form.team_id.data,
            service_id=service.id,
            samples=form.samples.data,
            answers=answers,
            use_vouchers=form.use_vouchers.data,
            payment_method=form.payment_method.data or None,
            idempotency_key=f"web-order-{form.request_key.data}",
            digest=bookings.request_digest(
                {
                    "team_id": form.team_id.data,
                    "service_id": service.id,
                    "samples": form.samples.data,
                    "answers": answers,
                    "use_vouchers": form.use_vouchers.data,
                }
            ),
        )
    except DomainError as error:
        _show_order_refusal(form, error)
        if error.code in PAYMENT_CODES:  # the price stands: confirm again with a card
            return render_service_page(service, form, error.status, review=_review(form, service))
        form.confirmed.data = ""  # fix and review the price again
        return render_service_page(service, form, error.status)
    flash(_("Order sent. The lab will accept or decline it; then send your samples."), "success")
    return redirect(url_for("web.order_detail", order_id=order.id))


# --- the orders -----------------------------------------------------------------------------------------


def order_money(orders: list[ServiceOrder]) -> dict[int, dict]:
    """The quote (and settlement) of each order, summed by level, as the lists show them."""
    commitments.preload([o.booking for o in orders])
    return {
        o.id: {
            "quote": commitments.shares(commitments.quote(o.booking)),
            "settled": commitments.shares(commitments.settlement(o.booking)),
        }
        for o in orders
    }


@blp.route("/orders")
@page()
def order_list():
    status = request.args.get("status")
    query = service_orders.visible_orders(
        current_user, status=status if status in SERVICE_ORDER_STATUSES else None
    )
    orders = list(db.session.scalars(query.order_by(ServiceOrder.created_at.desc()).limit(LIST_LIMIT)))
    return render_template(
        "orders/list.html",
        orders=orders,
        money=order_money(orders),
        status=status,
        today=service_orders.lab_today(),
        is_overdue=service_orders.is_overdue,
    )


def _timeline(order: ServiceOrder) -> list[tuple[object, str]]:
    """(instant, what happened) in order."""
    events = [(order.created_at, _("Ordered (%(samples)s samples)", samples=order.samples))]
    if order.accepted_at:
        events.append((order.accepted_at, _("Accepted by the lab")))
    if order.rejected_at:
        events.append((order.rejected_at, _("Rejected by the lab")))
    if order.received_at:
        events.append(
            (order.received_at, _("Samples received; results due on %(date)s", date=order.due_on.isoformat()))
        )
    for result in order.results:
        events.append((result.uploaded_at, _("Result file uploaded: %(name)s", name=result.filename)))
    if order.completed_at:
        events.append(
            (order.completed_at, _("Completed: %(count)s samples processed", count=order.samples_processed))
        )
    if order.cancelled_at:
        events.append((order.cancelled_at, _("Cancelled by the team")))
    if order.rating is not None:
        events.append((order.rating.created_at, _("Rated %(score)s of 5", score=order.rating.score)))
    return sorted(events, key=lambda e: e[0].timestamp() if e[0] else 0)


def render_order_page(order: ServiceOrder, status: int = 200, **forms):
    """One order's page for the team, the lab and finance; ``forms`` are submitted forms to show again."""
    by_team = order.team.has_member(current_user)
    manages = service_orders.manages_order(current_user, order)
    given = dict(order.answers or {})
    # in the order of the sample form, with the lab's labels (a question removed since: by its key)
    answers = [(q["label"], given.pop(q["key"])) for q in order.service.sample_fields if q["key"] in given]
    answers += list(given.items())
    money = order_money([order])[order.id]
    complete_form = forms.get("complete_form") or CompleteOrderForm(
        prefix="complete", samples_processed=order.samples
    )
    complete_form.samples_processed.render_kw = {"type": "number", "min": 1, "max": order.samples}
    return render_template(
        "orders/detail.html",
        order=order,
        answers=answers,
        timeline=_timeline(order),
        quote=money["quote"],
        settled=money["settled"],
        overdue=service_orders.is_overdue(order),
        by_team=by_team,
        manages=manages,
        can_download=service_results.may_download(current_user, order),
        can_cancel=by_team and order.status in ORDER_CANCELLABLE_STATUSES,
        can_rate=by_team and order.status in ORDER_DONE_STATUSES and order.rating is None,
        action_form=ActionForm(),
        rating_form=forms.get("rating_form") or RatingForm(prefix="rating"),
        reject_form=forms.get("reject_form") or RejectOrderForm(prefix="reject"),
        upload_form=forms.get("upload_form") or ResultUploadForm(prefix="results"),
        complete_form=complete_form,
        # what "Samples received" will promise (receive sets due_on the same way)
        due_if_received_today=service_orders.lab_today() + timedelta(days=order.service.turnaround_days),
        statuses=ServiceOrderStatus,
    ), status


@blp.route("/orders/<int:order_id>")
@page()
def order_detail(order_id: int):
    return render_order_page(service_orders.get_order(current_user, order_id))


@blp.route("/orders/<int:order_id>/results/<int:result_id>")
@page()
def order_result(order_id: int, result_id: int):
    order = service_orders.get_order(current_user, order_id)
    return service_results.open_result(current_user, order, result_id)


@blp.route("/orders/<int:order_id>/cancel", methods=["POST"])
@page("founder")
def order_cancel(order_id: int):
    order = service_orders.get_order(current_user, order_id)
    form = ConfirmForm()
    if not form.validate_on_submit():
        return redirect(url_for("web.order_detail", order_id=order.id))
    if form.confirmed.data != "yes":
        return render_template(
            "orders/confirm.html",
            order=order,
            question=_("Cancel this order?"),
            explanation=_("The vouchers it holds are released; nothing is charged."),
            button=_("Yes, cancel the order"),
            action=url_for("web.order_cancel", order_id=order.id),
            form=form,
        )
    try:
        service_orders.cancel(current_user, order)
    except DomainError as error:
        if error.status in (403, 404):
            raise
        flash(order_refusal(error, service_orders.get_order(current_user, order_id)), "error")
    else:
        flash(_("Order cancelled free of charge; its vouchers are released."), "success")
    return redirect(url_for("web.order_detail", order_id=order_id))


@blp.route("/orders/<int:order_id>/rating", methods=["POST"])
@page("founder")
def order_rate(order_id: int):
    order = service_orders.get_order(current_user, order_id)
    form = RatingForm(prefix="rating")
    if not form.validate_on_submit():
        return render_order_page(order, 422, rating_form=form)
    try:
        service_ratings.rate(current_user, order, form.score.data, form.comment.data or None)
    except DomainError as error:
        if error.status in (403, 404):
            raise
        if error.code == "invalid" and "comment" in error.details:
            form.comment.errors.append(
                _("The comment cannot be saved: at most 2000 characters, no control characters.")
            )
            return render_order_page(order, error.status, rating_form=form)
        flash(order_refusal(error, service_orders.get_order(current_user, order_id)), "error")
    else:
        flash(_("Thank you: your rating is saved and the lab sees it."), "success")
    return redirect(url_for("web.order_detail", order_id=order_id))
