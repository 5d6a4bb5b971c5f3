"""The team's rating of a service order, once, after the lab completed it."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError

from booking.core import clock
from booking.core.db import db
from booking.core.errors import Conflict, Forbidden, Invalid
from booking.core.input_rules import text_problem
from booking.flow.service_orders import invalid_status, locked_order
from booking.models import User
from instruments.models import ORDER_DONE_STATUSES, ServiceOrder, ServiceRating

COMMENT_MAX = 2000


def _already_rated() -> Conflict:
    return Conflict("This order was rated already.", code="already_rated", details={"order": ["Rated."]})


def rate(actor: User, order: ServiceOrder, score: int, comment: str | None = None) -> ServiceRating:
    """Score 1..5 and an optional comment, by a member of the ordering team, once per order."""
    if not order.team.has_member(actor):
        raise Forbidden("Only the team's members rate an order.")
    if not isinstance(score, int) or isinstance(score, bool) or not 1 <= score <= 5:
        raise Invalid("A score from 1 to 5.", details={"score": ["From 1 to 5."]})
    if comment is not None:
        comment = comment.strip() or None
    if comment is not None and (
        problem := text_problem(comment) or (len(comment) > COMMENT_MAX and "Too long.")
    ):
        raise Invalid("The comment is not valid.", details={"comment": [problem]})
    locked_order(order)
    if order.status not in ORDER_DONE_STATUSES:
        raise invalid_status(order, "rated")
    if order.rating is not None:
        raise _already_rated()
    rating = ServiceRating(
        order_id=order.id, score=score, comment=comment, rated_by_id=actor.id, created_at=clock.now()
    )
    try:
        with db.session.begin_nested():
            db.session.add(rating)
    except IntegrityError:
        raise _already_rated() from None
    db.session.refresh(order)
    return rating
