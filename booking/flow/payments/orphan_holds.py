"""Card holds that no booking keeps are released: a slow payments API never leaves an orphaned hold.

A booking places its hold (``booking.flow.payments.holds``) inside the request's transaction. When that
unit of work then fails — the create timed out after reaching the server, a later error such as
``slot_taken`` or a database timeout, a declined confirmation — the transaction is rolled back but
the hold would stay on the card for days. So:

- now: the request boundary (``booking.core.app.PlatformFlask``) calls ``release_unkept`` after a
  rollback; every hold this unit of work created or adopted is cancelled unless a committed booking
  refers to it (one attempt per call: the response is already an error and should not wait long);
- later: when the payments API (or the database) is down at that moment, the ``capture_payments``
  job's ``release_orphans`` finds such holds by their metadata (``payment_key`` ``hold-…``), older
  than ``PAYMENTS_ORPHAN_GRACE_SECONDS`` (so never one of a request still in flight), that no
  booking refers to, and cancels them. The same sweep catches holds of a crashed worker.

A retry of the same request (same ``Idempotency-Key``) reuses a hold still in place or, once it is
cancelled, places a new one under a fresh key: the card is never held twice for one booking.
"""

from __future__ import annotations

import logging
import time
from contextvars import ContextVar

from flask import current_app
from sqlalchemy import or_, select

from booking.core.db import among, db
from booking.core.errors import DomainError
from booking.flow.payments.client import client
from booking.models import BookingPayment

log = logging.getLogger(__name__)


# holds still open on the card: these can be cancelled
CANCELABLE = frozenset({"requires_capture", "requires_action", "requires_confirmation"})

# (payment key, intent id or None when the create's answer was lost) per unit of work
_unit_holds: ContextVar[list[tuple[str, str | None]] | None] = ContextVar("unit_holds", default=None)


def begin_unit():
    return _unit_holds.set([])


def end_unit(token, *, failed: bool) -> None:
    """Close the unit of work's record of holds; after a failure (rolled back) release them."""
    try:
        if failed:
            release_unkept()
    finally:
        _unit_holds.reset(token)


def track(payment_key: str, intent_id: str | None = None) -> None:
    """Note a hold this unit of work is about to create (``intent_id`` None) or now relies on."""
    holds = _unit_holds.get()
    if holds is not None:
        holds.append((payment_key, intent_id))


def is_hold_key(payment_key: object) -> bool:
    """A booking's hold (``hold-…``, maybe with a retry's suffix), not a capture/extra/refund key."""
    return isinstance(payment_key, str) and payment_key.startswith("hold-") and ":" not in payment_key


def _kept(intent_ids: list[str]) -> set[str]:
    """The intents a committed booking refers to (never to be cancelled here)."""
    if not intent_ids:
        return set()
    rows = db.session.execute(
        select(BookingPayment.hold_intent_id, BookingPayment.extra_intent_id).where(
            or_(
                among(BookingPayment.hold_intent_id, intent_ids),
                among(BookingPayment.extra_intent_id, intent_ids),
            )
        )
    )
    return {intent_id for row in rows for intent_id in row if intent_id}


def release_unkept() -> int:
    """Cancel the holds of a unit of work that was rolled back. Best effort: whatever fails here
    (the API or the database down) is left to ``release_orphans``; never raises."""
    holds = _unit_holds.get() or []
    if not holds or (api := client()) is None:
        return 0
    api = api.single_attempt()
    released = 0
    try:
        known: dict[str, str | None] = {}  # payment key → intent id, if the create answered
        for key, intent_id in holds:
            known[key] = intent_id or known.get(key)
        intents: dict[str, dict] = {}
        for key, intent_id in known.items():
            intent = api.intent(intent_id) if intent_id else api.find_intent(key)
            if intent is not None and intent.get("status") in CANCELABLE:
                intents[intent["id"]] = intent
        kept = _kept(list(intents))
        db.session.rollback()  # end that read before calling the API
        for intent_id, intent in intents.items():
            if intent_id not in kept:
                api.cancel(intent_id, key=f"{intent['metadata']['payment_key']}:cancel")
                released += 1
    except Exception as error:  # best effort: never replace the request's own error
        log.warning("card hold not released now, the capture_payments job will: %s", error)
    finally:
        holds.clear()
    return released


def release_orphans() -> int:
    """Job (within ``capture_payments``): cancel holds no booking refers to, older than the grace
    period, among the ``PAYMENTS_ORPHAN_SCAN_PAGES`` × 100 most recent intents."""
    api = client()
    if api is None:
        return 0
    config = current_app.config
    # the payments server stamps ``created`` with its own (real) clock, not the app's
    cutoff = time.time() - config.get("PAYMENTS_ORPHAN_GRACE_SECONDS", 600)
    try:
        candidates = {
            intent["id"]: intent
            for intent in api.intents(pages=config.get("PAYMENTS_ORPHAN_SCAN_PAGES", 5))
            if intent.get("status") in CANCELABLE
            and is_hold_key((intent.get("metadata") or {}).get("payment_key"))
            and isinstance(intent.get("created"), int)
            and intent["created"] <= cutoff
        }
    except (DomainError, ValueError, KeyError) as error:
        log.warning("orphaned card holds not checked: %s", error)
        return 0
    kept = _kept(list(candidates))
    db.session.commit()  # no transaction held while the API is called
    released = 0
    for intent_id, intent in candidates.items():
        if intent_id in kept:
            continue
        try:
            api.cancel(intent_id, key=f"{intent['metadata']['payment_key']}:cancel")
            released += 1
            log.info("released orphaned card hold %s", intent_id)
        except (DomainError, ValueError, KeyError) as error:
            log.warning("orphaned card hold %s not released: %s", intent_id, error)
    return released
