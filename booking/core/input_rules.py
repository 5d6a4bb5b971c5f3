"""What the platform takes as input, in one place: JSON bodies (size, depth, numbers), text (no NUL, no
lone surrogate, names on one line), instants (an offset, a UTC year the platform can compute with) and
decimal strings of ASCII digits. The API's fields and parser, the usage intake, the CSV upload and
the HTML forms all use these rules, so that bad input is refused the same way everywhere.
"""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime

DEFAULT_MAX_CONTENT_LENGTH = 2 * 1024 * 1024

# JSON: the platform's bodies nest a few levels; numbers are ids, fen, bp and small counts.
MAX_JSON_DEPTH = 32
MAX_NUMBER_CHARACTERS = 100

# Instants: UTC years 1900 to 2199, as periods. Far enough for any booking, history or horizon, and
# far from datetime's limits (year 1 and 9999), so converting to UTC and adding days never overflows.
EARLIEST_INSTANT = datetime(1900, 1, 1, tzinfo=UTC)
LATEST_INSTANT = datetime(2200, 1, 1, tzinfo=UTC)
INSTANT_RANGE_MESSAGE = "Must be an instant between 1900-01-01 and 2199-12-31 (UTC)."

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


class MalformedJson(ValueError):
    """A body that is not JSON the platform takes (the message says why)."""


# --- JSON ---------------------------------------------------------------------------------------------------


def _number(text: str, kind: type):
    if len(text) > MAX_NUMBER_CHARACTERS:
        raise MalformedJson(f"A number has more than {MAX_NUMBER_CHARACTERS} characters.")
    value = kind(text)
    if kind is float and not math.isfinite(value):
        raise MalformedJson("A number is out of range.")
    return value


def _refuse_constant(name: str):
    raise MalformedJson(f"{name} is not JSON.")


def _depth(value) -> int:
    """The nesting depth of parsed JSON (iterative: never a recursion error itself)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict | list):
            deepest = max(deepest, depth)
            if depth > MAX_JSON_DEPTH:
                return depth
            stack.extend((child, depth + 1) for child in (node.values() if isinstance(node, dict) else node))
    return deepest


def parse_json(body: bytes | str):
    """Parse a request body: UTF-8, at most ``MAX_JSON_DEPTH`` levels, numbers of at most
    ``MAX_NUMBER_CHARACTERS`` characters, no NaN or Infinity. Raises MalformedJson, never anything else."""
    try:
        text = body.decode("utf-8") if isinstance(body, bytes) else body
        value = json.loads(
            text,
            parse_int=lambda s: _number(s, int),
            parse_float=lambda s: _number(s, float),
            parse_constant=_refuse_constant,
        )
    except MalformedJson:
        raise
    except RecursionError as error:
        raise MalformedJson(f"Nested deeper than {MAX_JSON_DEPTH} levels.") from error
    except UnicodeDecodeError as error:
        raise MalformedJson("The body is not UTF-8.") from error
    except ValueError as error:  # JSONDecodeError
        raise MalformedJson(f"Not valid JSON: {error}") from error
    if _depth(value) > MAX_JSON_DEPTH:
        raise MalformedJson(f"Nested deeper than {MAX_JSON_DEPTH} levels.")
    return value


# --- text ---------------------------------------------------------------------------------------------------


def text_problem(value: str) -> str | None:
    """Why a string cannot be stored (PostgreSQL refuses NUL; a lone surrogate is not UTF-8), or None."""
    found = _UNSTORABLE.search(value)
    if found is None:
        return None
    if found.group() == "\x00":
        return "Must not contain a NUL character."
    return "Must not contain a lone surrogate (not Unicode text)."


def is_storable_text(value) -> bool:
    return isinstance(value, str) and _UNSTORABLE.search(value) is None


def one_line(value):
    """A name on one line: whitespace runs (CR, LF, tabs) become one space, ends trimmed. Mail
    subjects and headers carry names; a line break in one makes the mail unsendable."""
    return " ".join(value.split()) if isinstance(value, str) else value


# --- instants -----------------------------------------------------------------------------------------------


def instant_in_range(value: datetime) -> bool:
    """An aware instant the platform can convert to UTC and compute with."""
    try:
        return EARLIEST_INSTANT <= value.astimezone(UTC) < LATEST_INSTANT
    except OverflowError:
        return False


def parse_aware(text) -> datetime | None:
    """An ISO 8601 date and time with its UTC offset (any year); None otherwise."""
    # fromisoformat stops at a NUL (C string) and would take "...+08:00\x00junk"
    if not isinstance(text, str) or not text.isascii() or "\x00" in text:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return None
    return value if value.tzinfo is not None else None


def parse_instant(text) -> datetime | None:
    """An ISO 8601 instant with its UTC offset, within range; None otherwise."""
    value = parse_aware(text)
    return value if value is not None and instant_in_range(value) else None


# --- decimals -----------------------------------------------------------------------------------------------

# ASCII digits only (``\d`` would take "١٢" and "１２") and nothing after them (``$`` would take "1\n").
GPU_HOURS_RE = re.compile(r"[0-9]{1,12}(?:\.[0-9]{1,6})?")


def is_gpu_hours(text) -> bool:
    """A decimal string of GPU-hours: up to 12 digits, up to 6 decimals, a dot, nothing else."""
    return isinstance(text, str) and GPU_HOURS_RE.fullmatch(text) is not None
