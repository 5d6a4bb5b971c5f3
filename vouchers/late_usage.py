"""Usage reported for a booking that is already settled.

Reconciliation settles a booking once, on the usage it has by then; a record that arrives later is
still accepted (the provider did report it, and a retry must stay a duplicate), but it would change
nothing on its own. So each such record becomes a non-blocking exception of kind
``after_settlement``: finance sees it in its queue and on the booking's page and decides.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, true

from booking.core.db import among, db, insert_ignoring_conflicts
from booking.models import Booking, Team
from vouchers.models import FinanceException, Settlement


def note_after_settlement(
    provider_id: int, records: list[dict], new_external_ids: set[str], now: datetime
) -> int:
    """Raise an ``after_settlement`` exception for each newly accepted record (``new_external_ids``:
    duplicates raise nothing) whose booking is already settled. Returns how many were raised."""
    fresh = [r for r in records if r["external_id"] in new_external_ids]
    if not fresh:
        return 0
    settled = {
        row.booking_id: row
        for row in db.session.execute(
            select(Settlement.booking_id, Settlement.period, Team.district_code)
            .join(Booking, Settlement.booking_id == Booking.id)
            .join(Team, Booking.team_id == Team.id)
            .where(among(Settlement.booking_id, {r["booking_id"] for r in fresh}))
        )
    }
    rows = [
        {
            "kind": "after_settlement",
            "booking_id": r["booking_id"],
            "provider_id": provider_id,
            "district_code": settled[r["booking_id"]].district_code,
            "details": {
                "external_id": r["external_id"],
                "gpu_hours": r["gpu_hours"],
                "started_at": r["started_at"].isoformat(),
                "ended_at": r["ended_at"].isoformat(),
                "settled_period": settled[r["booking_id"]].period,
            },
            "blocking": False,
            "status": "open",
            "unique_key": f"after_settlement:{provider_id}:{r['external_id']}",
            "created_at": now,
        }
        for r in fresh
        if r["booking_id"] in settled
    ]
    if not rows:
        return 0
    db.session.execute(
        insert_ignoring_conflicts(FinanceException).on_conflict_do_nothing(index_elements=["unique_key"]),
        rows,
    )
    return len(rows)


def exceptions_shown_with(booking_id: int, user) -> list[FinanceException]:
    """The finance exceptions of one booking that ``user`` may see on the booking's page: finance
    and admins all of them (the page is already scoped to their district), a provider its own."""
    if user.role in ("finance", "admin"):
        mine = true()
    elif user.role == "provider":
        mine = FinanceException.provider_id == user.provider_id
    else:
        return []
    return list(
        db.session.scalars(
            select(FinanceException)
            .where(FinanceException.booking_id == booking_id, mine)
            .order_by(FinanceException.id)
        )
    )
