"""Usage intake: providers report metered GPU-hours per compute booking, in batches.

Each record is validated on its own (a bad record never sinks the batch), idempotent per provider +
external id, and inserted set-based. GPU-hours are exact decimals (up to 6 places), stored as integer
micro-GPU-hours; the cost is computed at reconciliation: the booking's micro-GPU-hours are summed as
integers, multiplied by the offer's price per GPU-hour and rounded half up to the fen once per
booking.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import select

from booking.core import clock, input_rules
from booking.core.db import MAX_ID, db, insert_ignoring_conflicts
from booking.models import Booking, ComputeOffer, Team, UsageRecord, User
from booking.models.usage import to_microhours
from vouchers.late_usage import note_after_settlement
from vouchers.models import FinanceException

MAX_BATCH = 10_000


@dataclass
class IntakeResult:
    accepted: int = 0
    duplicates: int = 0
    rejected: list[dict] = field(default_factory=list)


@dataclass(frozen=True)
class Problem:
    """Why a usage record is malformed: the field and what is wrong with it (``length``, ``unstorable``,
    ``not_id``, ``not_instant``, ``out_of_range``, ``order``, ``not_gpu_hours``, ``not_record``)."""

    field: str
    code: str


def record_problems(raw) -> list[Problem]:
    """The one rule for a usage record, as the API and the CSV upload take it: its text must be
    storable (no NUL, no lone surrogate), its booking id an integer the database holds, its instants
    carry an offset within the platform's range, its GPU-hours ASCII digits. Empty when well-formed."""
    if not isinstance(raw, dict):
        return [Problem("record", "not_record")]
    problems = []
    external_id = raw.get("external_id")
    if not isinstance(external_id, str) or not 1 <= len(external_id) <= 200:
        problems.append(Problem("external_id", "length"))
    elif not input_rules.is_storable_text(external_id):
        problems.append(Problem("external_id", "unstorable"))
    booking_id = raw.get("booking_id")
    # ids fit the database's INTEGER (PostgreSQL refuses a larger number in the comparison: a 500)
    if not isinstance(booking_id, int) or isinstance(booking_id, bool) or not 1 <= booking_id <= MAX_ID:
        problems.append(Problem("booking_id", "not_id"))
    instants = {}
    for name in ("started_at", "ended_at"):
        instant = input_rules.parse_aware(raw.get(name))
        if instant is None:
            problems.append(Problem(name, "not_instant"))
        elif not input_rules.instant_in_range(instant):
            problems.append(Problem(name, "out_of_range"))
        else:
            instants[name] = instant
    if len(instants) == 2 and instants["ended_at"] < instants["started_at"]:
        problems.append(Problem("ended_at", "order"))
    if not input_rules.is_gpu_hours(raw.get("gpu_hours")):
        problems.append(Problem("gpu_hours", "not_gpu_hours"))
    return problems


def parse_record(raw) -> dict | None:
    """A well-formed record ready to store, or None (``record_problems`` says why)."""
    if record_problems(raw):
        return None
    hours = raw["gpu_hours"]
    return {
        "external_id": raw["external_id"],
        "booking_id": raw["booking_id"],
        "started_at": input_rules.parse_instant(raw["started_at"]),
        "ended_at": input_rules.parse_instant(raw["ended_at"]),
        "gpu_hours": hours,  # as reported, for finance's view of a rejected record
        "gpu_microhours": to_microhours(Decimal(hours)),
    }


def ingest(provider_user: User, records: list) -> IntakeResult:
    result = IntakeResult()
    provider_id = provider_user.provider_id
    parsed: list[dict] = []
    seen: set[str] = set()
    for raw in records:
        record = parse_record(raw)
        if record is None:
            external_id = raw.get("external_id") if isinstance(raw, dict) else None
            result.rejected.append(
                {"external_id": external_id if isinstance(external_id, str) else None, "code": "invalid"}
            )
        elif record["external_id"] in seen:
            result.duplicates += 1
        else:
            seen.add(record["external_id"])
            parsed.append(record)
    if not parsed:
        return result

    booking_ids = {r["booking_id"] for r in parsed}
    ours: dict[int, str] = {}
    for chunk in _chunks(sorted(booking_ids), 5000):
        rows = db.session.execute(
            select(Booking.id, Team.district_code)
            .join(ComputeOffer, Booking.offer_id == ComputeOffer.id)
            .join(Team, Booking.team_id == Team.id)
            .where(Booking.id.in_(chunk), Booking.kind == "compute", ComputeOffer.provider_id == provider_id)
        )
        ours.update(dict(rows.all()))

    now = clock.now()
    valid, unknown = [], []
    for record in parsed:
        (valid if record["booking_id"] in ours else unknown).append(record)
    for record in unknown:
        result.rejected.append({"external_id": record["external_id"], "code": "unknown_booking"})
    if unknown:
        db.session.execute(
            insert_ignoring_conflicts(FinanceException).on_conflict_do_nothing(index_elements=["unique_key"]),
            [
                {
                    "kind": "unknown_booking",
                    "provider_id": provider_id,
                    "booking_id": None,
                    "district_code": None,
                    "blocking": False,
                    "status": "open",
                    "unique_key": f"unknown_booking:{provider_id}:{r['external_id']}",
                    "created_at": now,
                    "details": {
                        "external_id": r["external_id"],
                        "reported_booking_id": r["booking_id"],
                        "gpu_hours": r["gpu_hours"],
                    },
                }
                for r in unknown
            ],
        )
    if valid:
        inserted = db.session.execute(
            insert_ignoring_conflicts(UsageRecord)
            .on_conflict_do_nothing(index_elements=["provider_id", "external_id"])
            .returning(UsageRecord.external_id),
            [
                {
                    "provider_id": provider_id,
                    "external_id": r["external_id"],
                    "booking_id": r["booking_id"],
                    "started_at": r["started_at"],
                    "ended_at": r["ended_at"],
                    "gpu_microhours": r["gpu_microhours"],
                    "received_at": now,
                }
                for r in valid
            ],
        ).all()
        result.accepted = len(inserted)
        result.duplicates += len(valid) - len(inserted)
        # a booking already settled: accepted, and finance is told (never silently dropped)
        note_after_settlement(provider_id, valid, {row.external_id for row in inserted}, now)
    return result


def _chunks(items: list, size: int):
    for start in range(0, len(items), size):
        yield items[start : start + size]
