"""Teams: registration, members, verification, and who may see which team."""

from __future__ import annotations

from functools import cache

from sqlalchemy import Select, bindparam, select
from sqlalchemy.orm import joinedload

from booking.core import clock
from booking.core.db import db
from booking.core.errors import Forbidden, Invalid, NotFound, unknown_reference
from booking.models import District, Team, TeamMember, User
from booking.people import audit
from booking.people.accounts import organization_named, require_user_reference


def visible_teams(user: User) -> Select[tuple[Team]]:
    """Teams this user may see: members their own, district finance its district, municipal finance
    and admins all of them; labs and providers none (they see bookings, not teams)."""
    query = select(Team)
    if user.role == "admin" or user.is_municipal_finance:
        return query
    if user.role == "finance":
        return query.where(Team.district_code == user.district_code)
    if user.role == "founder":
        return query.where(Team.id.in_(select(TeamMember.team_id).where(TeamMember.user_id == user.id)))
    return query.where(False)


def team_for(user: User, team_id: int) -> Team:
    """The team, if this user may see it; otherwise 404 (never reveal that it exists)."""
    team = db.session.scalar(visible_teams(user).where(Team.id == team_id))
    if team is None:
        raise NotFound("No such team.")
    return team


def require_verified(team: Team) -> Team:
    if not team.verified:
        raise Invalid(
            "The team is not verified yet.", code="team_not_verified", details={"team_id": ["Not verified."]}
        )
    return team


# A founder's booking team, built once (every booking reads it; see accounts._token_with_user)
@cache
def _founders_team():
    return (
        select(Team)
        .options(joinedload(Team.memberships))
        .where(
            Team.id.in_(select(TeamMember.team_id).where(TeamMember.user_id == bindparam("user_id"))),
            Team.id == bindparam("team_id"),
        )
    )


def booking_team(actor: User, team_id: int) -> Team:
    """The team a member books for: visible to them (else 404), theirs (403) and verified (422).
    Its members (and their users, joined) come in the same query: the booking's mails go to them."""
    if actor.role == "founder":  # visible_teams(actor), as one statement built once
        query, params = _founders_team(), {"user_id": actor.id, "team_id": team_id}
    else:
        query, params = (
            visible_teams(actor).options(joinedload(Team.memberships)).where(Team.id == team_id),
            {},
        )
    team = db.session.scalars(query, params).unique().first()
    if team is None:
        raise NotFound("No such team.")
    if not team.has_member(actor):
        raise Forbidden("Only the team's members book for it.")
    return require_verified(team)


def create_team(owner: User, *, name: str, university: str, district_code: str, organization: str) -> Team:
    if owner.role != "founder":
        raise Forbidden("Only founders register teams.")
    if db.session.get(District, district_code) is None:
        raise unknown_reference("district_code", "district code")
    team = Team(
        name=name.strip(),
        university=organization_named(university),
        organization=organization_named(organization),
        district_code=district_code,
        owner_id=owner.id,
    )
    team.memberships.append(TeamMember(user_id=owner.id, role="owner"))
    db.session.add(team)
    db.session.flush()
    return team


def add_team_member(actor: User, team_id: int, user_id: int) -> Team:
    """Add a founder to a team. Only the owner may; adding someone twice is a no-op."""
    if actor.role not in ("founder", "admin"):
        raise Forbidden("Only the team's owner adds members.")
    team = team_for(actor, team_id)
    if not team.is_owner(actor):
        raise Forbidden("Only the team's owner adds members.")
    join_team(team, require_user_reference(user_id))
    return team


def join_team(team: Team, member: User) -> None:
    """Make a founder a member of the team (the caller decided they may join); twice is a no-op."""
    if member.role != "founder":
        raise Invalid(
            "Only founders can be team members.",
            code="not_a_founder",
            details={"user_id": ["This user is not a founder."]},
        )
    if not team.has_member(member):
        team.memberships.append(TeamMember(user_id=member.id, role="member"))
        db.session.flush()


def verify_team(officer: User, team_id: int) -> Team:
    """Verification by the finance office of the team's district (or an admin)."""
    if officer.role not in ("finance", "admin"):
        raise Forbidden("Only the district's finance office verifies teams.")
    team = team_for(officer, team_id)
    if officer.role == "finance" and officer.district_code != team.district_code:
        # municipal finance can see every team but verification is the district's job
        raise Forbidden("Only the finance office of the team's district verifies it.")
    if not team.verified:
        team.verified = True
        team.verified_at = clock.now()
        team.verified_by_id = officer.id
        db.session.flush()
        audit.record(officer, "verify_team", team, before={"verified": False}, after={"verified": True})
    return team
