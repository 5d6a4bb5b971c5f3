"""Labs and their managers."""

from __future__ import annotations

from sqlalchemy import Select, select

from booking.core.db import db
from booking.core.errors import Invalid, NotFound, unknown_reference
from booking.models import District, User
from booking.people.accounts import organization_named, require_user_reference
from instruments.models import Lab, LabManager


def create_lab(*, name: str, university: str, district_code: str, organization: str) -> Lab:
    if db.session.get(District, district_code) is None:
        raise unknown_reference("district_code", "district code")
    lab = Lab(
        name=name.strip(),
        university=organization_named(university),
        organization=organization_named(organization),
        district_code=district_code,
    )
    db.session.add(lab)
    db.session.flush()
    return lab


def visible_labs(user: User) -> Select[tuple[Lab]]:
    """Labs are public catalogue entries (their instruments are what people search)."""
    return select(Lab)


def lab_for(user: User, lab_id: int) -> Lab:
    lab = db.session.scalar(visible_labs(user).where(Lab.id == lab_id))
    if lab is None:
        raise NotFound("No such lab.")
    return lab


def require_lab_reference(lab_id: int, field: str = "lab_id") -> Lab:
    lab = db.session.get(Lab, lab_id)
    if lab is None:
        raise unknown_reference(field, "lab")
    return lab


def add_lab_manager(lab: Lab, user_id: int) -> Lab:
    """Make a lab_manager user a manager of this lab; idempotent."""
    user = require_user_reference(user_id)
    if user.role != "lab_manager":
        raise Invalid(
            "Only lab managers can manage a lab.",
            code="not_a_lab_manager",
            details={"user_id": ["This user is not a lab manager."]},
        )
    if not lab.is_managed_by(user):
        lab.managers.append(LabManager(user_id=user.id))
        db.session.flush()
    return lab


def labs_managed_by(user: User) -> list[Lab]:
    return list(
        db.session.scalars(select(Lab).join(LabManager).where(LabManager.user_id == user.id).order_by(Lab.id))
    )
