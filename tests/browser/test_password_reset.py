"""A founder who forgot the password asks for a link on the sign-in page, reads the mail (delivered by
``deliver_outbox`` into an mbox), opens the link, chooses a new password and signs in with it."""

from __future__ import annotations

import mailbox
import re
from email import message_from_bytes
from email.policy import default as default_policy

import pytest
from playwright.sync_api import expect

from booking.flow import mail
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser
NEW_PASSWORD = "Jialing-river-2026"


def delivered_bodies(app, path) -> list[str]:
    with app.app_context():
        mail.deliver_outbox()
    box = mailbox.mbox(path)
    try:
        messages = [message_from_bytes(box.get_bytes(key), policy=default_policy) for key in box.iterkeys()]
    finally:
        box.close()
    return [m.get_body(preferencelist=("plain",)).get_content() for m in messages]


def test_forgot_password_mail_link_new_password_sign_in(page, app, make, tmp_path, monkeypatch):
    mbox = tmp_path / "outbox.mbox"
    monkeypatch.setitem(app.config, "MAIL_BACKEND", "file")
    monkeypatch.setitem(app.config, "MAIL_FILE_PATH", str(mbox))
    founder = make.user("founder", name="韩梅梅")

    page.goto("/sign-in")
    page.get_by_role("link", name="忘记密码？").click()
    expect(page.get_by_role("heading", name="忘记密码？")).to_be_visible()
    page.get_by_label("邮箱").fill(founder.email)
    page.get_by_role("button", name="发送重置链接").click()
    expect(page.get_by_role("heading", name="请查收邮件")).to_be_visible()

    bodies = delivered_bodies(app, mbox)
    assert len(bodies) == 1 and "韩梅梅，您好" in bodies[0]
    link = re.search(r"http://\S+/password-reset/confirm\?token=[A-Za-z0-9_-]+", bodies[0]).group(0)

    page.goto(link)
    expect(page.get_by_role("heading", name="设置新密码")).to_be_visible()
    page.get_by_label("新密码", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("再次输入新密码").fill(NEW_PASSWORD)
    page.get_by_role("button", name="设置新密码并保存").click()

    expect(page).to_have_url(re.compile(r"/sign-in$"))
    expect(page.locator("p.flash").filter(has_text="您的密码已更改")).to_be_visible()
    page.get_by_label("邮箱").fill(founder.email)
    page.get_by_label("密码", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    expect(page.get_by_text("邮箱或密码错误")).to_be_visible()  # the old password is gone
    page.get_by_label("密码", exact=True).fill(NEW_PASSWORD)
    page.get_by_role("button", name="登录").click()
    expect(page.get_by_role("button", name="退出登录")).to_be_visible()

    page.goto(link)  # used: a friendly page offering a new link
    expect(page.get_by_role("heading", name="此链接已失效")).to_be_visible()
    expect(page.get_by_role("link", name="重新申请链接")).to_be_visible()
    changed = delivered_bodies(app, mbox)
    assert len(changed) == 2 and "密码刚刚已更改" in changed[1]
