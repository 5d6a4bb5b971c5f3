"""One invitation link, many accepts at the same moment on real, separate connections: exactly one
spends it and one membership results; the others (same account) get the idempotent answer, never a
500 or a conflict. A revoke racing the accepts either wins (nobody joins) or loses (409)."""

from __future__ import annotations

import re
from collections import Counter

import pytest
from sqlalchemy import func, select

from booking.core.db import db
from booking.models import OutboxMessage, TeamInvitation, TeamMember
from tests.support.concurrency import run_concurrently

pytestmark = pytest.mark.concurrency

N = 8


@pytest.fixture
def invited(app, api, make):
    owner = make.user("founder")
    team = make.team(owner=owner, verified=True)
    invitee = make.user("founder", email="racer@example.cn")
    response = api.as_(owner).post(f"/api/v1/teams/{team.id}/invitations", json={"email": invitee.email})
    assert response.status_code == 201
    with app.app_context():
        body = db.session.scalar(select(OutboxMessage.body).where(OutboxMessage.recipient == invitee.email))
    secret = re.search(r"token=([A-Za-z0-9_\-]+)", body).group(1)
    return owner, team, invitee, make.token_for(invitee), make.token_for(owner), response.json["id"], secret


def _accept(token, secret):
    return lambda client: client.post(
        "/api/v1/invitations/accept", json={"token": secret}, headers={"Authorization": f"Bearer {token}"}
    )


def test_concurrent_accepts_of_one_link_make_exactly_one_membership(app, invited):
    _owner, team, invitee, invitee_token, _, invitation_id, secret = invited
    responses = run_concurrently(app, [_accept(invitee_token, secret) for _ in range(N)])
    assert Counter(r.status_code for r in responses) == {200: N}, [r.get_json() for r in responses]
    assert all(r.json == {"team_id": team.id} for r in responses)
    with app.app_context():
        members = db.session.scalar(
            select(func.count()).where(TeamMember.team_id == team.id, TeamMember.user_id == invitee.id)
        )
        invitation = db.session.get(TeamInvitation, invitation_id)
        assert members == 1
        assert invitation.accepted_by_id == invitee.id and invitation.accepted_at is not None


def test_a_revoke_racing_the_accepts_leaves_a_consistent_outcome(app, invited):
    _owner, team, invitee, invitee_token, owner_token, invitation_id, secret = invited
    revoke = lambda client: client.delete(  # noqa: E731
        f"/api/v1/teams/{team.id}/invitations/{invitation_id}",
        headers={"Authorization": f"Bearer {owner_token}"},
    )
    responses = run_concurrently(app, [revoke] + [_accept(invitee_token, secret) for _ in range(N - 1)])
    revoked, accepts = responses[0], responses[1:]
    with app.app_context():
        invitation = db.session.get(TeamInvitation, invitation_id)
        joined = db.session.get(TeamMember, (team.id, invitee.id)) is not None
    assert all(r.status_code < 500 for r in responses)
    if revoked.status_code == 204:  # the revoke came first: nobody joins
        assert invitation.revoked_at is not None and invitation.accepted_at is None and not joined
        assert {r.status_code for r in accepts} == {422}
    else:  # an accept came first: the revoke is refused, every accept says the same team
        assert revoked.status_code == 409 and revoked.json["error"]["code"] == "already_accepted"
        assert invitation.accepted_at is not None and invitation.revoked_at is None and joined
        assert {r.status_code for r in accepts} == {200}
