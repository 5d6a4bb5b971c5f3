"""Lab open-sharing report (districts reward labs on it): per instrument and month, hours booked and
used by teams, distinct teams served, utilisation of opening hours, and the lab's income by operation
mode; beside it, per testing service (送样检测): orders completed and settled, samples processed,
ratings and income. Every team on the platform is a university or student start-up team, so all count.

Service figures count by the month (Asia/Shanghai) an order was completed, a rating given, or a
settlement's period.

Hours count by the booking's start month in the instrument's timezone; utilisation = hours used ÷
opening hours of that month (weekly opening hours, blackouts not subtracted), in basis points.
"""

from __future__ import annotations

import calendar
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import func, select

from booking.core.db import db
from booking.models import SERVED_STATUSES, Booking, User
from instruments.models import ORDER_DONE_STATUSES, Instrument, Lab, Service, ServiceOrder, ServiceRating
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


SERVICE_REPORT_COLUMNS = (
    "lab_id",
    "lab_name",
    "service_id",
    "service_name",
    "orders_completed",
    "orders_settled",
    "samples_processed",
    "ratings",
    "average_score",
    "income_fen",
)
SERVICE_ZONE = "Asia/Shanghai"


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


# --- testing services ---------------------------------------------------------------------------------


def _per_service(query) -> dict[int, tuple]:
    return {row[0]: tuple(row[1:]) for row in db.session.execute(query).all()}


def service_rows(user: User, period: str, district_code: str | None = None) -> list[dict]:
    """Per testing service of the labs in scope: orders completed in the month and their samples,
    orders settled in the period and the income, ratings given in the month and their average."""
    check_period(period)
    district = scope_district(user, district_code)
    query = select(Service).join(Lab, Lab.id == Service.lab_id).order_by(Lab.id, Service.id)
    if district is not None:
        query = query.where(Lab.district_code == district)
    services = list(db.session.scalars(query).unique())
    ids = [s.id for s in services]
    starts, ends = _month_bounds(period, SERVICE_ZONE)
    completed = _per_service(
        select(
            ServiceOrder.service_id, func.count(), func.coalesce(func.sum(ServiceOrder.samples_processed), 0)
        )
        .where(
            ServiceOrder.service_id.in_(ids),
            ServiceOrder.status.in_(ORDER_DONE_STATUSES),
            ServiceOrder.completed_at >= starts,
            ServiceOrder.completed_at < ends,
        )
        .group_by(ServiceOrder.service_id)
    )
    settled = _per_service(
        select(
            ServiceOrder.service_id, func.count(), func.sum(Settlement.actual_cost_fen + Settlement.fee_fen)
        )
        .join(Settlement, Settlement.booking_id == ServiceOrder.booking_id)
        .where(ServiceOrder.service_id.in_(ids), Settlement.period == period)
        .group_by(ServiceOrder.service_id)
    )
    rated = _per_service(
        select(ServiceOrder.service_id, func.count(), func.sum(ServiceRating.score))
        .join(ServiceRating, ServiceRating.order_id == ServiceOrder.id)
        .where(
            ServiceOrder.service_id.in_(ids),
            ServiceRating.created_at >= starts,
            ServiceRating.created_at < ends,
        )
        .group_by(ServiceOrder.service_id)
    )
    rows = []
    for service in services:
        orders_completed, samples = completed.get(service.id, (0, 0))
        orders_settled, income = settled.get(service.id, (0, 0))
        ratings, score_sum = rated.get(service.id, (0, 0))
        average = (
            str((Decimal(int(score_sum)) / ratings).quantize(Decimal("0.01"), ROUND_HALF_UP))
            if ratings
            else None
        )
        rows.append(
            {
                "lab_id": service.lab_id,
                "lab_name": service.lab.name,
                "service_id": service.id,
                "service_name": service.name,
                "orders_completed": int(orders_completed),
                "orders_settled": int(orders_settled),
                "samples_processed": int(samples or 0),
                "ratings": int(ratings),
                "average_score": average,
                "income_fen": int(income or 0),
            }
        )
    return rows


def service_table(rows: list[dict], layout: str = "machine") -> files.Table:
    return files.table(
        layout, SERVICE_REPORT_COLUMNS, ([row[c] for c in SERVICE_REPORT_COLUMNS] for row in rows)
    )
