"""Bearer tokens: issue, expiry, revocation, storage, failed sign-in limits."""

from __future__ import annotations

import hashlib
from datetime import timedelta

from sqlalchemy import select

from booking.core import clock
from booking.core.db import db
from booking.models import ApiToken, User
from tests.conftest import PASSWORD


def _token(client, email, password=PASSWORD):
    return client.post("/api/v1/auth/tokens", json={"email": email, "password": password})


def test_token_issue_returns_user_and_works(client, make):
    user = make.user("founder")
    response = _token(client, user.email.upper())
    assert response.status_code == 201
    assert response.json["user"] == {
        "id": user.id,
        "email": user.email,
        "role": "founder",
        "email_verified": True,
        "active": True,
    }
    me = client.get("/api/v1/me", headers={"Authorization": "Bearer " + response.json["token"]})
    assert me.status_code == 200 and me.json["id"] == user.id


def test_wrong_password_and_unknown_email_are_the_same_401(client, make):
    user = make.user("founder")
    wrong = _token(client, user.email, "not the password")
    unknown = _token(client, "nobody@example.cn", "whatever-it-is")
    for response in (wrong, unknown):
        assert response.status_code == 401
        assert response.json["error"]["code"] == "invalid_credentials"
    assert wrong.json == unknown.json


def test_only_a_digest_of_the_token_is_stored(client, make, app):
    user = make.user("founder")
    secret = _token(client, user.email).json["token"]
    with app.app_context():
        stored = db.session.scalars(select(ApiToken.token_hash).where(ApiToken.user_id == user.id)).all()
    assert secret not in stored
    assert hashlib.sha256(secret.encode()).hexdigest() in stored


def test_expired_token_is_401(client, make):
    user = make.user("founder")
    secret = _token(client, user.email).json["token"]
    with clock.frozen_at(clock.now() + timedelta(days=31)):
        response = client.get("/api/v1/me", headers={"Authorization": "Bearer " + secret})
    assert response.status_code == 401
    assert response.json["error"]["code"] == "token_expired"
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_revoked_token_is_401_at_once(client, make):
    user = make.user("founder")
    first = _token(client, user.email).json
    second = _token(client, user.email).json
    auth = {"Authorization": "Bearer " + second["token"]}
    listed = client.get("/api/v1/auth/tokens", headers=auth).json
    assert {t["id"] for t in listed} == {first["id"], second["id"]}
    assert "token" not in listed[0]
    assert client.delete(f"/api/v1/auth/tokens/{first['id']}", headers=auth).status_code == 204
    revoked = client.get("/api/v1/me", headers={"Authorization": "Bearer " + first["token"]})
    assert revoked.status_code == 401 and revoked.json["error"]["code"] == "token_revoked"
    assert client.get("/api/v1/me", headers=auth).status_code == 200


def test_cannot_revoke_someone_elses_token(client, make):
    a, b = make.user("founder"), make.user("founder")
    a_token = _token(client, a.email).json
    b_auth = {"Authorization": "Bearer " + _token(client, b.email).json["token"]}
    assert client.delete(f"/api/v1/auth/tokens/{a_token['id']}", headers=b_auth).status_code == 404
    assert (
        client.get("/api/v1/me", headers={"Authorization": "Bearer " + a_token["token"]}).status_code == 200
    )


def test_garbage_and_missing_tokens_are_401(client):
    for headers in (
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Basic abc"},
        {"Authorization": "Bearer nope"},
    ):
        response = client.get("/api/v1/me", headers=headers)
        assert response.status_code == 401
        assert response.json["error"]["code"] in {"unauthorized", "invalid_token"}


def test_disabled_account_cannot_sign_in_or_use_tokens(client, make, app):
    user = make.user("founder")
    secret = _token(client, user.email).json["token"]
    with app.app_context():
        db.session.get(User, user.id).is_active = False
        db.session.commit()
    assert _token(client, user.email).status_code == 401
    assert client.get("/api/v1/me", headers={"Authorization": "Bearer " + secret}).status_code == 401


def test_failed_sign_ins_are_limited_per_account_not_per_address(client, make, app):
    victim, neighbour = make.user("founder"), make.user("founder")
    limit = int(app.config["SIGN_IN_FAILURE_LIMIT"].split()[0])
    for _ in range(limit):
        assert _token(client, victim.email, "guess-guess").status_code == 401
    blocked = _token(client, victim.email, PASSWORD)
    assert blocked.status_code == 429
    assert blocked.json["error"]["code"] == "rate_limited"
    # same address, another account: unaffected (a campus shares one address)
    assert _token(client, neighbour.email).status_code == 201


def test_rate_limits_can_be_switched_off(client, make, app):
    user = make.user("founder")
    app.config["RATELIMIT_ENABLED"] = False
    try:
        for _ in range(int(app.config["SIGN_IN_FAILURE_LIMIT"].split()[0]) + 2):
            assert _token(client, user.email, "guess-guess").status_code == 401
        assert _token(client, user.email).status_code == 201
    finally:
        app.config["RATELIMIT_ENABLED"] = True


def test_cli_creates_first_admin(app):
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=["users", "create", "root@example.cn", "--password", "long enough", "--role", "admin"]
    )
    assert result.exit_code == 0, result.output
    with app.app_context():
        admin = db.session.scalar(select(User).where(User.email == "root@example.cn"))
        assert admin.role == "admin"
    again = runner.invoke(args=["users", "create", "root@example.cn", "--password", "long enough"])
    assert again.exit_code != 0 and "already exists" in again.output
