"""The payee's own statement: what a lab or a provider had settled in a month, for the people who are
paid (lab managers: their labs; provider users: their provider; admins: every payee). One row per
payee (totals summed in the database) and one line per settled booking or testing-service order (a
service order is a booking of kind ``service``; its payee is the lab), read in keyset pages.

The files (CSV/XLSX through ``booking.core.sheets``) have exactly one row per line and always a
header: in the people's layout by default (headers in the reader's language, yuan with two decimals,
China time), the API's ``*_fen`` columns with ``layout=machine``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

from sqlalchemy import and_, false, func, or_, select

from booking.core.db import db
from booking.core.errors import Forbidden, NotFound
from booking.models import Booking, ComputeOffer, Team, User
from instruments.labs import labs_managed_by
from instruments.models import Instrument, Service, ServiceOrder
from vouchers.models import Settlement
from vouchers.reports import files
from vouchers.reports.statements import payee_names
from vouchers.scope import check_period

PAYEE_KINDS = ("lab", "provider")
PAYEE_AMOUNTS = ("total_fen", "municipal_fen", "district_fen", "subsidy_fen", "team_fen", "fee_fen")
LINE_FIELDS = (
    "booking_id",
    "kind",
    "team_id",
    "team_name",
    "resource_name",
    "payee_kind",
    "payee_id",
    "payee_name",
    "starts_at",
    "actual_cost_fen",
    "municipal_fen",
    "district_fen",
    "subsidy_fen",
    "team_fen",
    "fee_fen",
    "settled_at",
)
# the file's columns (``kind`` is the resource kind: instrument, compute or testing service)
FILE_COLUMNS = tuple("resource_kind" if f == "kind" else f for f in LINE_FIELDS)
PAGE_ROWS = 1000


def payees_of(user: User) -> list[tuple[str, int]] | None:
    """The payees whose statements ``user`` sees: None means every payee (admins)."""
    if user.role == "admin":
        return None
    if user.role == "lab_manager":
        return [("lab", lab.id) for lab in labs_managed_by(user)]
    if user.role == "provider":
        return [("provider", user.provider_id)] if user.provider_id is not None else []
    raise Forbidden("Only a payee's own people see its statement.")


def scoped_payees(
    user: User, payee_kind: str | None = None, payee_id: int | None = None
) -> list[tuple[str, int]] | None:
    """The payees a statement covers: the user's, narrowed to one when asked (someone else's → 404)."""
    mine = payees_of(user)
    if payee_kind is None or payee_id is None:
        return mine
    wanted = (payee_kind, payee_id)
    if payee_kind not in PAYEE_KINDS or (mine is not None and wanted not in mine):
        raise NotFound("No such payee in your scope.")
    return [wanted]


def _in_scope(payees: list[tuple[str, int]] | None):
    if payees is None:
        return None
    if not payees:
        return false()
    return or_(
        *(
            and_(Settlement.payee_kind == kind, Settlement.payee_id.in_([i for k, i in payees if k == kind]))
            for kind in sorted({k for k, _ in payees})
        )
    )


def _settled(period: str, payees: list[tuple[str, int]] | None):
    query = select(Settlement).where(Settlement.period == check_period(period))
    condition = _in_scope(payees)
    return query if condition is None else query.where(condition)


def payee_rows(period: str, payees: list[tuple[str, int]] | None) -> list[dict]:
    """One row per payee with bookings settled in ``period`` (summed in the database)."""
    settled = _settled(period, payees).subquery()
    totals = db.session.execute(
        select(
            settled.c.payee_kind,
            settled.c.payee_id,
            func.count(),
            *(
                func.sum(getattr(settled.c, "actual_cost_fen" if a == "total_fen" else a))
                for a in PAYEE_AMOUNTS
            ),
        )
        .group_by(settled.c.payee_kind, settled.c.payee_id)
        .order_by(settled.c.payee_kind, settled.c.payee_id)
    ).all()
    names = payee_names({(row[0], row[1]) for row in totals})
    rows = []
    for kind, payee_id, count, *amounts in totals:
        name, organization = names.get((kind, payee_id), ("", ""))
        rows.append(
            {
                "payee_kind": kind,
                "payee_id": payee_id,
                "payee_name": name,
                "organization": organization,
                "bookings": int(count),
                **{a: int(v or 0) for a, v in zip(PAYEE_AMOUNTS, amounts, strict=True)},
            }
        )
    return rows


def _utc(instant: datetime | None) -> datetime | None:
    if instant is None:
        return None
    if instant.tzinfo is None:  # SQLite hands back naive UTC
        return instant.replace(tzinfo=UTC)
    return instant.astimezone(UTC)


def lines(period: str, payees: list[tuple[str, int]] | None) -> Iterator[dict]:
    """One dict per settled booking or order (``LINE_FIELDS``), in keyset pages of ``PAGE_ROWS``."""
    condition = _in_scope(payees)
    query = (
        select(
            Settlement.id,
            Settlement.booking_id,
            Settlement.settled_at,
            Settlement.payee_kind,
            Settlement.payee_id,
            Settlement.actual_cost_fen,
            Settlement.municipal_fen,
            Settlement.district_fen,
            Settlement.subsidy_fen,
            Settlement.team_fen,
            Settlement.fee_fen,
            Booking.kind,
            Booking.starts_at,
            Booking.team_id,
            Team.name.label("team_name"),
            Instrument.name.label("instrument_name"),
            ComputeOffer.name.label("offer_name"),
            Service.name.label("service_name"),
        )
        .join(Booking, Booking.id == Settlement.booking_id)
        .join(Team, Team.id == Booking.team_id)
        .outerjoin(Instrument, Instrument.id == Booking.instrument_id)
        .outerjoin(ComputeOffer, ComputeOffer.id == Booking.offer_id)
        .outerjoin(ServiceOrder, ServiceOrder.booking_id == Booking.id)
        .outerjoin(Service, Service.id == ServiceOrder.service_id)
        .where(Settlement.period == check_period(period))
    )
    if condition is not None:
        query = query.where(condition)
    last_id = 0
    while True:
        page = db.session.execute(
            query.where(Settlement.id > last_id).order_by(Settlement.id).limit(PAGE_ROWS)
        ).all()
        if not page:
            return
        names = payee_names({(r.payee_kind, r.payee_id) for r in page})
        for r in page:
            yield {
                "booking_id": r.booking_id,
                "kind": r.kind,
                "team_id": r.team_id,
                "team_name": r.team_name,
                "resource_name": {"instrument": r.instrument_name, "service": r.service_name}.get(
                    r.kind, r.offer_name
                ),
                "payee_kind": r.payee_kind,
                "payee_id": r.payee_id,
                "payee_name": names.get((r.payee_kind, r.payee_id), ("", ""))[0],
                "starts_at": _utc(r.starts_at),
                "actual_cost_fen": r.actual_cost_fen,
                "municipal_fen": r.municipal_fen,
                "district_fen": r.district_fen,
                "subsidy_fen": r.subsidy_fen,
                "team_fen": r.team_fen,
                "fee_fen": r.fee_fen,
                "settled_at": _utc(r.settled_at),
            }
        last_id = page[-1].id


def statement(user: User, period: str, payee_kind: str | None = None, payee_id: int | None = None) -> dict:
    """The JSON statement: ``{period, payees, lines}`` in the user's scope."""
    check_period(period)
    payees = scoped_payees(user, payee_kind, payee_id)
    return {"period": period, "payees": payee_rows(period, payees), "lines": list(lines(period, payees))}


def totals(rows: list[dict]) -> dict:
    """The payee rows summed (the pages' totals line)."""
    return {key: sum(r[key] for r in rows) for key in ("bookings", *PAYEE_AMOUNTS)}


def file_values(period: str, payees: list[tuple[str, int]] | None) -> Iterator[list]:
    for line in lines(period, payees):
        yield [line[f].isoformat() if isinstance(line[f], datetime) else line[f] for f in LINE_FIELDS]


def lines_table(
    user: User,
    period: str,
    layout: str = "human",
    payee_kind: str | None = None,
    payee_id: int | None = None,
) -> files.Table:
    """The statement as a file: one row per settled booking or order, a header always, no totals row."""
    check_period(period)
    payees = scoped_payees(user, payee_kind, payee_id)
    return files.table(layout, FILE_COLUMNS, file_values(period, payees), totals_row=False)


def filename(period: str, fmt: str) -> str:
    return f"payee-statement-{period}.{fmt}"
