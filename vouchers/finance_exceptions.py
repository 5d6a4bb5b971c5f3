"""The finance exceptions queue: what reconciliation could not settle on its own (and raised for
finance), listed in the officer's scope (a district office: its own district's; municipal finance and
admins: all), filtered by kind and status, and resolved with a comment. A resolved blocking exception
lets the next reconciliation settle the booking.
"""

from __future__ import annotations

from sqlalchemy import Select, select

from booking.core import clock
from booking.core.db import db
from booking.core.errors import Conflict, NotFound
from booking.models import User
from booking.people import audit
from vouchers.models import FinanceException
from vouchers.scope import is_municipal


def visible_exceptions(user: User) -> Select[tuple[FinanceException]]:
    query = select(FinanceException)
    if is_municipal(user):
        return query
    if user.role == "finance":
        return query.where(FinanceException.district_code == user.district_code)
    return query.where(False)


def filtered_exceptions(user: User, filters: dict) -> Select[tuple[FinanceException]]:
    """The exceptions the user may see, of one ``kind`` and ``status`` when given (the API's list and
    finance's queue page)."""
    query = visible_exceptions(user)
    if filters.get("kind"):
        query = query.where(FinanceException.kind == filters["kind"])
    if filters.get("status"):
        query = query.where(FinanceException.status == filters["status"])
    return query


def exception_for(user: User, exception_id: int) -> FinanceException:
    found = db.session.scalar(visible_exceptions(user).where(FinanceException.id == exception_id))
    if found is None:
        raise NotFound("No such exception.")
    return found


def resolve_exception(officer: User, exception_id: int, comment: str) -> FinanceException:
    """Finance decides: a resolved blocking exception lets the next reconciliation settle the booking."""
    exception = exception_for(officer, exception_id)
    if exception.status != "open":
        raise Conflict("The exception is already resolved.", code="invalid_status")
    exception.status, exception.resolution = "resolved", comment
    exception.resolved_at, exception.resolved_by_id = clock.now(), officer.id
    db.session.flush()
    audit.record(officer, "resolve_exception", exception, before={"status": "open"}, after={"status": "resolved", "resolution": comment})  # fmt: skip
    return exception
