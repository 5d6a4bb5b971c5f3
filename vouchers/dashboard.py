"""The finance dashboard: per programme in the user's scope, budget, issued, committed, spent, paid and
unissued (from the ledger balances) and spend by month; the top teams and payees by subsidy; the
municipal and district shares. It reads the running totals kept with every posting and settlement
(``ledger verify`` checks them), never the postings themselves.
"""

from __future__ import annotations

from sqlalchemy import func, select

from booking.core.db import db
from booking.models import Team, User
from vouchers.models import LedgerAccount, PeriodTotal, Program, SettlementTotal
from vouchers.programs import summary, visible_programs
from vouchers.reports.statements import payee_names
from vouchers.scope import is_municipal, scope_district


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
