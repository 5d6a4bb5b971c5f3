"""Password rules: one check for every place a password is set (API, admin form, CLI, later sign-up and
reset). Problems are returned as codes, so each surface words them in its own language; the domain
layer raises ``Invalid`` with code ``weak_password`` and English messages for the API."""

from __future__ import annotations

import unicodedata
from functools import cache
from pathlib import Path

from booking.core.errors import Invalid

MIN_LENGTH = 10
COMMON_PASSWORDS_FILE = Path(__file__).parents[1] / "data" / "common_passwords.txt"
# an e-mail's local part this short ("lm", "li") would forbid too many good passwords
MIN_LOCAL_PART = 4
# control, format (zero-width, bidi overrides) and surrogate code points: invisible or unencodable
FORBIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs"})

MESSAGES = {
    "too_short": f"use at least {MIN_LENGTH} characters",
    "one_class": (
        "mix at least two kinds of character: lower-case letters, capitals, digits, "
        "other letters (e.g. Chinese), symbols or spaces"
    ),
    "is_email": "do not use the e-mail address or its name part",
    "common": "it is one of the most common passwords",
    "control": "no control characters (line breaks, tabs, invisible characters)",
}


@cache
def common_passwords() -> frozenset[str]:
    lines = COMMON_PASSWORDS_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip().casefold() for line in lines if line.strip() and not line.startswith("#"))


def _character_class(char: str) -> str:
    category = unicodedata.category(char)
    if category == "Ll":
        return "lower"
    if category == "Lu":
        return "upper"
    if category == "Nd":
        return "digit"
    if category.startswith("L"):
        return "other letter"
    return "symbol"


def password_problems(password: str, email: str) -> list[str]:
    """What is wrong with this password for the account with this e-mail, as codes (empty: fine)."""
    problems = []
    if any(unicodedata.category(c) in FORBIDDEN_CATEGORIES for c in password):
        problems.append("control")
    if len(password) < MIN_LENGTH:
        problems.append("too_short")
    if len({_character_class(c) for c in password}) < 2:
        problems.append("one_class")
    folded = password.strip().casefold()
    address = email.strip().casefold()
    local = address.partition("@")[0]
    if folded and (folded in (address, local) or (len(local) >= MIN_LOCAL_PART and local in folded)):
        problems.append("is_email")
    if folded in common_passwords():
        problems.append("common")
    return problems


def check_password(password: str, email: str) -> None:
    """Raise 422 ``weak_password`` naming every problem of this password."""
    problems = password_problems(password, email)
    if problems:
        reasons = [MESSAGES[p] for p in problems]
        raise Invalid(
            "The password is too weak: " + "; ".join(reasons) + ".",
            code="weak_password",
            details={"password": reasons},
        )
