"""Who sees which district, and for which month: the accounting period a finance report asks for
(``YYYY-MM``, checked here) and the district it is limited to. A district finance office sees what
touches its own district's teams; municipal finance and admins see everything and may narrow it to one
district. Every finance module (exceptions, periods, statements, the dashboard) asks here first.
"""

from __future__ import annotations

import re

from booking.core.db import db
from booking.core.errors import Forbidden, Invalid, NotFound, unknown_reference
from booking.models import District, User

PERIOD_RE = re.compile(r"^[0-9]{4}-(0[1-9]|1[0-2])\Z")  # ASCII digits, no trailing newline


def check_period(period: str, field: str = "period") -> str:
    if not isinstance(period, str) or not PERIOD_RE.match(period):
        raise Invalid("A period is a month: YYYY-MM.", details={field: ["Not a YYYY-MM month."]})
    return period


def is_municipal(user: User) -> bool:
    return user.role == "admin" or (user.role == "finance" and user.district_code is None)


def scope_district(user: User, district_code: str | None) -> str | None:
    """The district a report is limited to: a district office's own (asking for another → 404);
    municipal finance and admins: the one asked for, or none (all)."""
    if user.role not in ("finance", "admin"):
        raise Forbidden("Only finance offices see this.")
    if not is_municipal(user):
        if district_code is not None and district_code != user.district_code:
            raise NotFound("No such district in your scope.")
        return user.district_code
    if district_code is not None and db.session.get(District, district_code) is None:
        raise unknown_reference("district_code", "district code")
    return district_code
