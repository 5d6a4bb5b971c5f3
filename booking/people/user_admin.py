"""Administering users (admins only): edit a user's name, role and what the role belongs to, deactivate
and reactivate. Shared by ``PATCH /api/v1/users/{id}`` and the admin pages; plain functions that only flush.

The user table's rules hold after every change: a district only for finance (none = municipal finance),
a compute provider for provider users and only for them, managed labs only for lab managers (``lab_id``
makes the user a manager of that lab, like ``POST /api/v1/users``; leaving the role lab_manager ends the
user's lab memberships). Changing the role keeps what still fits and drops what no longer does.

Deactivation keeps everything the user owns (teams, bookings, labs) but signs it out everywhere: its API
tokens are revoked (they stay dead after a reactivation), its browser sessions end, and sign-in answers
401 ``account_disabled`` from then on. An admin cannot deactivate itself, and the last active admin
cannot be demoted or deactivated. Every change is one entry in the audit trail (before and after).
"""

from __future__ import annotations

from sqlalchemy import delete, select, update

from booking.core import clock
from booking.core.db import db
from booking.core.errors import Invalid, unknown_reference
from booking.models import ROLES, ApiToken, District, Provider, User
from booking.people import audit, password_reset
from booking.people.accounts import get_user
from booking.people.browser_sessions import end_browser_sessions
from instruments.models import Lab, LabManager

CHANGEABLE = frozenset({"active", "name", "role", "district_code", "lab_id", "provider_id"})


def _lab_ids(user: User) -> list[int]:
    return list(
        db.session.scalars(
            select(LabManager.lab_id).where(LabManager.user_id == user.id).order_by(LabManager.lab_id)
        )
    )


def snapshot(user: User) -> dict:
    """What the audit trail records of a user, before and after a change."""
    return {
        "name": user.name,
        "role": user.role,
        "district_code": user.district_code,
        "provider_id": user.provider_id,
        "lab_ids": _lab_ids(user),
        "active": user.is_active,
    }


def _other_active_admins(user: User) -> int:
    # FOR UPDATE: two admins demoting each other at once cannot both pass (PostgreSQL; SQLite writers queue)
    others = db.session.scalars(
        select(User.id)
        .where(User.role == "admin", User.is_active.is_(True), User.id != user.id)
        .with_for_update()
    ).all()
    return len(others)


def _refuse_losing_the_last_admin(user: User, role: str, active: bool) -> None:
    if user.role != "admin" or not user.is_active or (role == "admin" and active):
        return
    if _other_active_admins(user) == 0:
        field = "role" if role != "admin" else "active"
        raise Invalid(
            "This is the last active administrator: make another user an administrator first.",
            code="last_admin",
            details={field: ["The last active administrator must stay an active administrator."]},
        )


def _district_for(user: User, role: str, changes: dict) -> str | None:
    if "district_code" not in changes:
        return user.district_code if role == "finance" else None
    code = changes["district_code"]
    if code is None:
        return None
    if role != "finance":
        raise Invalid(
            "Only finance officers belong to a district.",
            details={"district_code": ["Only for role finance."]},
        )
    if db.session.get(District, code) is None:
        raise unknown_reference("district_code", "district code")
    return code


def _provider_for(user: User, role: str, changes: dict) -> int | None:
    provider_id = changes.get("provider_id", user.provider_id if role == "provider" else None)
    if provider_id is not None and role != "provider":
        raise Invalid(
            "Only provider users belong to a provider.", details={"provider_id": ["Only for role provider."]}
        )
    if role == "provider":
        if provider_id is None:
            raise Invalid("Provider users need a provider.", details={"provider_id": ["Required."]})
        if db.session.get(Provider, provider_id) is None:
            raise unknown_reference("provider_id", "provider")
    return provider_id


def _lab_for(role: str, changes: dict) -> Lab | None:
    lab_id = changes.get("lab_id")
    if lab_id is None:
        return None
    if role != "lab_manager":
        raise Invalid(
            "Only lab managers can manage a lab.",
            code="not_a_lab_manager",
            details={"lab_id": ["Only for role lab_manager."]},
        )
    lab = db.session.get(Lab, lab_id)
    if lab is None:
        raise unknown_reference("lab_id", "lab")
    return lab


def _deactivate(user: User) -> None:
    user.is_active = False
    db.session.execute(
        update(ApiToken)
        .where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=clock.now())
        .execution_options(synchronize_session=False)
    )
    end_browser_sessions(user)


def update_user(admin: User, user_id: int, **changes) -> User:
    """Change any of ``active, name, role, district_code, lab_id, provider_id`` (unknown user: 404).

    Every rule is checked before anything changes, so a refusal (422) changes nothing.
    """
    unexpected = set(changes) - CHANGEABLE
    if unexpected:
        raise TypeError(f"update_user() cannot change {', '.join(sorted(unexpected))}")
    user = get_user(user_id)
    role = changes.get("role") or user.role
    if role not in ROLES:
        raise Invalid("Unknown role.", details={"role": [f"One of {', '.join(ROLES)}."]})
    active = user.is_active if changes.get("active") is None else bool(changes["active"])
    if not active and user.is_active and user.id == admin.id:
        raise Invalid(
            "You cannot deactivate your own account.",
            code="cannot_deactivate_self",
            details={"active": ["An administrator cannot deactivate itself."]},
        )
    name = changes.get("name") or user.name
    district_code = _district_for(user, role, changes)
    provider_id = _provider_for(user, role, changes)
    lab = _lab_for(role, changes)
    _refuse_losing_the_last_admin(user, role, active)

    before = snapshot(user)
    user.name = name
    user.role = role
    user.district_code = district_code
    user.provider_id = provider_id
    if role != "lab_manager":
        db.session.execute(delete(LabManager).where(LabManager.user_id == user.id))
    elif lab is not None and not lab.is_managed_by(user):
        lab.managers.append(LabManager(user_id=user.id))
    if user.is_active and not active:
        _deactivate(user)
    elif active and not user.is_active:
        user.is_active = (
            True  # its revoked tokens stay revoked and its sessions stay ended: it signs in again
        )
    db.session.flush()
    db.session.expire(user)
    after = snapshot(user)
    if after != before:
        action = "update_user"
        if before["active"] != after["active"]:
            action = "deactivate_user" if before["active"] else "reactivate_user"
        audit.record(admin, action, user, before=before, after=after)
    return user


def deactivate(admin: User, user_id: int) -> User:
    return update_user(admin, user_id, active=False)


def reactivate(admin: User, user_id: int) -> User:
    return update_user(admin, user_id, active=True)


def send_password_reset(admin: User, user_id: int) -> User:
    """Mail the user a fresh password reset link (older links stop working), e.g. for someone who
    cannot receive the one they asked for; a deactivated account gets none (422)."""
    user = get_user(user_id)
    if not user.is_active:
        raise Invalid(
            "A deactivated account cannot reset its password; reactivate it first.", code="account_disabled"
        )
    password_reset.send_reset_link(user)
    audit.record(admin, "send_password_reset", user, after={"email": user.email})
    return user
