"""Single-use mailed links: stored hashed, spent once, expire, the newest one only."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from booking.core import clock
from booking.core.db import db, write_intent
from booking.core.errors import Invalid
from booking.models import EmailLink, User
from booking.people import email_links


def test_a_link_is_stored_hashed_and_spent_once(app, make):
    user = make.user("founder")
    with app.app_context(), write_intent():
        owner = db.session.get(User, user.id)
        secret = email_links.issue_link(owner, "verify_email")
        stored = db.session.scalars(select(EmailLink.token_hash)).all()
        assert secret not in stored and len(stored) == 1 and len(stored[0]) == 64
        assert email_links.redeem_link(secret, "verify_email").id == user.id
        with pytest.raises(Invalid) as again:
            email_links.redeem_link(secret, "verify_email")
        assert again.value.code == "invalid_token"
        db.session.rollback()


@pytest.mark.parametrize("purpose, lifetime", [("verify_email", 48), ("reset_password", 1)])
def test_a_link_expires_after_its_lifetime(app, make, purpose, lifetime):
    user = make.user("founder")
    issued = clock.now()
    with app.app_context(), write_intent():
        with clock.frozen_at(issued):
            secret = email_links.issue_link(db.session.get(User, user.id), purpose)
        with clock.frozen_at(issued + timedelta(hours=lifetime) - timedelta(seconds=1)):
            assert email_links.redeem_link(secret, purpose).id == user.id
        secret = email_links.issue_link(db.session.get(User, user.id), purpose)
        with clock.frozen_at(clock.now() + timedelta(hours=lifetime)), pytest.raises(Invalid):
            email_links.redeem_link(secret, purpose)
        db.session.rollback()


def test_a_link_serves_only_its_purpose_and_only_the_newest_works(app, make):
    user = make.user("founder")
    with app.app_context(), write_intent():
        owner = db.session.get(User, user.id)
        older = email_links.issue_link(owner, "reset_password")
        newer = email_links.issue_link(owner, "reset_password")
        with pytest.raises(Invalid):
            email_links.redeem_link(newer, "verify_email")
        with pytest.raises(Invalid):
            email_links.redeem_link(older, "reset_password")
        assert email_links.redeem_link(newer, "reset_password").id == user.id
        for wrong in ("", "x" * 500, "unknown"):
            with pytest.raises(Invalid):
                email_links.redeem_link(wrong, "reset_password")
        db.session.rollback()
