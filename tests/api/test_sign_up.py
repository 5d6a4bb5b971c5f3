"""Signing up and verifying the e-mail address through the API: no enumeration, single-use links,
and an unverified founder may register a team but neither book nor apply for vouchers (403)."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from booking.core import clock
from booking.core.db import db
from booking.models import User
from tests.conftest import PASSWORD, csrf_token
from tests.support.mailed_links import mails_to, token_in

CST = ZoneInfo("Asia/Shanghai")
GOOD_PASSWORD = "Blue-river 2026"


def user_count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(User))


def sign_up(client, email, password=GOOD_PASSWORD, **extra):
    return client.post(
        "/api/v1/auth/sign-up", json={"email": email, "password": password, "name": "李小龙", **extra}
    )


def token_of(client, email, password=GOOD_PASSWORD) -> str:
    response = client.post("/api/v1/auth/tokens", json={"email": email, "password": password})
    assert response.status_code == 201, response.json
    return response.json["token"]


def test_a_new_address_gets_an_unverified_founder_and_a_link_that_verifies(app, client):
    response = sign_up(client, "New.Founder@Example.cn")
    assert response.status_code == 202
    assert response.json == {"status": "check_your_email"}
    mails = mails_to(app, "new.founder@example.cn")
    assert len(mails) == 1 and mails[0].kind == "verify_email"
    assert "请验证您的邮箱" in mails[0].subject  # Chinese by default
    assert "/verify-email?token=" in mails[0].body
    secret = token_in(mails[0].body)

    bearer = {"Authorization": f"Bearer {token_of(client, 'new.founder@example.cn')}"}
    me = client.get("/api/v1/me", headers=bearer).json
    assert me["role"] == "founder" and me["email_verified"] is False and me["active"] is True
    assert me["name"] == "李小龙" and me["locale"] == "zh_CN"
    assert set(me) >= {
        "id",
        "email",
        "name",
        "role",
        "email_verified",
        "active",
        "district_code",
        "provider_id",
        "locale",
        "created_at",
    }

    verified = client.post("/api/v1/auth/verify-email", json={"token": secret})
    assert verified.status_code == 200 and verified.json == {"email_verified": True}
    assert client.get("/api/v1/me", headers=bearer).json["email_verified"] is True
    with app.app_context():
        assert db.session.scalar(select(User).where(User.email == "new.founder@example.cn")).email_verified_at


def test_the_mail_speaks_the_language_asked_for(app, client):
    assert sign_up(client, "english@example.cn", locale="en").status_code == 202
    (mail,) = mails_to(app, "english@example.cn")
    assert mail.subject.startswith("Confirm your e-mail address") and "Hello 李小龙" in mail.body


def test_a_known_address_gets_the_same_answer_and_an_already_registered_mail(app, client, make):
    known = make.user("founder")
    before = user_count(app)
    fresh = sign_up(client, "someone-new@example.cn")
    again = sign_up(client, known.email.upper())
    assert again.status_code == fresh.status_code == 202
    assert again.get_data() == fresh.get_data()
    assert user_count(app) == before + 1  # only the new address made an account
    (mail,) = mails_to(app, known.email)
    assert mail.kind == "already_registered" and "您已有账号" in mail.subject
    assert token_in(mail.body) is None  # no verification link
    assert "/sign-in" in mail.body and "/password-reset" in mail.body
    # the account is untouched: its password still works, the one typed at sign-up does not
    assert (
        client.post("/api/v1/auth/tokens", json={"email": known.email, "password": PASSWORD}).status_code
        == 201
    )
    assert (
        client.post("/api/v1/auth/tokens", json={"email": known.email, "password": GOOD_PASSWORD}).status_code
        == 401
    )


def test_weak_password_and_bad_fields_are_422(app, client):
    weak = sign_up(client, "weak@example.cn", password="password")
    assert weak.status_code == 422 and weak.json["error"]["code"] == "weak_password"
    same_as_email = sign_up(client, "weakling@example.cn", password="weakling@example.cn")
    assert same_as_email.json["error"]["code"] == "weak_password"
    assert sign_up(client, "not-an-address").status_code == 422
    blank_name = client.post(
        "/api/v1/auth/sign-up", json={"email": "blank@example.cn", "password": GOOD_PASSWORD, "name": "  "}
    )
    assert blank_name.status_code == 422
    assert sign_up(client, "locale@example.cn", locale="fr").status_code == 422
    assert mails_to(app, "weak@example.cn") == [] and mails_to(app, "blank@example.cn") == []


def test_bad_used_and_expired_tokens_are_invalid_token(app, client):
    sign_up(client, "tokens@example.cn")
    secret = token_in(mails_to(app, "tokens@example.cn")[0].body)

    def verify(token):
        return client.post("/api/v1/auth/verify-email", json={"token": token})

    assert verify("nonsense").json["error"]["code"] == "invalid_token"
    with clock.frozen_at(clock.now() + timedelta(hours=49)):
        expired = verify(secret)
    assert expired.status_code == 422 and expired.json["error"]["code"] == "invalid_token"

    sign_up(client, "tokens2@example.cn")
    secret = token_in(mails_to(app, "tokens2@example.cn")[0].body)
    assert verify(secret).status_code == 200
    used = verify(secret)
    assert used.status_code == 422 and used.json["error"]["code"] == "invalid_token"


def test_resend_mails_a_new_link_and_the_old_one_stops_working(app, client):
    sign_up(client, "resend@example.cn")
    first = token_in(mails_to(app, "resend@example.cn")[0].body)
    bearer = {"Authorization": f"Bearer {token_of(client, 'resend@example.cn')}"}
    assert client.post("/api/v1/auth/verify-email/resend").status_code == 401
    response = client.post("/api/v1/auth/verify-email/resend", headers=bearer)
    assert response.status_code == 202
    mails = mails_to(app, "resend@example.cn")
    assert len(mails) == 2 and mails[1].kind == "verify_email"
    second = token_in(mails[1].body)
    assert client.post("/api/v1/auth/verify-email", json={"token": first}).status_code == 422
    assert client.post("/api/v1/auth/verify-email", json={"token": second}).status_code == 200
    done = client.post("/api/v1/auth/verify-email/resend", headers=bearer)
    assert done.status_code == 409 and done.json["error"]["code"] == "already_verified"


def test_an_unverified_founder_registers_a_team_but_may_not_book_or_apply(app, api, make):
    founder = make.user("founder", email_verified=False)
    created = api.as_(founder).post(
        "/api/v1/teams",
        json={
            "name": "未验证团队",
            "university": "重庆大学",
            "district_code": "500106",
            "organization": "某公司",
        },
    )
    assert created.status_code == 201
    team = make.team(owner=founder, verified=True)
    instrument = make.instrument(make.lab())
    offer = make.offer()
    program = make.program()
    starts = datetime(2026, 3, 2, 10, tzinfo=CST)
    before = datetime(2026, 2, 25, 10, tzinfo=CST)
    booking = {
        "team_id": team.id,
        "instrument_id": instrument.id,
        "starts_at": starts.isoformat(),
        "ends_at": (starts + timedelta(hours=1)).isoformat(),
    }
    compute = {
        "team_id": team.id,
        "offer_id": offer.id,
        "gpus": 1,
        "starts_at": starts.isoformat(),
        "ends_at": (starts + timedelta(hours=1)).isoformat(),
    }
    application = {"team_id": team.id, "amount_fen": 10_000, "purpose": "训练模型"}
    as_founder = api.as_(founder)
    with clock.frozen_at(before):
        for path, body in (
            ("/api/v1/bookings", booking),
            ("/api/v1/bookings", compute),
            (f"/api/v1/programs/{program.id}/applications", application),
        ):
            refused = as_founder.post(path, json=body)
            assert refused.status_code == 403, (path, refused.json)
            assert refused.json["error"]["code"] == "email_not_verified"

        with app.app_context():
            user = db.session.get(User, founder.id)
            user.email_verified_at = clock.now()
            db.session.commit()
        # the same requests pass once the address is verified: the refusal was the address's
        assert as_founder.post("/api/v1/bookings", json=booking).status_code == 201
        assert as_founder.post("/api/v1/bookings", json=compute).status_code == 201
        assert (
            as_founder.post(f"/api/v1/programs/{program.id}/applications", json=application).status_code
            == 201
        )


def test_users_carry_email_verified_and_active(app, api, make):
    admin = make.user("admin")
    listed = api.as_(admin).get("/api/v1/users").json["items"]
    assert all(user["email_verified"] is True and user["active"] is True for user in listed)


def test_sign_up_is_limited_per_address(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "SIGN_UP_RATE_LIMIT", "2 per hour")
    assert sign_up(client, "a1@example.cn").status_code == 202
    assert sign_up(client, "a2@example.cn").status_code == 202
    limited = sign_up(client, "a3@example.cn")
    assert limited.status_code == 429 and limited.json["error"]["code"] == "rate_limited"
    # the sign-up page counts against the same limit
    page = client.post(
        "/sign-up",
        data={
            "csrf_token": csrf_token(client, "/sign-up"),
            "name": "x",
            "email": "a4@example.cn",
            "password": GOOD_PASSWORD,
        },
    )
    assert page.status_code == 429
    assert mails_to(app, "a3@example.cn") == [] and mails_to(app, "a4@example.cn") == []


def test_the_openapi_document_lists_the_new_endpoints(client):
    paths = client.get("/api/v1/openapi.json").json["paths"]
    sign_up_doc = paths["/api/v1/auth/sign-up"]["post"]["responses"]
    assert {"202", "422", "429"} <= set(sign_up_doc)
    assert {"200", "422"} <= set(paths["/api/v1/auth/verify-email"]["post"]["responses"])
    assert {"202", "401", "409"} <= set(paths["/api/v1/auth/verify-email/resend"]["post"]["responses"])
