"""Programmes and voucher applications: who may create, see, apply, approve and reject."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from sqlalchemy import Select, func, select

from booking.core import clock
from booking.core.db import db
from booking.core.errors import Conflict, Forbidden, Invalid, NotFound, unknown_reference
from booking.models import District, TeamMember, User
from booking.people import audit
from booking.people.accounts import require_verified_email
from booking.people.teams import require_verified, team_for
from instruments.rules import zone
from vouchers import ledger, program_rules
from vouchers.models import Application, Program, Voucher

PROGRAM_ZONE = "Asia/Shanghai"  # programme windows are Chongqing calendar dates


def today() -> date:
    return clock.now().astimezone(zone(PROGRAM_ZONE)).date()


def end_of(day: date) -> datetime:
    """The instant a programme's last (inclusive) day ends."""
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone(PROGRAM_ZONE))


def is_officer(user: User, program: Program) -> bool:
    """The programme's finance office: municipal finance for municipal programmes, the district's
    finance for district programmes."""
    if user.role != "finance":
        return False
    if program.level == "municipal":
        return user.district_code is None
    return user.district_code == program.district_code


# --- programmes ------------------------------------------------------------------------------------------


def visible_programs(user: User) -> Select[tuple[Program]]:
    """Programmes are public policy: founders (who apply) and admins see all; a finance office
    sees the ones it runs; labs and providers none."""
    query = select(Program)
    if user.role in ("admin", "founder"):
        return query
    if user.role == "finance":
        if user.district_code is None:
            return query.where(Program.level == "municipal")
        return query.where(Program.district_code == user.district_code)
    return query.where(False)


def program_for(user: User, program_id: int) -> Program:
    program = db.session.scalar(visible_programs(user).where(Program.id == program_id))
    if program is None:
        raise NotFound("No such programme.")
    return program


def officer_program_for(user: User, program_id: int) -> Program:
    program = program_for(user, program_id)
    if not is_officer(user, program):
        raise Forbidden("Only the programme's finance office may do this.")
    return program


def create_program(
    officer: User,
    *,
    name: str,
    level: str,
    resource_kinds: list[str],
    rate_bp: int,
    budget_fen: int,
    per_team_cap_fen: int,
    valid_from: date,
    valid_to: date,
    voucher_validity_days: int,
    district_code: str | None = None,
    stack_ceiling_bp: int | None = None,
    **rules,
) -> Program:
    """Create and fund a programme of the officer's own level (municipal finance → municipal;
    district finance → its own district). ``rules``: ``eligible_payees``, ``rate_bp_by_kind``,
    ``annual_team_cap_fen`` (``vouchers.program_rules``)."""
    if officer.role != "finance":
        raise Forbidden("Only finance offices create programmes.")
    if level == "municipal":
        if officer.district_code is not None:
            raise Forbidden("A district finance office creates district programmes.", code="wrong_level")
        if district_code is not None or stack_ceiling_bp is not None:
            field = "district_code" if district_code is not None else "stack_ceiling_bp"
            raise Invalid(
                "Only district programmes have this.", details={field: ["Only for level district."]}
            )
    else:
        if officer.district_code is None:
            raise Forbidden("Municipal finance creates municipal programmes.", code="wrong_level")
        district_code = district_code or officer.district_code
        if db.session.get(District, district_code) is None:
            raise unknown_reference("district_code", "district code")
        if district_code != officer.district_code:
            raise Forbidden(
                "A district finance office creates programmes of its own district.", code="wrong_district"
            )
        stack_ceiling_bp = 10_000 if stack_ceiling_bp is None else stack_ceiling_bp
    if valid_to < valid_from:
        raise Invalid("The window ends before it starts.", details={"valid_to": ["Before valid_from."]})
    if valid_to < today():
        raise Invalid("The window is already over.", details={"valid_to": ["In the past."]})
    if per_team_cap_fen > budget_fen:
        raise Invalid(
            "The per-team cap exceeds the budget.", details={"per_team_cap_fen": ["Above budget_fen."]}
        )
    program = Program(
        name=name,
        level=level,
        district_code=district_code,
        covers_compute="compute" in resource_kinds,
        covers_instrument="instrument" in resource_kinds,
        covers_service="service" in resource_kinds,
        rate_bp=rate_bp,
        budget_fen=budget_fen,
        per_team_cap_fen=per_team_cap_fen,
        valid_from=valid_from,
        valid_to=valid_to,
        voucher_validity_days=voucher_validity_days,
        stack_ceiling_bp=stack_ceiling_bp,
        created_by_id=officer.id,
    )
    program_rules.apply_rules(program, rules)
    db.session.add(program)
    db.session.flush()
    ledger.transfer(
        "fund",
        ledger.account("funding", program.id),
        ledger.account("unissued", program.id),
        budget_fen,
        program_id=program.id,
        by_id=officer.id,
        memo=f"budget of programme {program.id}",
    )
    return program


def summary(program: Program) -> dict:
    """Budget, issued, committed, spent, paid and unissued, straight from the ledger balances."""
    rows = db.session.execute(
        select(ledger.LedgerAccount.kind, func.sum(ledger.LedgerAccount.balance_fen))
        .where(ledger.LedgerAccount.program_id == program.id)
        .group_by(ledger.LedgerAccount.kind)
    ).all()
    by_kind = {kind: int(total or 0) for kind, total in rows}
    unissued = by_kind.get("unissued", 0)
    return {
        "budget_fen": program.budget_fen,
        "issued_fen": program.budget_fen - unissued,
        "available_fen": by_kind.get("available", 0),
        "committed_fen": by_kind.get("committed", 0),
        "spent_fen": by_kind.get("payable", 0) + by_kind.get("paid", 0),
        "paid_fen": by_kind.get("paid", 0),
        "unissued_fen": unissued,
    }


# --- applications ----------------------------------------------------------------------------------------


def apply(actor: User, program_id: int, *, team_id: int, amount_fen: int, purpose: str) -> Application:
    require_verified_email(actor)
    program = program_for(actor, program_id)
    team = team_for(actor, team_id)
    if not team.is_owner(actor):
        raise Forbidden("Only the team's owner applies for vouchers.")
    if program.level == "district" and team.district_code != program.district_code:
        raise Forbidden("This programme serves teams registered in its district.", code="wrong_district")
    require_verified(team)
    if not program.valid_from <= today() <= program.valid_to:
        raise Invalid(
            "The programme is not open.", code="program_closed", details={"program_id": ["Not open."]}
        )
    application = Application(
        program_id=program.id, team_id=team.id, amount_fen=amount_fen, purpose=purpose, created_by_id=actor.id
    )
    db.session.add(application)
    db.session.flush()
    return application


def visible_applications(user: User) -> Select[tuple[Application]]:
    """Finance sees the applications to its programmes; founders their teams'; admins all."""
    query = select(Application)
    if user.role == "admin":
        return query
    if user.role == "finance":
        return query.where(Application.program_id.in_(visible_programs(user).with_only_columns(Program.id)))
    if user.role == "founder":
        return query.where(
            Application.team_id.in_(select(TeamMember.team_id).where(TeamMember.user_id == user.id))
        )
    return query.where(False)


def filtered_applications(user: User, filters: dict) -> Select[tuple[Application]]:
    """The applications the user may see, of one ``status`` and ``program_id`` when given (the API's
    list and the programme page)."""
    query = visible_applications(user)
    if filters.get("status"):
        query = query.where(Application.status == filters["status"])
    if filters.get("program_id"):
        query = query.where(Application.program_id == filters["program_id"])
    return query


def application_for(user: User, application_id: int) -> Application:
    application = db.session.scalar(visible_applications(user).where(Application.id == application_id))
    if application is None:
        raise NotFound("No such application.")
    return application


def _decidable(officer: User, application_id: int) -> Application:
    application = application_for(officer, application_id)
    if not is_officer(officer, application.program):
        raise Forbidden("Only the programme's finance office decides applications.")
    # locked until the decision commits: a second decision (a double click) waits, then sees it
    db.session.execute(
        select(Application.id).where(Application.id == application.id).with_for_update(key_share=True)
    )
    db.session.refresh(application)
    if application.status != "pending":
        raise Conflict(f"The application is already {application.status}.", code="invalid_status")
    return application


def team_issued_fen(program_id: int, team_id: int) -> int:
    """Face value the team has received from the programme (what its per-team cap limits)."""
    return db.session.scalar(
        select(func.coalesce(func.sum(Voucher.face_value_fen), 0)).where(
            Voucher.program_id == program_id, Voucher.team_id == team_id
        )
    )


def approval_room(application: Application) -> dict:
    """What an approval may still issue: the team's remaining per-team cap in the programme and the
    programme's budget not yet issued (``approve`` refuses more than either)."""
    program = application.program
    unissued = db.session.scalar(
        select(ledger.LedgerAccount.balance_fen).where(
            ledger.LedgerAccount.key == ledger.account_key("unissued", program.id)
        )
    )
    return {
        "team_cap_left_fen": max(
            program.per_team_cap_fen - team_issued_fen(program.id, application.team_id), 0
        ),
        "budget_left_fen": int(unissued or 0),
    }


def approve(officer: User, application_id: int, amount_fen: int | None = None) -> Voucher:
    """Approve (possibly a smaller amount) and issue the voucher, reserving its face value from the
    programme's unissued budget: the programme can never promise more than its budget."""
    application = _decidable(officer, application_id)
    program = application.program
    amount = application.amount_fen if amount_fen is None else amount_fen
    if amount > application.amount_fen:
        raise Invalid("Approve at most the amount asked for.", details={"amount_fen": ["Above the request."]})
    if today() > program.valid_to:
        raise Invalid("The programme has ended.", code="program_closed", details={"program_id": ["Ended."]})
    (unissued,) = ledger.lock([ledger.account("unissued", program.id)])  # serialises approvals per programme
    if team_issued_fen(program.id, application.team_id) + amount > program.per_team_cap_fen:
        raise Conflict("This would exceed the team's cap in this programme.", code="team_cap_exceeded")
    if unissued.balance_fen < amount:
        raise Conflict("The programme's budget cannot cover this.", code="budget_exhausted")
    now = clock.now()
    voucher = Voucher(
        program_id=program.id,
        team_id=application.team_id,
        application_id=application.id,
        face_value_fen=amount,
        issued_at=now,
        expires_at=min(now + timedelta(days=program.voucher_validity_days), end_of(program.valid_to)),
        status="active",
    )
    db.session.add(voucher)
    db.session.flush()
    ledger.transfer(
        "issue",
        unissued,
        ledger.account("available", program.id, voucher.id),
        amount,
        program_id=program.id,
        voucher_id=voucher.id,
        by_id=officer.id,
        at=now,
    )
    ledger.account("committed", program.id, voucher.id)
    application.status = "approved"
    application.decided_by_id, application.decided_at = officer.id, now
    db.session.flush()
    audit.record(officer, "approve_application", application, before={"status": "pending"}, after={"status": "approved", "amount_fen": amount, "voucher_id": voucher.id})  # fmt: skip
    return voucher


def reject(officer: User, application_id: int, reason: str) -> Application:
    application = _decidable(officer, application_id)
    application.status = "rejected"
    application.reason = reason
    application.decided_by_id, application.decided_at = officer.id, clock.now()
    db.session.flush()
    audit.record(officer, "reject_application", application, before={"status": "pending"}, after={"status": "rejected", "reason": reason})  # fmt: skip
    return application
