"""Lab open-sharing report (districts reward labs on it): per instrument and month, hours booked and
used by teams, distinct teams served, utilisation of opening hours, and the lab's income by operation
mode. Every team on the platform is a university or student start-up team, so all count.

Hours count by the booking's start month in the instrument's timezone; utilisation = hours used ÷
opening hours of that month (weekly opening hours, blackouts not subtracted), in basis points.
"""

from __future__ import annotations

import calendar
from datetime import date, datetime, time, timedelta

from sqlalchemy import func, select

from booking.core.db import db
from booking.models import SERVED_STATUSES, Booking, User
from instruments.models import Instrument, Lab
from instruments.rules import zone
from vouchers.models import Settlement
from vouchers.reports import files
from vouchers.scope import check_period, scope_district

REPORT_COLUMNS = (
    "lab_id",
    "lab_name",
    "instrument_id",
    "instrument_name",
    "operation_mode",
    "bookings",
    "teams",
    "hours_booked",
    "hours_used",
    "opening_hours",
    "utilisation_bp",
    "income_fen",
)


def _month_bounds(period: str, tz: str) -> tuple[datetime, datetime]:
    year, month = int(period[:4]), int(period[5:])
    first = date(year, month, 1)
    after = first + timedelta(days=calendar.monthrange(year, month)[1])
    return datetime.combine(first, time(0), tzinfo=zone(tz)), datetime.combine(
        after, time(0), tzinfo=zone(tz)
    )


def opening_minutes(instrument: Instrument, period: str) -> int:
    year, month = int(period[:4]), int(period[5:])
    per_weekday = [0] * 7
    for hours in instrument.opening_hours:
        per_weekday[hours.weekday] += hours.closes_minute - hours.opens_minute
    days = calendar.monthrange(year, month)[1]
    return sum(per_weekday[date(year, month, d).weekday()] for d in range(1, days + 1))


def report_rows(user: User, period: str, district_code: str | None = None) -> list[dict]:
    check_period(period)
    district = scope_district(user, district_code)
    query = select(Instrument).join(Lab, Lab.id == Instrument.lab_id).order_by(Lab.id, Instrument.id)
    if district is not None:
        query = query.where(Lab.district_code == district)
    instruments = list(db.session.scalars(query).unique())
    income = dict(
        db.session.execute(
            select(Booking.instrument_id, func.sum(Settlement.actual_cost_fen + Settlement.fee_fen))
            .join(Booking, Booking.id == Settlement.booking_id)
            .where(
                Settlement.period == period,
                Settlement.payee_kind == "lab",
                Booking.instrument_id.in_([i.id for i in instruments]),
            )
            .group_by(Booking.instrument_id)
        ).all()
    )
    rows = []
    for instrument in instruments:
        starts, ends = _month_bounds(period, instrument.timezone)
        bookings = db.session.execute(
            select(
                Booking.team_id,
                Booking.starts_at,
                Booking.ends_at,
                Booking.actual_starts_at,
                Booking.actual_ends_at,
            ).where(
                Booking.instrument_id == instrument.id,
                Booking.status.in_(SERVED_STATUSES),
                Booking.starts_at >= starts,
                Booking.starts_at < ends,
            )
        ).all()
        booked = sum((b.ends_at - b.starts_at).total_seconds() for b in bookings) / 60
        used = sum(
            (b.actual_ends_at - b.actual_starts_at).total_seconds() / 60
            for b in bookings
            if b.actual_starts_at is not None and b.actual_ends_at is not None
        )
        opening = opening_minutes(instrument, period)
        rows.append(
            {
                "lab_id": instrument.lab_id,
                "lab_name": instrument.lab.name,
                "instrument_id": instrument.id,
                "instrument_name": instrument.name,
                "operation_mode": instrument.operation_mode,
                "bookings": len(bookings),
                "teams": len({b.team_id for b in bookings}),
                "hours_booked": f"{booked / 60:.2f}",
                "hours_used": f"{used / 60:.2f}",
                "opening_hours": f"{opening / 60:.2f}",
                "utilisation_bp": int(used * 10_000 // opening) if opening else 0,
                "income_fen": int(income.get(instrument.id) or 0),
            }
        )
    return rows


def income_by_mode(rows: list[dict]) -> dict[str, int]:
    totals: dict[str, int] = {}
    for row in rows:
        totals[row["operation_mode"]] = totals.get(row["operation_mode"], 0) + row["income_fen"]
    return totals


def report_table(rows: list[dict], layout: str = "machine") -> files.Table:
    """The report as a file's table: the API's columns, or the people's layout (``layout=human``)."""
    return files.table(layout, REPORT_COLUMNS, ([row[c] for c in REPORT_COLUMNS] for row in rows))
