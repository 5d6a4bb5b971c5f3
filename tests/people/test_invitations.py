"""Team invitations by e-mail (API): who invites and sees them, the mail and its link, who may
accept, and every way a link stops working (used, expired after 14 days, revoked, refreshed)."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from booking.core import clock
from booking.core.db import db
from booking.models import OutboxMessage, TeamInvitation, TeamMember

LINK_RE = re.compile(r"(http://localhost/invitations/accept\?token=([A-Za-z0-9_\-]+))")


@pytest.fixture
def team_world(make):
    owner = make.user("founder", name="张队长")
    team = make.team(owner=owner, name="光子实验室", verified=True)
    invitee = make.user("founder", email="invitee@example.cn", name="李新人")
    return owner, team, invitee


def invite(api, owner, team, email="invitee@example.cn"):
    return api.as_(owner).post(f"/api/v1/teams/{team.id}/invitations", json={"email": email})


def mails_to(app, address: str) -> list[OutboxMessage]:
    with app.app_context():
        found = db.session.scalars(
            select(OutboxMessage).where(OutboxMessage.recipient == address).order_by(OutboxMessage.id)
        )
        return list(found)


def secret_in(mail: OutboxMessage) -> str:
    match = LINK_RE.search(mail.body)
    assert match, mail.body
    return match.group(2)


def invite_and_get_secret(app, api, owner, team, email="invitee@example.cn") -> str:
    response = invite(api, owner, team, email)
    assert response.status_code == 201, response.json
    return secret_in(mails_to(app, email.strip().lower())[-1])


def accept(api, user, secret):
    return api.as_(user).post("/api/v1/invitations/accept", json={"token": secret})


def is_member(app, team, user) -> bool:
    with app.app_context():
        return db.session.get(TeamMember, (team.id, user.id)) is not None


def listed(api, user, team) -> list[dict]:
    response = api.as_(user).get(f"/api/v1/teams/{team.id}/invitations")
    assert response.status_code == 200, response.json
    assert set(response.json) == {"items", "next_cursor"}
    return response.json["items"]


# --- inviting -------------------------------------------------------------------------------------------


def test_the_owner_invites_and_a_mail_with_the_link_goes_to_the_address(app, api, team_world):
    owner, team, _invitee = team_world
    before = clock.now()
    response = invite(api, owner, team, "  New.Person@Example.CN ")
    assert response.status_code == 201, response.json
    body = response.json
    assert body["email"] == "new.person@example.cn" and body["status"] == "pending"
    with app.app_context():
        row = db.session.get(TeamInvitation, body["id"])
        expires = row.expires_at
    assert timedelta(days=14) <= expires - before < timedelta(days=14, minutes=1)
    [mail] = mails_to(app, "new.person@example.cn")
    assert mail.kind == "team_invitation" and mail.sent_at is None
    assert "光子实验室" in mail.subject
    assert "张队长" in mail.body and "光子实验室" in mail.body
    assert "14" in mail.body and "http://localhost/sign-up" in mail.body
    assert LINK_RE.search(mail.body)


def test_an_owner_sends_only_so_many_invitations_an_hour(app, api, team_world, monkeypatch):
    owner, team, _invitee = team_world
    monkeypatch.setitem(app.config, "INVITATIONS_PER_OWNER", "2 per hour")
    for n in (1, 2):
        assert invite(api, owner, team, f"colleague{n}@example.cn").status_code == 201
    refused = invite(api, owner, team, "colleague3@example.cn")
    assert refused.status_code == 429 and refused.json["error"]["code"] == "rate_limited"
    assert int(refused.headers["Retry-After"]) > 0
    assert mails_to(app, "colleague3@example.cn") == []
    with app.app_context():
        assert (
            db.session.scalar(select(TeamInvitation).where(TeamInvitation.email == "colleague3@example.cn"))
            is None
        )


def test_only_the_hash_of_the_secret_is_stored(app, api, team_world):
    owner, team, _ = team_world
    secret = invite_and_get_secret(app, api, owner, team)
    with app.app_context():
        [row] = db.session.scalars(select(TeamInvitation).where(TeamInvitation.team_id == team.id))
        assert row.token_hash == hashlib.sha256(secret.encode()).hexdigest()
        stored = [str(getattr(row, column.key)) for column in TeamInvitation.__table__.columns]
    assert not any(secret in value for value in stored)


def test_a_member_who_is_not_the_owner_may_not_invite_and_another_team_is_not_found(
    app, api, make, team_world
):
    owner, team, _invitee = team_world
    member = make.user("founder")
    assert (
        api.as_(owner).post(f"/api/v1/teams/{team.id}/members", json={"user_id": member.id}).status_code
        == 204
    )
    refused = invite(api, member, team, "x@example.cn")
    assert refused.status_code == 403
    stranger = make.user("founder")
    make.team(owner=stranger)
    hidden = invite(api, stranger, team, "x@example.cn")
    assert hidden.status_code == 404
    assert mails_to(app, "x@example.cn") == []


def test_an_address_of_a_member_is_409_already_member(app, api, team_world):
    owner, team, _ = team_world
    response = invite(api, owner, team, owner.email.upper())
    assert response.status_code == 409 and response.json["error"]["code"] == "already_member"
    assert mails_to(app, owner.email) == []


def test_a_malformed_address_is_422(api, team_world):
    owner, team, _ = team_world
    assert invite(api, owner, team, "not-an-address").status_code == 422


def test_inviting_again_refreshes_the_invitation_and_the_old_link_dies(app, api, team_world):
    owner, team, invitee = team_world
    old = invite_and_get_secret(app, api, owner, team)
    new = invite_and_get_secret(app, api, owner, team)
    assert old != new
    items = listed(api, owner, team)
    assert [i["status"] for i in items] == ["pending"]
    refused = accept(api, invitee, old)
    assert refused.status_code == 422 and refused.json["error"]["code"] == "invalid_token"
    assert accept(api, invitee, new).status_code == 200


# --- listing --------------------------------------------------------------------------------------------


def test_members_list_the_invitations_others_do_not(app, api, make, team_world):
    owner, team, _ = team_world
    member = make.user("founder")
    api.as_(owner).post(f"/api/v1/teams/{team.id}/members", json={"user_id": member.id})
    invite(api, owner, team, "a@example.cn")
    [item] = listed(api, member, team)
    assert item["email"] == "a@example.cn" and item["status"] == "pending"
    assert item["invited_by"]["id"] == owner.id and item["invited_by"]["name"] == "张队长"
    assert {"id", "email", "expires_at", "status", "invited_by", "created_at"} <= set(item)
    assert api.as_(make.user("founder")).get(f"/api/v1/teams/{team.id}/invitations").status_code == 404
    assert api.as_(make.finance("500106")).get(f"/api/v1/teams/{team.id}/invitations").status_code == 403


# --- accepting ------------------------------------------------------------------------------------------


def test_the_invited_verified_account_accepts_and_becomes_a_member(app, api, team_world):
    owner, team, invitee = team_world
    secret = invite_and_get_secret(app, api, owner, team)
    response = accept(api, invitee, secret)
    assert response.status_code == 200 and response.json == {"team_id": team.id}
    assert is_member(app, team, invitee)
    assert [i["status"] for i in listed(api, invitee, team)] == ["accepted"]
    again = accept(api, invitee, secret)  # already a member: idempotent
    assert again.status_code == 200 and again.json == {"team_id": team.id}


def test_the_address_matches_whatever_its_case(app, api, make, team_world):
    owner, team, _ = team_world
    person = make.user("founder", email="mixed.case@example.cn")
    secret = invite_and_get_secret(app, api, owner, team, "Mixed.Case@EXAMPLE.cn")
    assert accept(api, person, secret).status_code == 200
    assert is_member(app, team, person)


def test_another_account_is_403_wrong_account(app, api, make, team_world):
    owner, team, invitee = team_world
    secret = invite_and_get_secret(app, api, owner, team)
    other = make.user("founder")
    response = accept(api, other, secret)
    assert response.status_code == 403 and response.json["error"]["code"] == "wrong_account"
    assert not is_member(app, team, other)
    assert accept(api, invitee, secret).status_code == 200  # the link still works for the right one


def test_an_unverified_address_is_403_email_not_verified(app, api, make, team_world):
    owner, team, _ = team_world
    unverified = make.user("founder", email="fresh@example.cn", email_verified=False)
    secret = invite_and_get_secret(app, api, owner, team, "fresh@example.cn")
    response = accept(api, unverified, secret)
    assert response.status_code == 403 and response.json["error"]["code"] == "email_not_verified"
    assert not is_member(app, team, unverified)
    assert [i["status"] for i in listed(api, owner, team)] == ["pending"]


@pytest.mark.parametrize("secret", ["", "nope", "x" * 500, "€uro"])
def test_a_bad_token_is_422_invalid_token(api, team_world, secret):
    _owner, _team, invitee = team_world
    response = accept(api, invitee, secret)
    assert response.status_code == 422 and response.json["error"]["code"] == "invalid_token"


def test_a_used_token_is_422_invalid_token(app, api, make, team_world):
    owner, team, invitee = team_world
    secret = invite_and_get_secret(app, api, owner, team)
    assert accept(api, invitee, secret).status_code == 200
    other = make.user("founder")
    response = accept(api, other, secret)
    assert response.status_code == 422 and response.json["error"]["code"] == "invalid_token"
    assert not is_member(app, team, other)


def test_the_invitation_expires_after_14_days(app, api, team_world):
    owner, team, invitee = team_world
    secret = invite_and_get_secret(app, api, owner, team)
    with clock.frozen_at(clock.now() + timedelta(days=14, seconds=1)):
        response = accept(api, invitee, secret)
        assert response.status_code == 422 and response.json["error"]["code"] == "invalid_token"
        assert [i["status"] for i in listed(api, owner, team)] == ["expired"]
    assert not is_member(app, team, invitee)
    with clock.frozen_at(clock.now() + timedelta(days=13, hours=23)):
        assert accept(api, invitee, secret).status_code == 200


def test_the_owner_revokes_and_the_link_dies(app, api, make, team_world):
    owner, team, invitee = team_world
    secret = invite_and_get_secret(app, api, owner, team)
    [item] = listed(api, owner, team)
    path = f"/api/v1/teams/{team.id}/invitations/{item['id']}"
    member = make.user("founder")
    api.as_(owner).post(f"/api/v1/teams/{team.id}/members", json={"user_id": member.id})
    assert api.as_(member).delete(path).status_code == 403
    assert api.as_(make.user("founder")).delete(path).status_code == 404
    assert api.as_(owner).delete(f"/api/v1/teams/{team.id}/invitations/999999").status_code == 404
    assert api.as_(owner).delete(path).status_code == 204
    assert api.as_(owner).delete(path).status_code == 204  # twice: no change
    assert [i["status"] for i in listed(api, owner, team)] == ["revoked"]
    response = accept(api, invitee, secret)
    assert response.status_code == 422 and response.json["error"]["code"] == "invalid_token"
    assert not is_member(app, team, invitee)


def test_an_accepted_invitation_cannot_be_revoked(app, api, team_world):
    owner, team, invitee = team_world
    secret = invite_and_get_secret(app, api, owner, team)
    accept(api, invitee, secret)
    [item] = listed(api, owner, team)
    response = api.as_(owner).delete(f"/api/v1/teams/{team.id}/invitations/{item['id']}")
    assert response.status_code == 409 and response.json["error"]["code"] == "already_accepted"
    assert is_member(app, team, invitee)
