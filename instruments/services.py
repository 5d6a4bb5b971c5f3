"""Lab testing services (送样检测): the catalogue of what labs test per sample, kept by their managers.

The operations here are shared by the JSON API (``booking.api.services``) and the pages
(``booking.web.lab_services``, ``booking.web.services``). The form a service asks of each order about
its samples (``sample_fields``) is judged in one place, ``sample_field_problems``; one sample's answers
to that form are judged by ``answer_problems`` (for the service orders to come).
"""

from __future__ import annotations

import math
import re
from typing import Any

from sqlalchemy import Select, or_, select

from booking.core.db import db
from booking.core.errors import Forbidden, Invalid, NotFound
from booking.core.input_rules import text_problem
from booking.models import User
from instruments.models import Lab, LabManager, Service

FIELD_TYPES = ("text", "number", "choice")
MAX_SAMPLE_FIELDS = 30
MAX_KEY_LENGTH = 40
MAX_LABEL_LENGTH = 100
MAX_CHOICE_LENGTH = 100
MAX_CHOICES = 50
MAX_TEXT_ANSWER = 1000
KEY_PATTERN = re.compile(r"[a-z][a-z0-9_]*\Z")
_NUMBER = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?\Z")

# the writable fields of a service (the API's body and the lab's form both name these)
SERVICE_FIELDS = (
    "name",
    "category",
    "description",
    "price_per_sample_fen",
    "turnaround_days",
    "max_samples",
    "sample_fields",
    "active",
)


# --- the sample form ---------------------------------------------------------------------------------------


def _text_problem(value: Any, max_length: int) -> str | None:
    if not isinstance(value, str):
        return "Must be text."
    if problem := text_problem(value):
        return problem
    if not value.strip():
        return "Must not be blank."
    if len(value.strip()) > max_length:
        return f"At most {max_length} characters."
    return None


def _field_problems(index: int, field: Any, seen_keys: set[str]) -> dict[str, list[str]]:
    path = f"sample_fields.{index}"
    if not isinstance(field, dict):
        return {path: ["Must be an object {key, label, type, required, choices?}."]}
    problems: dict[str, list[str]] = {}
    unknown = sorted(
        str(name) for name in field if name not in ("key", "label", "type", "required", "choices")
    )
    if unknown:
        problems[path] = [f"Unknown field: {name}." for name in unknown]
    key = field.get("key")
    if not isinstance(key, str) or text_problem(key):
        problems[f"{path}.key"] = ["Must be text."]
    elif not KEY_PATTERN.match(key) or len(key) > MAX_KEY_LENGTH:
        problems[f"{path}.key"] = [
            f"A snake_case identifier (a-z, 0-9, _; starting with a letter), at most {MAX_KEY_LENGTH} characters."
        ]
    elif key in seen_keys:
        problems[f"{path}.key"] = ["Each key once."]
    else:
        seen_keys.add(key)
    if problem := _text_problem(field.get("label"), MAX_LABEL_LENGTH):
        problems[f"{path}.label"] = [problem]
    kind = field.get("type")
    if kind not in FIELD_TYPES:
        problems[f"{path}.type"] = ["One of text, number, choice."]
    if not isinstance(field.get("required"), bool):
        problems[f"{path}.required"] = ["Must be true or false."]
    choices = field.get("choices")
    if kind == "choice":
        problems.update(_choices_problems(f"{path}.choices", choices))
    elif "choices" in field and choices is not None:
        problems[f"{path}.choices"] = ["Only a choice field has choices."]
    return problems


def _choices_problems(path: str, choices: Any) -> dict[str, list[str]]:
    if not isinstance(choices, list) or not choices:
        return {path: ["A non-empty list of choices."]}
    if len(choices) > MAX_CHOICES:
        return {path: [f"At most {MAX_CHOICES} choices."]}
    for choice in choices:
        if problem := _text_problem(choice, MAX_CHOICE_LENGTH):
            return {path: [f"Each choice: {problem}"]}
    if len({c.strip() for c in choices}) != len(choices):
        return {path: ["Each choice once."]}
    return {}


def sample_field_problems(fields: Any) -> dict[str, list[str]]:
    """What is wrong with a service's sample form, by path (``sample_fields.2.choices``); empty when fine."""
    if not isinstance(fields, list):
        return {"sample_fields": ["Must be a list of fields."]}
    if len(fields) > MAX_SAMPLE_FIELDS:
        return {"sample_fields": [f"At most {MAX_SAMPLE_FIELDS} fields."]}
    problems: dict[str, list[str]] = {}
    seen_keys: set[str] = set()
    for index, field in enumerate(fields):
        problems.update(_field_problems(index, field, seen_keys))
    return problems


def clean_sample_fields(fields: Any) -> list[dict]:
    """The sample form as stored (labels and choices trimmed, ``choices`` only on choice fields), or 422
    ``invalid`` naming every problem's path."""
    if problems := sample_field_problems(fields):
        raise Invalid("The sample form is not valid: " + ", ".join(sorted(problems)) + ".", details=problems)
    cleaned = []
    for field in fields:
        entry = {
            "key": field["key"],
            "label": field["label"].strip(),
            "type": field["type"],
            "required": field["required"],
        }
        if field["type"] == "choice":
            entry["choices"] = [c.strip() for c in field["choices"]]
        cleaned.append(entry)
    return cleaned


def _number_problem(value: Any) -> str | None:
    if isinstance(value, bool):
        return "Must be a number."
    if isinstance(value, int):
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else "Must be a number."
    if isinstance(value, str) and len(value) <= 100 and _NUMBER.match(value.strip()):
        return None
    return "Must be a number."


def _is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def answer_problems(sample_fields: list[dict], answers: Any) -> dict[str, list[str]]:
    """What is wrong with one sample's answers to a service's sample form, by key; empty when fine.

    A required field must be answered; a number field takes a number (or its decimal text), a choice
    field one of its choices, a text field text of at most 1000 characters; keys the form does not
    have are refused. Pure: no database."""
    if not isinstance(answers, dict):
        return {"answers": ["Must be an object of answers by key."]}
    problems: dict[str, list[str]] = {}
    by_key = {field["key"]: field for field in sample_fields}
    for key in answers:
        if key not in by_key:
            problems[str(key)] = ["Not a field of this service's sample form."]
    for key, field in by_key.items():
        value = answers.get(key)
        if _is_blank(value):
            if field["required"]:
                problems[key] = ["Required."]
            continue
        if field["type"] == "number":
            problem = _number_problem(value)
        elif field["type"] == "choice":
            problem = (
                None if isinstance(value, str) and value in field["choices"] else "Not one of the choices."
            )
        elif not isinstance(value, str):
            problem = "Must be text."
        else:
            problem = text_problem(value) or (
                f"At most {MAX_TEXT_ANSWER} characters." if len(value) > MAX_TEXT_ANSWER else None
            )
        if problem:
            problems[key] = [problem]
    return problems


# --- who sees and keeps which service ------------------------------------------------------------------


def manages_lab(user: User, lab: Lab) -> bool:
    return user.role == "admin" or lab.is_managed_by(user)


def service_for(user: User, service_id: int) -> Service:
    """A service anyone signed in may see: active ones, and inactive ones to their lab's managers."""
    service = db.session.get(Service, service_id)
    if service is None or (not service.active and not manages_lab(user, service.lab)):
        raise NotFound("No such service.")
    return service


def managed_service_for(user: User, service_id: int) -> Service:
    """A service of a lab the user manages; another lab's manager gets 404, other roles 403."""
    service = service_for(user, service_id)
    if manages_lab(user, service.lab):
        return service
    if user.role == "lab_manager":
        raise NotFound("No such service.")
    raise Forbidden("Only the lab's managers may do this.")


def found_services(user: User, filters: dict) -> Select[tuple[Service]]:
    """The service catalogue: active services, plus the inactive ones of labs the user manages.

    ``q`` (trimmed; blank is any) is a case-insensitive substring of the name, category or
    description; ``category`` is exact; ``district_code`` is the lab's district; ``lab_id`` one lab."""
    query = select(Service).join(Lab, Lab.id == Service.lab_id)
    if user.role != "admin":
        managed = select(LabManager.lab_id).where(LabManager.user_id == user.id)
        query = query.where(or_(Service.active.is_(True), Service.lab_id.in_(managed)))
    if q := (filters.get("q") or "").strip():
        query = query.where(
            or_(
                *(
                    column.icontains(q, autoescape=True)
                    for column in (Service.name, Service.category, Service.description)
                )
            )
        )
    if filters.get("category"):
        query = query.where(Service.category == filters["category"])
    if filters.get("district_code"):
        query = query.where(Lab.district_code == filters["district_code"])
    if filters.get("lab_id"):
        query = query.where(Service.lab_id == filters["lab_id"])
    return query


def active_categories() -> list[str]:
    return list(
        db.session.scalars(
            select(Service.category).where(Service.active.is_(True)).distinct().order_by(Service.category)
        )
    )


# --- keeping the catalogue ------------------------------------------------------------------------------


def _cleaned(fields: dict) -> dict:
    unknown = set(fields) - set(SERVICE_FIELDS)
    if unknown:
        raise TypeError(f"Not service fields: {sorted(unknown)}")
    if "sample_fields" in fields:
        fields = {**fields, "sample_fields": clean_sample_fields(fields["sample_fields"])}
    return fields


def create_service(lab: Lab, **fields) -> Service:
    """Publish a service of this lab (the caller checked that the actor manages it)."""
    fields = _cleaned({"description": "", "sample_fields": [], **fields})
    fields.pop("active", None)  # a new service is published; withdraw it with an update
    service = Service(lab_id=lab.id, lab=lab, active=True, **fields)
    db.session.add(service)
    db.session.flush()
    return service


def update_service(service: Service, **fields) -> Service:
    """Change any of a service's fields, ``active: false`` withdrawing it from the catalogue.

    Orders (to come) copy the price and answers they were placed with, so changes never reach them."""
    for name, value in _cleaned(fields).items():
        setattr(service, name, value)
    db.session.flush()
    return service
