"""Accounts: users, password hashes, API tokens, organisations. Plain functions that only flush."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from functools import cache

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app
from sqlalchemy import bindparam, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload

from booking.core import clock
from booking.core.db import db
from booking.core.errors import Conflict, Forbidden, Invalid, NotFound, Unauthorized, unknown_reference
from booking.models import ApiToken, District, Organization, Provider, User
from booking.people.passwords import check_password
from booking.people.sign_in_limit import clear_sign_in_attempts, count_sign_in_attempt

_hashers: dict[str, tuple[PasswordHasher, str]] = {}


def _hasher() -> tuple[PasswordHasher, str]:
    """The configured argon2 hasher and a dummy hash made with it.

    Tests select argon2-cffi's CHEAPEST profile; everything else uses the library default.
    The dummy hash is verified when the e-mail is unknown, so a miss costs as much as a wrong password.
    """
    profile = current_app.config.get("PASSWORD_HASH_PROFILE", "RFC_9106_LOW_MEMORY")
    if profile not in _hashers:
        hasher = PasswordHasher.from_parameters(getattr(profiles, profile))
        _hashers[profile] = (hasher, hasher.hash("not-a-real-password"))
    return _hashers[profile]


def hash_password(password: str) -> str:
    return _hasher()[0].hash(password)


def password_matches(user: User | None, password: str) -> bool:
    hasher, dummy = _hasher()
    try:
        hasher.verify(user.password_hash if user else dummy, password)
    except (VerificationError, InvalidHashError):
        return False
    if user is not None and hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hasher.hash(password)
    return user is not None


def normalise_email(email: str) -> str:
    return email.strip().lower()


def find_user_by_email(email: str) -> User | None:
    return db.session.scalar(select(User).where(User.email == normalise_email(email)))


def authenticate(email: str, password: str) -> User:
    """The active user with these credentials, or ``Unauthorized('invalid_credentials')``; the right
    password of a deactivated account gets ``Unauthorized('account_disabled')``.

    Attempts count against the account tried (429 after too many, see ``booking.people.sign_in_limit``), not
    against the address. An unknown e-mail costs the same hash work and gets the same answers.
    """
    email = normalise_email(email)
    count_sign_in_attempt(email)
    user = find_user_by_email(email)
    if not password_matches(user, password):
        raise Unauthorized("E-mail or password is wrong.", code="invalid_credentials")
    if not user.is_active:  # said only to whoever knows the password: guessers learn nothing
        raise Unauthorized("This account has been disabled by an administrator.", code="account_disabled")
    clear_sign_in_attempts(email)
    return user


def create_user(
    *,
    email: str,
    password: str,
    name: str,
    role: str,
    district_code: str | None = None,
    provider_id: int | None = None,
    email_verified: bool = True,
) -> User:
    """A user; one created by an admin (the default) has a verified e-mail, a self-made one does not."""
    email = normalise_email(email)
    check_password(password, email)
    if district_code is not None:
        if role != "finance":
            raise Invalid(
                "Only finance officers belong to a district.",
                details={"district_code": ["Only for role finance."]},
            )
        if db.session.get(District, district_code) is None:
            raise unknown_reference("district_code", "district code")
    if role == "provider":
        if provider_id is None:
            raise Invalid("Provider users need a provider.", details={"provider_id": ["Required."]})
        if db.session.get(Provider, provider_id) is None:
            raise unknown_reference("provider_id", "provider")
    elif provider_id is not None:
        raise Invalid(
            "Only provider users belong to a provider.", details={"provider_id": ["Only for role provider."]}
        )
    if find_user_by_email(email) is not None:
        raise Conflict("A user with this e-mail already exists.", code="email_taken")
    user = User(
        email=email,
        name=name,
        role=role,
        password_hash=hash_password(password),
        district_code=district_code,
        provider_id=provider_id,
        email_verified_at=clock.now() if email_verified else None,
    )
    db.session.add(user)
    db.session.flush()
    return user


def get_user(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound("No such user.")
    return user


def require_user_reference(user_id: int, field: str = "user_id") -> User:
    """A user named in a request body: unknown → 422, not 404."""
    user = db.session.get(User, user_id)
    if user is None:
        raise unknown_reference(field, "user")
    return user


# --- API tokens ---------------------------------------------------------------------------------------


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def issue_token(user: User, ttl: timedelta) -> tuple[ApiToken, str]:
    """A new bearer token; the secret is returned once and only its digest is kept."""
    secret = secrets.token_urlsafe(32)
    token = ApiToken(user=user, token_hash=_digest(secret), expires_at=clock.now() + ttl)
    db.session.add(token)
    db.session.flush()
    return token, secret


# Built once, on first use: every API request runs it, and SQLAlchemy keeps the ORM's compiled state of
# a statement object it has seen (about 40 % of this read's CPU; bench/statement_cost.py). Never at
# import: loader options configure the mappers, which fails while some models are not imported yet
# (tests/core/test_import_time.py).
@cache
def _token_with_user():
    return (
        select(ApiToken).options(joinedload(ApiToken.user)).where(ApiToken.token_hash == bindparam("digest"))
    )


def user_for_token(secret: str) -> tuple[User, ApiToken]:
    token = db.session.scalar(_token_with_user(), {"digest": _digest(secret)})  # token and user in one query
    if token is None:
        raise Unauthorized("The token is not valid.", code="invalid_token")
    if token.revoked_at is not None:
        raise Unauthorized("The token has been revoked.", code="token_revoked")
    if token.expires_at <= clock.now():
        raise Unauthorized("The token has expired.", code="token_expired")
    if not token.user.is_active:
        raise Unauthorized("The account is disabled.", code="account_disabled")
    return token.user, token


def revoke_token(user: User, token_id: int) -> ApiToken:
    token = db.session.get(ApiToken, token_id)
    if token is None or token.user_id != user.id:
        raise NotFound("No such token.")
    if token.revoked_at is None:
        token.revoked_at = clock.now()
    db.session.flush()
    return token


def active_tokens(user: User) -> list[ApiToken]:
    return list(
        db.session.scalars(
            select(ApiToken)
            .where(
                ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None), ApiToken.expires_at > clock.now()
            )
            .order_by(ApiToken.id)
        )
    )


# --- organisations ------------------------------------------------------------------------------------


def organization_named(name: str) -> Organization:
    """The organisation with this name, created on first mention (names are unique, case-sensitive).

    A concurrent first mention of the same name is absorbed by a SAVEPOINT: the loser re-reads.
    """
    name = " ".join(name.split())
    found = db.session.scalar(select(Organization).where(Organization.name == name))
    if found is not None:
        return found
    try:
        with db.session.begin_nested():
            organization = Organization(name=name)
            db.session.add(organization)
    except IntegrityError:
        return db.session.scalars(select(Organization).where(Organization.name == name)).one()
    return organization


def count_users() -> int:
    return db.session.scalar(select(func.count()).select_from(User)) or 0


def require_verified_email(user: User) -> None:
    """Booking, applying for vouchers and accepting invitations need a verified e-mail (403)."""
    if not user.email_verified:
        raise Forbidden(
            "Verify your e-mail address first: follow the link in the mail we sent you.",
            code="email_not_verified",
        )
