"""The sign-up and verification pages: the same page for a known and a new address, the link's GET
spends nothing (only the button's POST does), the banner for an unverified user, and the booking and
application forms that say what to do instead of booking."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select

from booking.core import clock
from booking.core.db import db
from booking.models import User
from tests.conftest import CSRF_RE, PASSWORD, csrf_token
from tests.support.mailed_links import mails_to, token_in
from tests.web.test_instrument_pages import BEFORE, book_form, booking_count, text

GOOD_PASSWORD = "Blue-river 2026"
BANNER = "请验证邮箱：我们已发送验证邮件至"


def post_sign_up(client, email, password=GOOD_PASSWORD, name="王小明"):
    token = csrf_token(client, "/sign-up")
    return client.post(
        "/sign-up", data={"csrf_token": token, "name": name, "email": email, "password": password}
    )


def user_named(app, email) -> User | None:
    with app.app_context():
        return db.session.scalar(select(User).where(User.email == email))


def test_sign_in_page_and_nav_link_to_sign_up(client):
    assert 'href="/sign-up"' in text(client.get("/sign-in"))
    home = text(client.get("/"))
    assert 'href="/sign-up"' in home and "注册" in home


def test_sign_up_signs_in_shows_the_banner_and_the_link_verifies(app, client):
    response = post_sign_up(client, "page.founder@example.cn")
    assert response.status_code == 302 and response.headers["Location"].endswith("/sign-up/check-your-email")
    page = text(client.get("/sign-up/check-your-email"))
    assert "请查收邮件" in page and "page.founder@example.cn" in page
    assert user_named(app, "page.founder@example.cn").email_verified_at is None

    home = text(client.get("/teams"))  # signed in at once, with the banner and its resend button
    assert BANNER in home and "page.founder@example.cn" in home and 'action="/verify-email/resend"' in home

    (mail,) = mails_to(app, "page.founder@example.cn")
    secret = token_in(mail.body)
    # opening the link (what a mail scanner does) only shows the button
    for _ in range(2):
        opened = client.get(f"/verify-email?token={secret}")
        assert opened.status_code == 200 and "确认我的邮箱" in text(opened)
    assert user_named(app, "page.founder@example.cn").email_verified_at is None

    form_token = CSRF_RE.search(text(opened)).group(1)
    confirmed = client.post("/verify-email", data={"csrf_token": form_token, "token": secret})
    assert confirmed.status_code == 302
    after = text(client.get(confirmed.headers["Location"]))
    assert "您的邮箱已验证" in after and BANNER not in after
    assert user_named(app, "page.founder@example.cn").email_verified_at is not None

    used = client.post("/verify-email", data={"csrf_token": form_token, "token": secret})
    assert used.status_code == 422 and "此链接已失效" in text(used)


def test_the_post_needs_its_csrf_token(app, client):
    post_sign_up(client, "csrf@example.cn")
    secret = token_in(mails_to(app, "csrf@example.cn")[0].body)
    refused = client.post("/verify-email", data={"token": secret})
    assert refused.status_code == 400  # the CSRF refusal
    assert user_named(app, "csrf@example.cn").email_verified_at is None


def test_a_known_and_a_new_address_get_the_same_page(app, make):
    known = make.user("founder")
    pages = []
    for email in (known.email, "fresh-one@example.cn"):
        client = app.test_client()
        response = post_sign_up(client, email)
        assert response.status_code == 302
        pages.append((response.headers["Location"], text(client.get(response.headers["Location"]))))
    (known_at, known_page), (fresh_at, fresh_page) = pages
    assert known_at == fresh_at
    assert "请查收邮件" in known_page and "请查收邮件" in fresh_page
    assert known_page[known_page.index("<h1>") :].replace(known.email, "X") == fresh_page[
        fresh_page.index("<h1>") :
    ].replace("fresh-one@example.cn", "X")
    assert [m.kind for m in mails_to(app, known.email)] == ["already_registered"]
    # the known account is not signed in by someone who typed its address
    other = app.test_client()
    post_sign_up(other, known.email)
    assert other.get("/teams").status_code == 302


def test_weak_password_and_bad_address_are_shown_beside_their_fields(app, client):
    weak = post_sign_up(client, "weak-page@example.cn", password="short")
    assert weak.status_code == 422 and "至少" in text(weak)
    bad = post_sign_up(client, "no-at-sign")
    assert bad.status_code == 422
    assert user_named(app, "weak-page@example.cn") is None and mails_to(app, "weak-page@example.cn") == []


def test_an_invalid_link_explains_and_offers_a_new_one(app, client, make, login):
    anonymous = client.get("/verify-email?token=nonsense")
    assert anonymous.status_code == 200  # the button; the POST finds out
    token = CSRF_RE.search(text(anonymous)).group(1)
    refused = client.post("/verify-email", data={"csrf_token": token, "token": "nonsense"})
    assert refused.status_code == 422 and "此链接已失效" in text(refused) and "/sign-in" in text(refused)
    founder = make.user("founder", email_verified=False)
    login(founder)
    refused = client.post("/verify-email", data={"csrf_token": csrf_token(client, "/teams"), "token": "x"})
    assert 'action="/verify-email/resend"' in text(refused)


def test_the_banner_resends_the_mail(app, client, make, login):
    founder = make.user("founder", email_verified=False)
    login(founder)
    page = text(client.get("/teams"))
    banner = page[page.index('action="/verify-email/resend"') :]
    name, token = re.search(r'<input name="([^"]*csrf_token)" type="hidden" value="([^"]+)"', banner).groups()
    response = client.post("/verify-email/resend", data={name: token, "next": "/teams"})
    assert response.status_code == 302 and response.headers["Location"].endswith("/teams")
    assert "我们已向" in text(client.get("/teams"))
    mails = mails_to(app, founder.email)
    assert len(mails) == 1 and mails[0].kind == "verify_email" and token_in(mails[0].body)


def test_a_verified_user_sees_no_banner(client, make, login):
    login(make.user("founder"))
    assert BANNER not in text(client.get("/teams"))


def test_an_unverified_founder_is_told_to_verify_before_booking_and_applying(app, client, make, login):
    founder = make.user("founder", email_verified=False)
    team = make.team(owner=founder, verified=True)
    instrument = make.instrument(make.lab())
    offer = make.offer()
    program = make.program()
    login(founder)
    with clock.frozen_at(BEFORE):
        token = csrf_token(client, f"/instruments/{instrument.id}")
        data = book_form(token, team.id, "2026-03-02", "10:00", "11:00")
        refused = client.post(f"/instruments/{instrument.id}/book", data=data)
        assert refused.status_code == 403 and "请先验证邮箱" in text(refused)
        assert booking_count(app) == 0

        token = csrf_token(client, f"/compute/offers/{offer.id}")
        refused = client.post(
            f"/compute/offers/{offer.id}/book",
            data={
                "csrf_token": token,
                "request_key": "k1",
                "team_id": str(team.id),
                "gpus": "1",
                "starts_at": "2026-03-03T10:00",
                "ends_at": "2026-03-03T11:00",
                "use_vouchers": "y",
                "confirmed": "yes",
            },
        )
        assert refused.status_code == 403 and "请先验证邮箱" in text(refused)
        assert booking_count(app) == 0

        token = csrf_token(client, f"/programs/{program.id}/apply")
        application = {
            "csrf_token": token,
            "team_id": str(team.id),
            "amount_yuan": "100",
            "purpose": "训练模型",
        }
        refused = client.post(f"/programs/{program.id}/apply", data=application)
        assert refused.status_code == 403 and "请先验证邮箱" in text(refused)

        with app.app_context():
            db.session.get(User, founder.id).email_verified_at = clock.now() - timedelta(minutes=1)
            db.session.commit()
        data["request_key"] = "again"
        assert client.post(f"/instruments/{instrument.id}/book", data=data).status_code == 302
        assert booking_count(app) == 1
        application["csrf_token"] = csrf_token(client, f"/programs/{program.id}/apply")
        assert client.post(f"/programs/{program.id}/apply", data=application).status_code == 302


def test_existing_accounts_sign_in_unchanged(client, make):
    user = make.user("founder")
    token = csrf_token(client, "/sign-in")
    response = client.post("/sign-in", data={"email": user.email, "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 302
