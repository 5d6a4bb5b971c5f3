"""The HTTP client of the Stripe-compatible payments API (real Stripe or localstripe).

Every POST carries an ``Idempotency-Key``; since a Stripe-compatible server may ignore those
(localstripe does), an attempt that may have reached the server is reconciled before it is repeated:
intents are found again by ``metadata[payment_key]`` and captures/cancels read the intent's state first.

With no ``PAYMENTS_API_BASE`` configured ``client()`` is None and no payment code calls out.
"""

from __future__ import annotations

import copy
import random
import time
import uuid
from collections.abc import Iterator, Mapping

import requests
from flask import current_app
from requests.adapters import HTTPAdapter

from booking.core.errors import DomainError, Invalid, ServiceUnavailable
from booking.flow.payments.wire import encode_form

RETRY_STATUSES = frozenset({409, 429}) | frozenset(range(500, 600))


class PaymentsUnavailable(ServiceUnavailable):
    """The payments API could not be reached or kept failing (503 ``payments_unavailable``)."""


class PaymentDeclined(Invalid):
    code = "payment_declined"


class PaymentsRejected(DomainError):
    """The payments API refused a request for a reason that is not the card's (a bug or a bad state)."""

    status = 502
    code = "payments_error"


class PaymentsClient:
    """A pooled ``requests`` session with timeouts, retries (capped exponential backoff with jitter on
    network errors, 409, 429 and 5xx; ``Stripe-Should-Retry`` obeyed) and Stripe errors mapped."""

    def __init__(self, base: str, key: str, *, timeout=(3.05, 10.0), retries=3, backoff=0.5, backoff_cap=8.0):
        self.base = base.rstrip("/")
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.backoff_cap = backoff_cap
        self.session = requests.Session()
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=16, max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.headers.update({"Authorization": f"Bearer {key}", "User-Agent": "suanli-booking/1"})

    def _sleep(self, attempt: int) -> None:
        delay = min(self.backoff_cap, self.backoff * (2**attempt))
        time.sleep(delay * random.uniform(0.5, 1.0))

    def _once(self, method: str, path: str, params: Mapping | None, key: str | None) -> requests.Response:
        headers = {"Idempotency-Key": key} if method == "POST" and key else {}
        if method == "POST":
            return self.session.post(
                self.base + path, data=encode_form(params or {}), headers=headers, timeout=self.timeout
            )
        return self.session.get(self.base + path, params=encode_form(params or {}), timeout=self.timeout)

    def single_attempt(self) -> PaymentsClient:
        """This client (same pool) without retries: for clean-up after a request already failed."""
        quick = copy.copy(self)
        quick.retries = 0
        return quick

    def call(
        self, method: str, path: str, params: Mapping | None = None, *, key: str | None = None, reconcile=None
    ):
        """One API call with retries. ``reconcile()`` runs before a repeat of a POST whose earlier attempt
        may have reached the server; a non-None result is taken as that attempt's outcome."""
        if method == "POST" and key is None:
            key = uuid.uuid4().hex
        last: Exception | None = None
        for attempt in range(self.retries + 1):
            if attempt:
                self._sleep(attempt - 1)
                if reconcile is not None:
                    found = reconcile()
                    if found is not None:
                        return found
            try:
                response = self._once(method, path, params, key)
            except requests.ConnectionError as error:  # includes connect timeouts and refused
                last = error
                continue
            except requests.Timeout as error:  # read timeout: the request may have been processed
                last = error
                continue
            should_retry = response.headers.get("Stripe-Should-Retry")
            if response.status_code < 400:
                return response.json()
            if should_retry == "false" or (
                should_retry != "true" and response.status_code not in RETRY_STATUSES
            ):
                raise _mapped_error(response)
            last = _mapped_error(response)
        raise PaymentsUnavailable(
            "The payments service is unavailable; please try again shortly.",
            details={"payments": [str(last)[:200]]},
        )

    # --- PaymentIntents ---

    def intents(self, pages: int = 1) -> Iterator[dict]:
        """Recent intents, 100 a page (Stripe lists the newest first)."""
        after = None
        for _ in range(pages):
            listing = self.call("GET", "/v1/payment_intents", {"limit": 100, "starting_after": after})
            data = listing.get("data", [])
            yield from data
            if not listing.get("has_more") or not data:
                return
            after = data[-1]["id"]

    def find_intent(self, payment_key: str) -> dict | None:
        """The intent created with this key (by metadata), if any: recent intents are listed."""
        for intent in self.intents():
            if (intent.get("metadata") or {}).get("payment_key") == payment_key:
                return intent
        return None

    def find_holds(self, payment_key: str) -> list[dict]:
        """Intents created with this key or a retry's fresh key derived from it (``key-…``)."""
        family = []
        for intent in self.intents():
            key = (intent.get("metadata") or {}).get("payment_key") or ""
            if key == payment_key or key.startswith(payment_key + "-"):
                family.append(intent)
        return family

    def create_intent(self, payment_key: str, params: dict, *, lookup_first: bool = False) -> dict:
        """Create (or, for a key used before, find) the intent for ``payment_key``."""
        if lookup_first:
            earlier = self.find_intent(payment_key)
            if earlier is not None:
                return earlier
        params = {**params, "metadata": {**params.get("metadata", {}), "payment_key": payment_key}}
        return self.call(
            "POST",
            "/v1/payment_intents",
            params,
            key=payment_key,
            reconcile=lambda: self.find_intent(payment_key),
        )

    def intent(self, intent_id: str) -> dict:
        return self.call("GET", f"/v1/payment_intents/{intent_id}")

    def capture(self, intent_id: str, amount_fen: int, key: str) -> dict:
        return self.call(
            "POST",
            f"/v1/payment_intents/{intent_id}/capture",
            {"amount_to_capture": amount_fen},
            key=key,
            reconcile=lambda: _settled_or_none(self.intent(intent_id)),
        )

    def cancel(self, intent_id: str, key: str) -> dict:
        return self.call(
            "POST",
            f"/v1/payment_intents/{intent_id}/cancel",
            key=key,
            reconcile=lambda: _settled_or_none(self.intent(intent_id)),
        )

    def refund(self, intent_id: str, amount_fen: int, key: str) -> dict:
        def earlier():
            listing = self.call("GET", "/v1/refunds", {"payment_intent": intent_id, "limit": 100})
            for refund in listing.get("data", []):
                if (refund.get("metadata") or {}).get("refund_key") == key:
                    return refund
            return None

        params = {"payment_intent": intent_id, "amount": amount_fen, "metadata": {"refund_key": key}}
        return self.call("POST", "/v1/refunds", params, key=key, reconcile=earlier)


def _settled_or_none(intent: dict) -> dict | None:
    return intent if intent.get("status") in ("succeeded", "canceled") else None


def _mapped_error(response: requests.Response) -> DomainError:
    try:
        error = response.json().get("error") or {}
    except ValueError:
        error = {}
    message = error.get("message") or f"HTTP {response.status_code}"
    if error.get("type") == "card_error" or response.status_code == 402:
        return PaymentDeclined(
            "The card was declined.",
            details={"payment_method": [error.get("decline_code") or error.get("code") or message]},
        )
    if response.status_code in RETRY_STATUSES:
        return PaymentsUnavailable(f"The payments service answered {response.status_code}: {message}")
    if error.get("param") == "payment_method" or (
        response.status_code == 404 and "payment_method" in message
    ):
        return Invalid("Unknown payment method.", details={"payment_method": [message]})
    return PaymentsRejected(f"The payments service refused the request: {message}")


def client() -> PaymentsClient | None:
    """The app's client, or None when no payments API is configured (the embedded default)."""
    config = current_app.config
    base = config.get("PAYMENTS_API_BASE")
    if not base:
        return None
    cache = current_app.extensions.setdefault("payments", {})
    identity = (base, config.get("PAYMENTS_API_KEY"))
    if identity not in cache:
        cache.clear()
        cache[identity] = PaymentsClient(
            base,
            config.get("PAYMENTS_API_KEY") or "",
            timeout=config.get("PAYMENTS_TIMEOUT_SECONDS", (3.05, 10.0)),
            retries=config.get("PAYMENTS_MAX_RETRIES", 3),
            backoff=config.get("PAYMENTS_BACKOFF_SECONDS", 0.5),
            backoff_cap=config.get("PAYMENTS_BACKOFF_CAP_SECONDS", 8.0),
        )
    return cache[identity]
