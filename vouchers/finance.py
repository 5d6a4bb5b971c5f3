"""District and municipal finance: the exceptions queue, period close, monthly settlement statements
per payee, payouts and the programme dashboard.

Scope, everywhere: a district finance office sees what touches its district's teams; municipal
finance and admins see everything (and may narrow it to one district).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from sqlalchemy import Select, func, select

from booking.core import clock
from booking.core.db import db
from booking.core.errors import Conflict, Forbidden, Invalid, NotFound, unknown_reference
from booking.models import Booking, District, Provider, Team, User
from booking.people import audit
from instruments.models import Lab
from vouchers import ledger, report_files
from vouchers.models import (
    AccountingPeriod,
    FinanceException,
    JournalTransaction,
    LedgerAccount,
    PeriodTotal,
    Posting,
    Program,
    Settlement,
    SettlementTotal,
)
from vouchers.programs import summary, visible_programs

PERIOD_RE = re.compile(r"^[0-9]{4}-(0[1-9]|1[0-2])\Z")  # ASCII digits, no trailing newline
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


# --- exceptions queue ------------------------------------------------------------------------------------


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


# --- period close ----------------------------------------------------------------------------------------


def may_close_periods(user: User) -> bool:
    """A period is the platform's ledger month, shared by every district: closing it is the
    municipality's act (municipal finance or an admin), never one district's."""
    return user.role in ("finance", "admin") and is_municipal(user)


def closable_periods() -> list[str]:
    """The ended, still open months since the first settlement, newest first (before anything was
    settled there is nothing a close would freeze)."""
    first = db.session.scalar(select(func.min(Settlement.period)))
    if first is None:
        return []
    closed = set(db.session.scalars(select(AccountingPeriod.period)))
    current, periods, period = ledger.period_of(clock.now()), [], first
    while period < current:
        if period not in closed:
            periods.append(period)
        year, month = int(period[:4]), int(period[5:])
        period = f"{year + (month == 12):04d}-{month % 12 + 1:02d}"
    return periods[::-1]


def close_period(officer: User, period: str) -> AccountingPeriod:
    """Close a month that has ended, for the whole city: from now on entries dated in it go to the
    next open period."""
    if not may_close_periods(officer):
        raise Forbidden(
            "Closing a period applies city-wide: only municipal finance or an admin may close it.",
            code="wrong_level",
        )
    check_period(period)
    if period >= ledger.period_of(clock.now()):
        raise Conflict("The month has not ended yet.", code="period_not_ended")
    if db.session.get(AccountingPeriod, period) is not None:
        raise Conflict("The period is already closed.", code="period_closed")
    closed = AccountingPeriod(period=period, closed_at=clock.now(), closed_by_id=officer.id)
    db.session.add(closed)
    db.session.flush()
    audit.record(officer, "close_period", closed, object_type="accounting_periods", object_id=period, district_code=officer.district_code, after={"closed": True})  # fmt: skip
    return closed


# --- monthly statements ----------------------------------------------------------------------------------


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


def statement_table(rows: list[dict], layout: str = "machine") -> report_files.Table:
    """The statement as a file's table: the API's columns, or the people's layout (``layout=human``)."""
    return report_files.table(layout, STATEMENT_COLUMNS, statement_values(rows))


def payable_settled_fen(period: str, program_ids: list[int] | None = None) -> int:
    """What settle transactions of ``period`` posted to payable accounts (the ledger side of the
    statement)."""
    query = (
        select(func.coalesce(func.sum(Posting.amount_fen), 0))
        .join(JournalTransaction, JournalTransaction.id == Posting.transaction_id)
        .join(LedgerAccount, LedgerAccount.id == Posting.account_id)
        .where(
            JournalTransaction.kind == "settle",
            JournalTransaction.period == period,
            LedgerAccount.kind == "payable",
        )
    )
    if program_ids is not None:
        query = query.where(LedgerAccount.program_id.in_(program_ids))
    return int(db.session.scalar(query))


# --- dashboard -------------------------------------------------------------------------------------------


def dashboard(user: User, district_code: str | None = None, top: int = 10) -> dict:
    """Per programme: budget, issued, committed, spent, paid, unissued (from the ledger balances) and
    spend by month (settle postings to payable); top teams and payees; municipal vs district share."""
    district = scope_district(user, district_code)
    programs = list(db.session.scalars(visible_programs(user).order_by(Program.id)))
    if district is not None:
        programs = [p for p in programs if p.level == "municipal" or p.district_code == district]
        if not is_municipal(user):
            programs = [p for p in programs if p.district_code == district]
    ids = [p.id for p in programs]
    by_month: dict[int, list[dict]] = {i: [] for i in ids}
    if ids:
        # the running totals maintained with the postings (``ledger verify`` checks them), not the postings
        monthly = db.session.execute(
            select(LedgerAccount.program_id, PeriodTotal.period, func.sum(PeriodTotal.amount_fen))
            .join(PeriodTotal, PeriodTotal.account_id == LedgerAccount.id)
            .where(
                LedgerAccount.program_id.in_(ids),
                LedgerAccount.kind == "payable",
                PeriodTotal.kind == "settle",
            )
            .group_by(LedgerAccount.program_id, PeriodTotal.period)
            .order_by(LedgerAccount.program_id, PeriodTotal.period)
        )
        for program_id, period, amount in monthly:
            by_month[program_id].append({"period": period, "spent_fen": int(amount or 0)})
    # the per-period, per-team, per-payee settlement totals maintained by reconciliation
    settled = select(SettlementTotal)
    if district is not None:
        settled = settled.join(Team, Team.id == SettlementTotal.team_id).where(Team.district_code == district)
    settled = settled.subquery()
    shares = db.session.execute(
        select(
            func.coalesce(func.sum(settled.c.municipal_fen), 0),
            func.coalesce(func.sum(settled.c.district_fen), 0),
        )
    ).one()
    teams = db.session.execute(
        select(settled.c.team_id, Team.name, func.sum(settled.c.subsidy_fen).label("subsidy"))
        .join(Team, Team.id == settled.c.team_id)
        .group_by(settled.c.team_id, Team.name)
        .order_by(func.sum(settled.c.subsidy_fen).desc(), settled.c.team_id)
        .limit(top)
    ).all()
    payees = db.session.execute(
        select(settled.c.payee_kind, settled.c.payee_id, func.sum(settled.c.subsidy_fen))
        .group_by(settled.c.payee_kind, settled.c.payee_id)
        .order_by(func.sum(settled.c.subsidy_fen).desc(), settled.c.payee_kind, settled.c.payee_id)
        .limit(top)
    ).all()
    names = payee_names({(kind, i) for kind, i, _ in payees})
    return {
        "district_code": district,
        "programs": [
            {
                "id": p.id,
                "name": p.name,
                "level": p.level,
                "district_code": p.district_code,
                **summary(p),
                "by_month": by_month[p.id],
            }
            for p in programs
        ],
        "top_teams": [{"team_id": i, "name": name, "subsidy_fen": int(s or 0)} for i, name, s in teams],
        "top_payees": [
            {
                "payee_kind": k,
                "payee_id": i,
                "payee_name": names.get((k, i), ("", ""))[0],
                "subsidy_fen": int(s or 0),
            }
            for k, i, s in payees
        ],
        "share": {"municipal_fen": int(shares[0]), "district_fen": int(shares[1])},
    }
