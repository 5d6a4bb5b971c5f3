"""booking.people.password_reset on its own: the helper an admin page calls, and the mails' wording."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from booking.core.db import db, write_intent
from booking.core.errors import Invalid
from booking.models import OutboxMessage, User
from booking.people import account_mail, password_reset
from tests.api.test_password_reset import TOKEN_RE


def test_send_reset_link_mails_a_working_link_and_replaces_older_ones(app, make):
    user = make.user("founder")
    with app.test_request_context(base_url="https://booking.example.cn"), write_intent():
        owner = db.session.get(User, user.id)
        password_reset.send_reset_link(owner)
        password_reset.send_reset_link(owner)
        mails = db.session.scalars(select(OutboxMessage).where(OutboxMessage.recipient == user.email)).all()
        assert [m.kind for m in mails] == ["password_reset", "password_reset"]
        assert "https://booking.example.cn/password-reset/confirm?token=" in mails[1].body
        older, newer = (TOKEN_RE.search(m.body).group(1) for m in mails)
        assert password_reset.usable_reset_user(older) is None
        assert password_reset.usable_reset_user(newer).id == user.id
        with pytest.raises(Invalid) as refused:
            password_reset.reset_password(older, "Lantern-river-2026")
        assert refused.value.code == "invalid_token"
        assert password_reset.reset_password(newer, "Lantern-river-2026").id == user.id
        db.session.rollback()


def test_the_mails_speak_the_recipients_language_first():
    user = User(name="李雷", email="li@example.cn", locale=None)
    subject, body = account_mail.password_changed_mail(user)
    assert subject.startswith("您的密码已更改") and body.index("李雷，您好") < body.index("Hello 李雷")
    user.locale = "en"
    subject, body = account_mail.password_reset_mail(user, "https://x.example/password-reset/confirm?token=t")
    assert subject.startswith("Reset your password") and body.index("Hello") < body.index("您好")
    assert body.count("https://x.example/password-reset/confirm?token=t") == 2  # once in each language
