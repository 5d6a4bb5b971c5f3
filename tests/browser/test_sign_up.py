"""A founder signs up in the browser, is signed in at once with a banner asking to verify the address,
receives the verification mail (delivered by the ``deliver_outbox`` job to the file backend), opens its
link, confirms with the button, and sees the verified state: no banner any more."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from booking.core.db import db
from booking.flow import mail
from booking.models import User
from tests.flow.test_notifications import read_mbox
from tests.support.mailed_links import TOKEN_RE

pytestmark = pytest.mark.browser

EMAIL = "zhang.san@example.cn"


def test_a_founder_signs_up_verifies_the_address_from_the_mail(page, app, tmp_path, monkeypatch):
    mbox = tmp_path / "outbox.mbox"
    monkeypatch.setitem(app.config, "MAIL_BACKEND", "file")
    monkeypatch.setitem(app.config, "MAIL_FILE_PATH", str(mbox))

    page.goto("/sign-in")
    page.get_by_role("link", name="注册").first.click()
    expect(page.get_by_role("heading", name="注册")).to_be_visible()
    page.get_by_label("姓名").fill("张三")
    page.get_by_label("邮箱").fill(EMAIL)
    page.get_by_label("密码").fill("Blue-river 2026")
    page.get_by_role("button", name="注册").click()

    expect(page.get_by_role("heading", name="请查收邮件")).to_be_visible()
    banner = page.locator(".verify-banner")
    expect(banner).to_contain_text("请验证邮箱：我们已发送验证邮件至 " + EMAIL)
    expect(page.get_by_role("button", name="退出登录")).to_be_visible()  # signed in already

    with app.app_context():
        delivery = mail.deliver_outbox()
    assert delivery.sent == 1
    (message,) = read_mbox(mbox)
    assert message["To"] == EMAIL and "请验证您的邮箱" in message["Subject"]
    body = message.get_content()
    link = next(line for line in body.splitlines() if TOKEN_RE.search(line) and line.startswith("http"))

    page.goto(link)
    expect(page.get_by_role("heading", name="确认邮箱")).to_be_visible()
    with app.app_context():
        assert db.session.scalar(select(User).where(User.email == EMAIL)).email_verified_at is None
    page.get_by_role("button", name="确认我的邮箱").click()

    expect(page.locator("p.flash.success")).to_contain_text("您的邮箱已验证")
    expect(page.locator(".verify-banner")).to_have_count(0)
    with app.app_context():
        assert db.session.scalar(select(User).where(User.email == EMAIL)).email_verified_at is not None

    page.goto(link)  # the link is spent: the button leads to the explanation
    page.get_by_role("button", name="确认我的邮箱").click()
    expect(page.get_by_text("此链接已失效")).to_be_visible()
