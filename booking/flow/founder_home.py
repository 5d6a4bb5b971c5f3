"""What a founder sees first after signing in: their teams (verified or not), the next bookings still
ahead, what each team's vouchers still hold, and the next steps their state calls for.

One read-only operation, ``founder_overview``, taking the founder and the instant; the HTML home only
renders it. Steps are codes (the page words them): ``register_team``, ``await_verification``,
``await_application``, ``apply_for_vouchers``, ``book_something``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select

from booking.core.db import db
from booking.core.errors import Forbidden
from booking.models import Booking, BookingStatus, Team, User
from booking.people.teams import visible_teams
from vouchers import wallet
from vouchers.models import Application

UPCOMING_LIMIT = 5
# still ahead and still happening: not cancelled, rejected, missed or over
UPCOMING_STATUSES = (BookingStatus.PENDING_APPROVAL, BookingStatus.CONFIRMED, BookingStatus.CHECKED_IN)


@dataclass(frozen=True)
class TeamBalance:
    team: Team
    available_fen: int  # what the team's active vouchers can still pay
    committed_fen: int  # held for bookings not yet settled
    active_vouchers: int


@dataclass(frozen=True)
class Step:
    code: str
    teams: tuple[Team, ...] = ()  # the teams the step is about, when it is about some


@dataclass(frozen=True)
class FounderOverview:
    teams: list[Team]
    upcoming: list[Booking]
    balances: list[TeamBalance]
    steps: list[Step] = field(default_factory=list)


def _balance(founder: User, team: Team) -> TeamBalance:
    active = [row for row in wallet.team_vouchers(founder, team.id) if row["status"] == "active"]
    return TeamBalance(
        team=team,
        available_fen=sum(row["balance_fen"] for row in active),
        committed_fen=sum(row["committed_fen"] for row in active),
        active_vouchers=len(active),
    )


def _pending_application_team_ids(team_ids: list[int]) -> set[int]:
    if not team_ids:
        return set()
    rows = db.session.scalars(
        select(Application.team_id).where(Application.team_id.in_(team_ids), Application.status == "pending")
    )
    return set(rows)


def _steps(teams: list[Team], balances: list[TeamBalance], upcoming: list[Booking]) -> list[Step]:
    if not teams:
        return [Step("register_team")]
    steps = []
    unverified = tuple(t for t in teams if not t.verified)
    if unverified:
        steps.append(Step("await_verification", unverified))
    verified = [b for b in balances if b.team.verified]
    unfunded = [b.team for b in verified if b.active_vouchers == 0]
    waiting = _pending_application_team_ids([t.id for t in unfunded])
    if any(t.id in waiting for t in unfunded):
        steps.append(Step("await_application", tuple(t for t in unfunded if t.id in waiting)))
    if any(t.id not in waiting for t in unfunded):
        steps.append(Step("apply_for_vouchers", tuple(t for t in unfunded if t.id not in waiting)))
    if verified and not upcoming:
        steps.append(Step("book_something"))
    return steps


def founder_overview(founder: User, now: datetime) -> FounderOverview:
    """The founder's teams, their next ``UPCOMING_LIMIT`` bookings (ending after ``now``, not
    cancelled/rejected/over), each team's voucher balances and the steps still to take."""
    if founder.role != "founder":
        raise Forbidden("Only founders have this home.")
    teams = list(db.session.scalars(visible_teams(founder).order_by(Team.name, Team.id)))
    team_ids = [t.id for t in teams]
    upcoming = []
    if team_ids:
        upcoming = list(
            db.session.scalars(
                select(Booking)
                .where(
                    Booking.team_id.in_(team_ids),
                    Booking.kind != "service",  # orders are not time
                    Booking.ends_at > now,
                    Booking.status.in_(UPCOMING_STATUSES),
                )
                .order_by(Booking.starts_at, Booking.id)
                .limit(UPCOMING_LIMIT)
            )
        )
    balances = [_balance(founder, team) for team in teams]
    return FounderOverview(
        teams=teams, upcoming=upcoming, balances=balances, steps=_steps(teams, balances, upcoming)
    )
