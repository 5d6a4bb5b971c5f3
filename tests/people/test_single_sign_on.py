"""The account a provider's claims stand for: found by subject, then by verified e-mail, else made."""

import pytest
from sqlalchemy import select

from booking.core.db import db, write_intent
from booking.core.errors import Conflict, Forbidden, Invalid
from booking.models import User
from booking.people import accounts
from booking.people.single_sign_on import account_for_claims
from vouchers.models import AuditEntry


@pytest.fixture
def unit(app):
    with app.app_context(), write_intent():
        yield
        db.session.rollback()


def test_the_made_founder_has_a_password_nobody_knows(unit):
    user = account_for_claims({"sub": "s-1", "email": "a.b@cqu.edu.cn", "email_verified": True})
    assert (user.role, user.name, user.oidc_subject, user.email_verified) == ("founder", "a.b", "s-1", True)
    assert user.password_hash.startswith("$argon2")
    assert not accounts.password_matches(user, "")


def test_a_verified_flag_sent_as_text_counts_and_a_long_name_is_cut(unit):
    user = account_for_claims(
        {"sub": "s-2", "email": "c@cqu.edu.cn", "email_verified": "true", "name": "名" * 150}
    )
    assert user.name == "名" * 100


@pytest.mark.parametrize("verified", [False, "false", None, 1])
def test_anything_but_a_verified_email_is_refused(unit, verified):
    with pytest.raises(Forbidden) as refused:
        account_for_claims({"sub": "s-3", "email": "d@cqu.edu.cn", "email_verified": verified})
    assert refused.value.code == "sso_email_not_verified"


def test_no_subject_is_refused(unit):
    with pytest.raises(Invalid) as refused:
        account_for_claims({"email": "e@cqu.edu.cn", "email_verified": True})
    assert refused.value.code == "sso_no_subject"


def test_an_account_linked_to_another_subject_is_not_taken_over(unit, make):
    account_for_claims({"sub": "s-4", "email": "f@cqu.edu.cn", "email_verified": True})
    with pytest.raises(Conflict) as refused:
        account_for_claims({"sub": "s-5", "email": "F@cqu.edu.cn", "email_verified": True})
    assert refused.value.code == "sso_subject_mismatch"


def test_a_disabled_account_found_by_subject_is_refused(unit):
    user = account_for_claims({"sub": "s-6", "email": "g@cqu.edu.cn", "email_verified": True})
    user.is_active = False
    with pytest.raises(Forbidden) as refused:
        account_for_claims({"sub": "s-6", "email": "g@cqu.edu.cn", "email_verified": True})
    assert refused.value.code == "account_disabled"
    assert db.session.get(User, user.id).oidc_subject == "s-6"


def test_an_account_made_or_linked_by_single_sign_on_is_in_the_audit_trail(unit):
    made = account_for_claims({"sub": "s-audit", "email": "new@cqu.edu.cn", "email_verified": True})
    existing = accounts.create_user(
        email="old@cqu.edu.cn", password="correct horse battery", name="老", role="founder"
    )
    account_for_claims({"sub": "s-old", "email": "old@cqu.edu.cn", "email_verified": True})
    account_for_claims(
        {"sub": "s-audit", "email": "new@cqu.edu.cn", "email_verified": True}
    )  # matched: no entry
    entries = db.session.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
    assert [(e.action, e.actor_id, e.object_id) for e in entries] == [
        ("sso_sign_up", made.id, str(made.id)),
        ("sso_link", existing.id, str(existing.id)),
    ]
    assert entries[1].before == {"oidc_subject": None} and entries[1].after["oidc_subject"] == "s-old"
