"""A team's owner invites a colleague by e-mail in the browser; the colleague (an existing, verified
account with that address) opens the link from the mail, signs in, accepts and sees the team."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from booking.core.db import db
from booking.models import OutboxMessage, TeamMember
from tests.browser.conftest import PASSWORD, sign_in
from tests.browser.helpers import flash, section

pytestmark = pytest.mark.browser


def test_the_owner_invites_and_the_invitee_joins_from_the_mailed_link(app, make, browser_context):
    owner = make.user("founder", name="王队长")
    team = make.team(owner=owner, verified=True, name="嘉陵江机器人")
    invitee = make.user("founder", name="陈同学", email="chen@example.cn")

    owner_page = browser_context(viewport={"width": 1280, "height": 800}).new_page()
    sign_in(owner_page, owner.email)
    owner_page.goto(f"/teams/{team.id}")
    invitations = section(owner_page, "Invitations")
    invitations.get_by_label("E-mail address to invite").fill("Chen@Example.cn")
    invitations.get_by_role("button", name="Send invitation").click()
    flash(owner_page, "Invitation sent to chen@example.cn.")
    row = section(owner_page, "Invitations").locator("tr").filter(has_text="chen@example.cn")
    expect(row).to_contain_text("invitation pending")
    expect(row).to_contain_text("王队长")

    with app.app_context():
        mail = db.session.scalars(
            select(OutboxMessage).where(OutboxMessage.recipient == "chen@example.cn")
        ).one()
    link = re.search(r"http://\S+/invitations/accept\?token=\S+", mail.body).group(0)

    invitee_page = browser_context(viewport={"width": 1280, "height": 800}).new_page()
    invitee_page.goto(link)
    expect(invitee_page.get_by_role("heading", name="团队邀请")).to_be_visible()
    invitation = invitee_page.locator("section.invitation")
    expect(invitation).to_contain_text("王队长 邀请 chen@example.cn 加入团队「嘉陵江机器人」")
    invitation.get_by_role("link", name="登录", exact=True).click()
    invitee_page.get_by_label("邮箱").fill(invitee.email)
    invitee_page.get_by_label("密码").fill(PASSWORD)
    invitee_page.get_by_role("button", name="登录").click()

    expect(invitee_page).to_have_url(link.replace("http://localhost", ""))  # back at the invitation
    invitee_page.get_by_role("button", name="加入团队").click()
    expect(invitee_page.get_by_role("heading", name="嘉陵江机器人")).to_be_visible()
    flash(invitee_page, "您已加入团队「嘉陵江机器人」。")
    expect(invitee_page.locator("ul.members")).to_contain_text("陈同学")
    with app.app_context():
        assert db.session.get(TeamMember, (team.id, invitee.id)) is not None

    owner_page.reload()
    row = section(owner_page, "Invitations").locator("tr").filter(has_text="chen@example.cn")
    expect(row).to_contain_text("invitation accepted")
