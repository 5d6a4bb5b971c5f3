"""The monthly settlement statement: one row per payee (lab or provider) of the bookings settled in a
period, summed in the database, in the finance office's scope, with the payees' names; and the same rows
as a file's table (the API's columns, or the people's layout). The direct downloads, the API and the
background exports all build it here.
"""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import func, select

from booking.core.db import db
from booking.models import Booking, Provider, Team, User
from instruments.models import Lab
from vouchers.models import Settlement
from vouchers.reports import files
from vouchers.scope import check_period, scope_district

# what a payee's statement row sums (the statement page shows their totals too)
STATEMENT_AMOUNTS = (
    "bookings",
    "total_fen",
    "municipal_fen",
    "district_fen",
    "subsidy_fen",
    "team_fen",
    "fee_fen",
)
STATEMENT_COLUMNS = ("payee_kind", "payee_id", "payee_name", "organization", *STATEMENT_AMOUNTS)


def _settlements(user: User, period: str, district_code: str | None):
    district = scope_district(user, district_code)
    query = select(Settlement).where(Settlement.period == check_period(period))
    if district is not None:
        query = query.join(Booking, Booking.id == Settlement.booking_id).join(
            Team, Team.id == Booking.team_id
        )
        query = query.where(Team.district_code == district)
    return query


def payee_names(keys: set[tuple[str, int]]) -> dict[tuple[str, int], tuple[str, str]]:
    names = {}
    lab_ids = [i for kind, i in keys if kind == "lab"]
    provider_ids = [i for kind, i in keys if kind == "provider"]
    if lab_ids:
        for lab in db.session.scalars(select(Lab).where(Lab.id.in_(lab_ids))):
            names[("lab", lab.id)] = (lab.name, lab.organization.name)
    if provider_ids:
        for provider in db.session.scalars(select(Provider).where(Provider.id.in_(provider_ids))):
            names[("provider", provider.id)] = (provider.name, provider.organization.name)
    return names


def statement_rows(user: User, period: str, district_code: str | None = None) -> list[dict]:
    """One row per payee (lab or provider) of the bookings settled in ``period``, summed in the
    database (a payee row, not a booking row, crosses the wire)."""
    settled = _settlements(user, period, district_code).subquery()
    totals = db.session.execute(
        select(
            settled.c.payee_kind,
            settled.c.payee_id,
            func.count(),
            func.sum(settled.c.actual_cost_fen),
            func.sum(settled.c.municipal_fen),
            func.sum(settled.c.district_fen),
            func.sum(settled.c.subsidy_fen),
            func.sum(settled.c.team_fen),
            func.sum(settled.c.fee_fen),
        )
        .group_by(settled.c.payee_kind, settled.c.payee_id)
        .order_by(settled.c.payee_kind, settled.c.payee_id)
    ).all()
    names = payee_names({(row[0], row[1]) for row in totals})
    rows = []
    for kind, payee_id, count, total, municipal, district, subsidy, team, fee in totals:
        name, organization = names.get((kind, payee_id), ("", ""))
        rows.append(
            {
                "payee_kind": kind,
                "payee_id": payee_id,
                "payee_name": name,
                "organization": organization,
                "bookings": int(count),
                "total_fen": int(total or 0),
                "municipal_fen": int(municipal or 0),
                "district_fen": int(district or 0),
                "subsidy_fen": int(subsidy or 0),
                "team_fen": int(team or 0),
                "fee_fen": int(fee or 0),
            }
        )
    return rows


def statement_values(rows: list[dict]) -> Iterator[list]:
    return ([row[c] for c in STATEMENT_COLUMNS] for row in rows)


def statement_table(rows: list[dict], layout: str = "machine") -> files.Table:
    """The statement as a file's table: the API's columns, or the people's layout (``layout=human``)."""
    return files.table(layout, STATEMENT_COLUMNS, statement_values(rows))
