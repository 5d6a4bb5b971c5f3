"""Password reset, password change and sign out everywhere through the JSON API."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from booking.core import clock
from booking.core.db import db
from booking.models import OutboxMessage, User
from tests.conftest import PASSWORD, sign_in

NEW_PASSWORD = "Lantern-river-2026"
TOKEN_RE = re.compile(r"/password-reset/confirm\?token=([A-Za-z0-9_-]+)")


def mails_to(app, email: str, kind: str | None = None) -> list[OutboxMessage]:
    with app.app_context():
        query = select(OutboxMessage).where(OutboxMessage.recipient == email).order_by(OutboxMessage.id)
        if kind is not None:
            query = query.where(OutboxMessage.kind == kind)
        return list(db.session.scalars(query))


def reset_secret(app, email: str) -> str:
    """The token of the newest reset mail to ``email``."""
    mail = mails_to(app, email, "password_reset")[-1]
    return TOKEN_RE.search(mail.body).group(1)


def new_token(client, email: str, password: str):
    return client.post("/api/v1/auth/tokens", json={"email": email, "password": password})


def ask_reset(client, email: str):
    return client.post("/api/v1/auth/password-reset", json={"email": email})


def confirm(client, token: str, password: str = NEW_PASSWORD):
    return client.post("/api/v1/auth/password-reset/confirm", json={"token": token, "password": password})


def me(client, token: str):
    return client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})


# --- asking for a link ----------------------------------------------------------------------------------


def test_known_and_unknown_addresses_get_the_same_answer_and_only_the_known_one_a_mail(app, client, make):
    user = make.user("founder")
    known = ask_reset(client, user.email.upper())
    unknown = ask_reset(client, "nobody-here@example.cn")
    assert known.status_code == unknown.status_code == 202
    assert known.get_data() == unknown.get_data()
    assert known.json == {"status": "check_your_email"}
    mails = mails_to(app, user.email)
    assert [m.kind for m in mails] == ["password_reset"]
    assert "重置密码" in mails[0].subject and "Reset your password" in mails[0].subject
    assert TOKEN_RE.search(mails[0].body).group(0) in mails[0].body
    assert mails[0].body.index("您好") < mails[0].body.index("Hello")  # zh_CN first by default
    assert mails_to(app, "nobody-here@example.cn") == []


def test_an_english_speaker_reads_english_first(app, client, make):
    user = make.user("founder")
    with app.app_context():
        db.session.get(User, user.id).locale = "en"
        db.session.commit()
    ask_reset(client, user.email)
    mail = mails_to(app, user.email)[-1]
    assert mail.subject.startswith("Reset your password")
    assert mail.body.index("Hello") < mail.body.index("您好")


def test_a_deactivated_account_gets_no_mail(app, client, make):
    user = make.user("founder")
    with app.app_context():
        db.session.get(User, user.id).is_active = False
        db.session.commit()
    assert ask_reset(client, user.email).status_code == 202
    assert mails_to(app, user.email) == []


def test_one_address_gets_few_mails_and_one_client_few_requests(app, client, make, monkeypatch):
    monkeypatch.setitem(app.config, "PASSWORD_RESET_REQUESTS_PER_CLIENT", "20 per hour")
    user = make.user("founder")
    answers = [ask_reset(client, user.email).status_code for _ in range(5)]
    assert answers == [202] * 5  # the answer never changes for the address...
    assert len(mails_to(app, user.email)) == 3  # ...but only 3 mails an hour go to it
    for n in range(15):
        assert ask_reset(client, f"someone{n}@example.cn").status_code == 202
    refused = ask_reset(client, "one-more@example.cn")
    assert refused.status_code == 429
    assert refused.json["error"]["code"] == "rate_limited"
    assert int(refused.headers["Retry-After"]) > 0


def test_limits_are_off_with_ratelimit_disabled(app, client, make, monkeypatch):
    monkeypatch.setitem(app.config, "RATELIMIT_ENABLED", False)
    user = make.user("founder")
    monkeypatch.setitem(app.config, "PASSWORD_RESET_REQUESTS_PER_CLIENT", "5 per hour")
    answers = [ask_reset(client, user.email).status_code for _ in range(8)]
    assert answers == [202] * 8
    assert len(mails_to(app, user.email)) == 8


def test_a_malformed_request_is_422_not_a_500(client):
    assert ask_reset(client, "not an address").status_code == 422
    assert client.post("/api/v1/auth/password-reset", json={}).status_code == 422


# --- setting the new password ---------------------------------------------------------------------------


def test_the_mailed_token_sets_the_password_and_ends_every_sign_in(app, client, make):
    user = make.user("founder")
    with app.app_context():
        db.session.get(User, user.id).email_verified_at = None
        db.session.commit()
    old_token = make.token_for(user)
    browser = app.test_client()
    sign_in(browser, user)
    assert browser.get("/account").status_code == 200
    ask_reset(client, user.email)
    secret = reset_secret(app, user.email)

    response = confirm(client, secret)

    assert response.status_code == 200, response.json
    assert new_token(client, user.email, PASSWORD).status_code == 401
    assert new_token(client, user.email, NEW_PASSWORD).status_code == 201
    assert me(client, old_token).status_code == 401
    signed_out = browser.get("/account")
    assert signed_out.status_code == 302 and "/sign-in" in signed_out.headers["Location"]
    changed = mails_to(app, user.email, "password_changed")
    assert len(changed) == 1 and "您的密码已更改" in changed[0].subject
    with app.app_context():
        assert db.session.get(User, user.id).email_verified  # the link proved the address


def test_a_token_works_once(app, client, make):
    user = make.user("founder")
    ask_reset(client, user.email)
    secret = reset_secret(app, user.email)
    assert confirm(client, secret).status_code == 200
    again = confirm(client, secret, "Another-fine-pass-9")
    assert again.status_code == 422
    assert again.json["error"]["code"] == "invalid_token"
    assert new_token(client, user.email, NEW_PASSWORD).status_code == 201


def test_only_the_newest_link_works_and_a_reset_spends_the_others(app, client, make):
    user = make.user("founder")
    ask_reset(client, user.email)
    older = reset_secret(app, user.email)
    ask_reset(client, user.email)
    newer = reset_secret(app, user.email)
    assert confirm(client, older).json["error"]["code"] == "invalid_token"
    assert confirm(client, newer).status_code == 200


def test_a_token_expires_after_an_hour(app, client, make):
    user = make.user("founder")
    asked = clock.now()
    with clock.frozen_at(asked):
        ask_reset(client, user.email)
    secret = reset_secret(app, user.email)
    with clock.frozen_at(asked + timedelta(hours=1)):
        late = confirm(client, secret)
    assert late.status_code == 422 and late.json["error"]["code"] == "invalid_token"
    with clock.frozen_at(asked + timedelta(minutes=59)):
        assert confirm(client, secret).status_code == 200


def test_a_weak_password_is_refused_and_the_token_stays_usable(app, client, make):
    user = make.user("founder")
    ask_reset(client, user.email)
    secret = reset_secret(app, user.email)
    weak = confirm(client, secret, "short")
    assert weak.status_code == 422 and weak.json["error"]["code"] == "weak_password"
    assert new_token(client, user.email, PASSWORD).status_code == 201  # nothing changed
    assert confirm(client, secret).status_code == 200


@pytest.mark.parametrize("token", ["", "unknown-token", "x" * 500])
def test_a_bad_token_is_invalid_token(client, token):
    response = confirm(client, token)
    assert response.status_code == 422
    assert response.json["error"]["code"] in ("invalid_token", "validation_error")
    if token == "unknown-token":
        assert response.json["error"]["code"] == "invalid_token"


# --- sign out everywhere --------------------------------------------------------------------------------


def test_sign_out_everywhere_ends_every_token_and_browser_session(app, client, make):
    user = make.user("founder")
    other = make.user("founder")
    first = new_token(client, user.email, PASSWORD).json["token"]
    second = new_token(client, user.email, PASSWORD).json["token"]
    bystander = new_token(client, other.email, PASSWORD).json["token"]
    browser = app.test_client()
    sign_in(browser, user)

    response = client.post("/api/v1/auth/sign-out-everywhere", headers={"Authorization": f"Bearer {first}"})

    assert response.status_code == 204
    assert me(client, first).status_code == 401
    assert me(client, second).status_code == 401
    assert me(client, bystander).status_code == 200
    assert browser.get("/account").status_code == 302
    assert new_token(client, user.email, PASSWORD).status_code == 201  # the password still works


def test_sign_out_everywhere_needs_a_token(client):
    assert client.post("/api/v1/auth/sign-out-everywhere").status_code == 401


# --- change password ------------------------------------------------------------------------------------


def change(client, token: str, current: str, new: str):
    return client.post(
        "/api/v1/me/password",
        json={"current_password": current, "new_password": new},
        headers={"Authorization": f"Bearer {token}"},
    )


def test_changing_the_password_keeps_the_calling_token_only(app, client, make):
    user = make.user("founder")
    caller = new_token(client, user.email, PASSWORD).json["token"]
    other = new_token(client, user.email, PASSWORD).json["token"]
    browser = app.test_client()
    sign_in(browser, user)

    assert change(client, caller, PASSWORD, NEW_PASSWORD).status_code == 204

    assert me(client, caller).status_code == 200
    assert me(client, other).status_code == 401
    assert browser.get("/account").status_code == 302
    assert new_token(client, user.email, NEW_PASSWORD).status_code == 201
    assert new_token(client, user.email, PASSWORD).status_code == 401
    assert len(mails_to(app, user.email, "password_changed")) == 1


def test_changing_needs_the_current_password_and_a_strong_new_one(app, client, make):
    user = make.user("founder")
    caller = new_token(client, user.email, PASSWORD).json["token"]
    wrong = change(client, caller, "not-my-password", NEW_PASSWORD)
    assert wrong.status_code == 422 and wrong.json["error"]["code"] == "wrong_password"
    weak = change(client, caller, PASSWORD, "password")
    assert weak.status_code == 422 and weak.json["error"]["code"] == "weak_password"
    assert new_token(client, user.email, PASSWORD).status_code == 201
    assert mails_to(app, user.email, "password_changed") == []


def test_guessing_the_current_password_is_limited_like_signing_in(client, make):
    user = make.user("founder")
    caller = new_token(client, user.email, PASSWORD).json["token"]
    answers = [change(client, caller, f"guess-number-{n}", NEW_PASSWORD).status_code for n in range(11)]
    assert answers == [422] * 10 + [429]
