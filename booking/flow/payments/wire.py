"""What goes over the wire to a Stripe-compatible API: form-encoded parameters and the
``Stripe-Signature`` scheme of webhooks. Pure functions, no app or database."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

CURRENCY = "cny"


def encode_form(params: Mapping, prefix: str = "") -> list[tuple[str, str]]:
    """Stripe's form encoding: nested keys as ``a[b]=…``, lists as ``a[0]=…``, booleans lower-case,
    None left out."""
    pairs: list[tuple[str, str]] = []

    def add(key: str, value) -> None:
        if value is None:
            return
        if isinstance(value, Mapping):
            for k, v in value.items():
                add(f"{key}[{k}]", v)
        elif isinstance(value, list | tuple):
            for i, v in enumerate(value):
                add(f"{key}[{i}]", v)
        elif isinstance(value, bool):
            pairs.append((key, "true" if value else "false"))
        else:
            pairs.append((key, str(value)))

    for name, value in params.items():
        add(f"{prefix}[{name}]" if prefix else str(name), value)
    return pairs


def sign_payload(payload: bytes, secret: str, timestamp: int) -> str:
    """A ``Stripe-Signature`` header value for a payload (tests and tools)."""
    mac = hmac.new(secret.encode(), str(timestamp).encode() + b"." + payload, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify_signature(
    payload: bytes, header: str | None, secret: str, now: float, tolerance: int = 300
) -> bool:
    """Stripe's scheme: HMAC-SHA256 over ``t.payload``; any ``v1`` may match; ``t`` within tolerance."""
    if not header or not secret:
        return False
    timestamp, signatures = None, []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t":
            timestamp = value
        elif key == "v1":
            signatures.append(value)
    # ASCII digits of a plausible length: "²".isdigit() is true, and int() of 5,000 digits raises
    if timestamp is None or not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
        return False
    if not signatures:
        return False
    if abs(now - int(timestamp)) > tolerance:
        return False
    expected = hmac.new(secret.encode(), timestamp.encode() + b"." + payload, hashlib.sha256).hexdigest()
    matched = False
    for signature in signatures:  # compare all, constant time each
        matched |= hmac.compare_digest(expected, signature)
    return matched
