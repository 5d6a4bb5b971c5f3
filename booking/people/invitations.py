"""Team invitations by e-mail: the owner invites an address, the account with that address joins.

``invite`` mails a link (``/invitations/accept?token=<secret>``) and stores only the SHA-256 of the
secret; the invitation lives 14 days. Inviting an address that already has an open invitation to
the team *refreshes* it: a new secret and 14 fresh days, so the old link dies (a team holds at most
one open invitation per address, a partial unique index). ``accept`` spends the link with one
conditional UPDATE, so of two requests racing with the same link exactly one joins; the other, by
the same account, answers like a repeat (idempotent). An unknown, used, revoked or expired link is
422 ``invalid_token``; a link opened by another account is 403 ``wrong_account``; an account whose
address is not verified is 403 ``email_not_verified``. These operations only flush.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from urllib.parse import urljoin

from flask import current_app, url_for
from sqlalchemy import Select, exists, select, update

from booking.core import clock
from booking.core.db import db
from booking.core.errors import Conflict, Forbidden, Invalid, NotFound
from booking.core.ratelimit import enforce
from booking.models import OutboxMessage, Team, TeamInvitation, TeamMember, User
from booking.people.account_mail import team_invitation_mail
from booking.people.accounts import normalise_email, require_verified_email
from booking.people.teams import join_team, team_for

LIFETIME = timedelta(days=14)
EMAIL_MAX = 254
SECRET_MAX = 200


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def invalid_token() -> Invalid:
    return Invalid(
        "This invitation is not valid any more: it was used, revoked or it expired, or the link is wrong.",
        code="invalid_token",
    )


def _owned_team(owner: User, team_id: int) -> Team:
    """The team, if the owner may see it (else 404) and owns it (else 403)."""
    team = team_for(owner, team_id)
    if not team.is_owner(owner):
        raise Forbidden("Only the team's owner invites and revokes.")
    return team


def _address(email: str) -> str:
    address = normalise_email(email or "")
    local, at, domain = address.partition("@")
    if (
        not (local and at and "." in domain.strip("."))
        or len(address) > EMAIL_MAX
        or any(c.isspace() or c in "@<>,;" for c in local + domain)
    ):
        raise Invalid("Not an e-mail address.", details={"email": ["Not an e-mail address."]})
    return address


def _queue_mail(invitation: TeamInvitation, team: Team, owner: User, secret: str) -> None:
    subject, body = team_invitation_mail(
        team_name=team.name,
        inviter_name=owner.name,
        link=url_for("web.invitation_accept", token=secret, _external=True),
        sign_up_url=urljoin(url_for("web.home", _external=True), "/sign-up"),
        expires_at=invitation.expires_at,
        days=LIFETIME.days,
    )
    db.session.add(
        OutboxMessage(
            kind="team_invitation", recipient=invitation.email, subject=subject, body=body, attempts=0
        )
    )


def invite(owner: User, team_id: int, email: str) -> TeamInvitation:
    """Invite an address to the team (owner only) and mail it the link; refreshes an open invitation.

    An address that already belongs to a member is 409 ``already_member``.
    """
    team = _owned_team(owner, team_id)
    address = _address(email)
    if any(m.user.email == address for m in team.memberships):
        raise Conflict("This address belongs to a member of the team already.", code="already_member")
    # each invitation mails an address someone typed: an owner sends so many an hour (429 beyond)
    enforce(
        current_app.config["INVITATIONS_PER_OWNER"],
        "team-invitations",
        f"user:{owner.id}",
        "You have sent many invitations in the last hour; wait a while before sending more.",
    )
    now = clock.now()
    secret = secrets.token_urlsafe(32)
    invitation = db.session.scalar(
        select(TeamInvitation).where(
            TeamInvitation.team_id == team.id,
            TeamInvitation.email == address,
            TeamInvitation.accepted_at.is_(None),
            TeamInvitation.revoked_at.is_(None),
        )
    )
    if invitation is None:
        invitation = TeamInvitation(team_id=team.id, email=address)
        db.session.add(invitation)
    invitation.token_hash = _digest(secret)  # a refreshed invitation's old link dies here
    invitation.invited_by_id = owner.id
    invitation.created_at = now
    invitation.expires_at = now + LIFETIME
    db.session.flush()
    _queue_mail(invitation, team, owner, secret)
    db.session.flush()
    return invitation


def invitations_of(user: User, team_id: int) -> Select[tuple[TeamInvitation]]:
    """The team's invitations, for its members (others who may see the team: 403; else 404)."""
    team = team_for(user, team_id)
    if not team.has_member(user):
        raise Forbidden("Only the team's members see its invitations.")
    return select(TeamInvitation).where(TeamInvitation.team_id == team.id)


def revoke(owner: User, team_id: int, invitation_id: int) -> TeamInvitation:
    """Revoke an open invitation (owner only): its link dies. Revoking twice is a no-op; an accepted
    invitation cannot be revoked (409 ``already_accepted``)."""
    team = _owned_team(owner, team_id)
    invitation = db.session.scalar(
        select(TeamInvitation).where(TeamInvitation.id == invitation_id, TeamInvitation.team_id == team.id)
    )
    if invitation is None:
        raise NotFound("No such invitation.")
    db.session.execute(
        update(TeamInvitation)
        .where(
            TeamInvitation.id == invitation.id,
            TeamInvitation.accepted_at.is_(None),
            TeamInvitation.revoked_at.is_(None),
        )
        .values(revoked_at=clock.now())
        .execution_options(synchronize_session=False)
    )
    db.session.refresh(invitation)
    if invitation.accepted_at is not None:
        raise Conflict("This invitation was accepted already.", code="already_accepted")
    return invitation


def open_invitation(secret: str) -> TeamInvitation | None:
    """The pending invitation this secret opens (nothing spent), or None: for the page that shows it."""
    if not isinstance(secret, str) or not 0 < len(secret) <= SECRET_MAX:
        return None
    invitation = db.session.scalar(select(TeamInvitation).where(TeamInvitation.token_hash == _digest(secret)))
    if invitation is None or invitation.status != "pending":
        return None
    return invitation


def is_for(invitation: TeamInvitation, user: User) -> bool:
    """Whether the invitation is addressed to this account's e-mail."""
    return normalise_email(user.email) == invitation.email


def _is_member(team_id: int, user: User) -> bool:
    return bool(
        db.session.scalar(
            select(exists().where(TeamMember.team_id == team_id, TeamMember.user_id == user.id))
        )
    )


def accept(user: User, secret: str) -> Team:
    """Spend the invitation and make the caller a member of its team; the team.

    Accepting again an invitation this account accepted already gives the team again (idempotent).
    """
    if not isinstance(secret, str) or not 0 < len(secret) <= SECRET_MAX:
        raise invalid_token()
    digest = _digest(secret)
    invitation = db.session.scalar(select(TeamInvitation).where(TeamInvitation.token_hash == digest))
    if invitation is None:
        raise invalid_token()
    if invitation.accepted_by_id == user.id and _is_member(invitation.team_id, user):
        return invitation.team
    if invitation.status != "pending":
        raise invalid_token()
    if not is_for(invitation, user):
        raise Forbidden(
            "This invitation is for another e-mail address: sign in with the invited account.",
            code="wrong_account",
        )
    require_verified_email(user)
    now = clock.now()
    spent = db.session.execute(
        update(TeamInvitation)
        .where(
            TeamInvitation.token_hash == digest,
            TeamInvitation.accepted_at.is_(None),
            TeamInvitation.revoked_at.is_(None),
            TeamInvitation.expires_at > now,
        )
        .values(accepted_at=now, accepted_by_id=user.id)
        .execution_options(synchronize_session=False)
    )
    if spent.rowcount != 1:
        # lost a race: the winner committed before this UPDATE found the row spent
        accepted_by = db.session.scalar(
            select(TeamInvitation.accepted_by_id).where(TeamInvitation.token_hash == digest)
        )
        if accepted_by == user.id and _is_member(invitation.team_id, user):
            return invitation.team
        raise invalid_token()
    db.session.refresh(invitation)
    team = invitation.team
    join_team(team, user)
    return team
