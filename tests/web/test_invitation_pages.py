"""Team invitations on the pages: the owner invites, sees the list and revokes on the team page; the
invitee opens the link, signs in and joins, or reads (in words, not codes) why they cannot."""

from __future__ import annotations

import html
import re

import pytest
from sqlalchemy import select

from booking.core.db import db
from booking.models import OutboxMessage, TeamInvitation, TeamMember
from tests.conftest import PASSWORD, csrf_token, sign_in

TOKEN_RE = re.compile(r"/invitations/accept\?token=([A-Za-z0-9_\-]+)")


def text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


@pytest.fixture
def owned(make):
    owner = make.user("founder", name="张队长")
    team = make.team(owner=owner, name="光子实验室", verified=True)
    return owner, team


def invite_in_page(client, team, email):
    token = csrf_token(client, f"/teams/{team.id}")
    return client.post(f"/teams/{team.id}/invitations", data={"email": email, "csrf_token": token})


def secret_mailed_to(app, email) -> str:
    with app.app_context():
        body = db.session.scalars(
            select(OutboxMessage.body)
            .where(OutboxMessage.recipient == email)
            .order_by(OutboxMessage.id.desc())
        ).first()
    return TOKEN_RE.search(body).group(1)


def joined(app, team, user) -> bool:
    with app.app_context():
        return db.session.get(TeamMember, (team.id, user.id)) is not None


def test_the_owner_invites_sees_the_list_and_revokes(app, client, make, owned):
    owner, team = owned
    sign_in(client, owner)
    page = text(client.get(f"/teams/{team.id}"))
    assert f'action="/teams/{team.id}/invitations"' in page and "暂无邀请" in page
    response = invite_in_page(client, team, "Guest@Example.cn")
    assert response.status_code == 302 and response.headers["Location"].endswith("#invitations")
    page = text(client.get(f"/teams/{team.id}"))
    assert "邀请已发送至 guest@example.cn" in page
    assert "guest@example.cn" in page and "待接受" in page and "张队长" in page
    assert secret_mailed_to(app, "guest@example.cn")
    with app.app_context():
        invitation_id = db.session.scalar(select(TeamInvitation.id).where(TeamInvitation.team_id == team.id))
    revoke_path = f"/teams/{team.id}/invitations/{invitation_id}/revoke"
    assert revoke_path in page and "<details" in page  # the button sits behind a confirmation
    token = csrf_token(client, f"/teams/{team.id}")
    assert client.post(revoke_path, data={}).status_code in (302, 400)  # no CSRF token: nothing revoked
    with app.app_context():
        assert db.session.get(TeamInvitation, invitation_id).revoked_at is None
    response = client.post(revoke_path, data={"csrf_token": token})
    assert response.status_code == 302
    page = text(client.get(f"/teams/{team.id}"))
    assert "邀请已撤销" in page and "已撤销" in page and revoke_path not in page
    with app.app_context():
        assert db.session.get(TeamInvitation, invitation_id).revoked_at is not None


def test_inviting_a_member_is_explained_in_words(app, client, owned):
    owner, team = owned
    sign_in(client, owner)
    invite_in_page(client, team, owner.email)
    page = text(client.get(f"/teams/{team.id}"))
    assert "该邮箱已是团队成员" in page and "already_member" not in page


def test_a_member_sees_the_list_but_neither_the_form_nor_revoke(app, client, make, owned):
    owner, team = owned
    member = make.user("founder")
    sign_in(client, owner)
    token = csrf_token(client, f"/teams/{team.id}")
    client.post(f"/teams/{team.id}/members", data={"email": member.email, "csrf_token": token})
    invite_in_page(client, team, "guest@example.cn")
    client.post("/sign-out", data={"csrf_token": csrf_token(client, "/")})
    sign_in(client, member)
    page = text(client.get(f"/teams/{team.id}"))
    assert "guest@example.cn" in page
    assert f'action="/teams/{team.id}/invitations"' not in page and "/revoke" not in page
    assert invite_in_page(client, team, "x@example.cn").status_code == 403


def test_the_add_member_form_still_adds_an_existing_user(app, client, make, owned):
    owner, team = owned
    newcomer = make.user("founder")
    sign_in(client, owner)
    token = csrf_token(client, f"/teams/{team.id}")
    client.post(f"/teams/{team.id}/members", data={"email": newcomer.email, "csrf_token": token})
    assert joined(app, team, newcomer)


def test_anonymous_reads_the_invitation_and_signs_in_to_come_back(app, client, make, owned):
    owner, team = owned
    invitee = make.user("founder", email="guest@example.cn")
    sign_in(client, owner)
    invite_in_page(client, team, "guest@example.cn")
    secret = secret_mailed_to(app, "guest@example.cn")
    client.post("/sign-out", data={"csrf_token": csrf_token(client, "/")})

    here = f"/invitations/accept?token={secret}"
    page = text(client.get(here))
    assert "光子实验室" in page and "张队长" in page and "guest@example.cn" in page
    assert "/sign-up?next=" in page and 'action="/invitations/accept"' not in page
    sign_in_link = re.search(r'href="(/sign-in\?next=[^"]+)"', page).group(1)
    token = csrf_token(client, sign_in_link)
    response = client.post(
        sign_in_link, data={"email": invitee.email, "password": PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 302 and response.headers["Location"] == here

    page = text(client.get(here))
    assert 'value="加入团队"' in page
    token = csrf_token(client, here)
    response = client.post("/invitations/accept", data={"token": secret, "csrf_token": token})
    assert response.status_code == 302 and response.headers["Location"] == f"/teams/{team.id}"
    assert joined(app, team, invitee)
    assert "您已加入团队「光子实验室」" in text(client.get(f"/teams/{team.id}"))


def _invited(app, client, make, owned, email):
    owner, team = owned
    sign_in(client, owner)
    invite_in_page(client, team, email)
    client.post("/sign-out", data={"csrf_token": csrf_token(client, "/")})
    return team, secret_mailed_to(app, email)


def test_another_account_is_told_in_words(app, client, make, owned):
    team, secret = _invited(app, client, make, owned, "guest@example.cn")
    other = make.user("founder")
    sign_in(client, other)
    page = text(client.get(f"/invitations/accept?token={secret}"))
    assert "这份邀请是发给另一个邮箱地址的" in page and 'action="/invitations/accept"' not in page
    token = csrf_token(client, "/")
    response = client.post("/invitations/accept", data={"token": secret, "csrf_token": token})
    assert response.status_code == 403 and "这份邀请是发给另一个邮箱地址的" in text(response)
    assert "wrong_account" not in text(response)
    assert not joined(app, team, other)


def test_an_unverified_account_is_told_to_verify_first(app, client, make, owned):
    team, secret = _invited(app, client, make, owned, "fresh@example.cn")
    fresh = make.user("founder", email="fresh@example.cn", email_verified=False)
    sign_in(client, fresh)
    page = text(client.get(f"/invitations/accept?token={secret}"))
    assert "请先验证您的邮箱" in page and 'action="/invitations/accept"' not in page
    token = csrf_token(client, "/")
    response = client.post("/invitations/accept", data={"token": secret, "csrf_token": token})
    assert response.status_code == 403 and "请先验证您的邮箱" in text(response)
    assert not joined(app, team, fresh)


def test_a_bad_link_is_explained(app, client, make):
    page = text(client.get("/invitations/accept?token=nope"))
    assert "此邀请链接已失效" in page and "invalid_token" not in page
    user = make.user("founder")
    sign_in(client, user)
    token = csrf_token(client, "/")
    response = client.post("/invitations/accept", data={"token": "nope", "csrf_token": token})
    assert response.status_code == 422 and "此邀请链接已失效" in text(response)
