"""The statement lines: one row per settled booking of a period (team, resource, actual cost,
municipal and district subsidy, team share, fee), in the finance office's scope, read in keyset pages
so a month of 100,000 bookings never sits in memory. The direct downloads and the background exports
(``vouchers.reports.export_runs``) both write them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

from sqlalchemy import func, select

from booking.core.db import db
from booking.models import Booking, ComputeOffer, Team, User
from instruments.models import Instrument, Service, ServiceOrder
from vouchers.models import Settlement
from vouchers.reports import files
from vouchers.scope import check_period, scope_district

LINE_COLUMNS = (
    "booking_id",
    "settled_at",
    "team_id",
    "team_name",
    "resource_kind",
    "resource_name",
    "payee_kind",
    "payee_id",
    "actual_cost_fen",
    "municipal_fen",
    "district_fen",
    "subsidy_fen",
    "team_fen",
    "fee_fen",
)
PAGE_ROWS = 1000  # booking lines read per query


def _lines_query(user: User, period: str, district_code: str | None):
    district = scope_district(user, district_code)
    check_period(period)
    query = (
        select(
            Settlement.id,
            Settlement.booking_id,
            Settlement.settled_at,
            Booking.team_id,
            Team.name.label("team_name"),
            Booking.kind,
            Instrument.name.label("instrument_name"),
            ComputeOffer.name.label("offer_name"),
            Service.name.label("service_name"),
            Settlement.payee_kind,
            Settlement.payee_id,
            Settlement.actual_cost_fen,
            Settlement.municipal_fen,
            Settlement.district_fen,
            Settlement.subsidy_fen,
            Settlement.team_fen,
            Settlement.fee_fen,
        )
        .join(Booking, Booking.id == Settlement.booking_id)
        .join(Team, Team.id == Booking.team_id)
        .outerjoin(Instrument, Instrument.id == Booking.instrument_id)
        .outerjoin(ComputeOffer, ComputeOffer.id == Booking.offer_id)
        .outerjoin(ServiceOrder, ServiceOrder.booking_id == Booking.id)
        .outerjoin(Service, Service.id == ServiceOrder.service_id)
        .where(Settlement.period == period)
    )
    if district is not None:
        query = query.where(Team.district_code == district)
    return query


def _utc(instant: datetime) -> datetime:
    if instant.tzinfo is None:  # SQLite hands back naive UTC (astimezone would read it as local time)
        return instant.replace(tzinfo=UTC)
    return instant.astimezone(UTC)


def count_lines(user: User, period: str, district_code: str | None = None) -> int:
    inner = _lines_query(user, period, district_code).subquery()
    return int(db.session.scalar(select(func.count()).select_from(inner)))


def line_rows(user: User, period: str, district_code: str | None = None) -> Iterator[list]:
    """One value list per settled booking (``LINE_COLUMNS``), read in keyset pages of ``PAGE_ROWS``:
    each page is its own short query, so the caller may commit between rows."""
    query = _lines_query(user, period, district_code)
    last_id = 0
    while True:
        page = db.session.execute(
            query.where(Settlement.id > last_id).order_by(Settlement.id).limit(PAGE_ROWS)
        ).all()
        if not page:
            return
        for r in page:
            yield [
                r.booking_id,
                _utc(r.settled_at).isoformat(),
                r.team_id,
                r.team_name,
                r.kind,
                {"instrument": r.instrument_name, "service": r.service_name}.get(r.kind, r.offer_name),
                r.payee_kind,
                r.payee_id,
                r.actual_cost_fen,
                r.municipal_fen,
                r.district_fen,
                r.subsidy_fen,
                r.team_fen,
                r.fee_fen,
            ]
        last_id = page[-1].id


def lines_table(
    user: User, period: str, district_code: str | None = None, layout: str = "machine"
) -> files.Table:
    return files.table(layout, LINE_COLUMNS, line_rows(user, period, district_code))


def lines_csv(
    user: User, period: str, district_code: str | None = None, layout: str = "machine"
) -> Iterator[str]:
    return files.csv_pieces(lines_table(user, period, district_code, layout))


def lines_xlsx(
    user: User, period: str, district_code: str | None = None, layout: str = "machine"
) -> Iterator[bytes]:
    return files.xlsx_pieces(lines_table(user, period, district_code, layout), period)
