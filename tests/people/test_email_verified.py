"""Who has a verified e-mail: accounts an admin makes are verified; one not verified is refused what
needs a verified address (403 ``email_not_verified``)."""

import pytest

from booking.core.db import db, write_intent
from booking.core.errors import Forbidden
from booking.models import User
from booking.people import accounts
from tests.conftest import PASSWORD


def test_an_account_an_admin_makes_is_verified(app, api, make):
    admin = make.user("admin")
    body = {"email": "new@example.cn", "password": PASSWORD, "name": "新人", "role": "founder"}
    response = api.as_(admin).post("/api/v1/users", json=body)
    assert response.status_code == 201
    with app.app_context():
        user = db.session.get(User, response.json["id"])
        assert user.email_verified and user.email_verified_at is not None


def test_an_unverified_account_is_refused_what_needs_a_verified_address(app):
    with app.app_context(), write_intent():
        user = accounts.create_user(
            email="self@example.cn", password=PASSWORD, name="自己", role="founder", email_verified=False
        )
        assert not user.email_verified
        with pytest.raises(Forbidden) as refused:
            accounts.require_verified_email(user)
        assert refused.value.code == "email_not_verified" and refused.value.status == 403
        db.session.rollback()


def test_a_verified_account_passes(app, make):
    user = make.user("founder")
    with app.app_context():
        accounts.require_verified_email(db.session.get(User, user.id))  # no refusal
