"""Booking series: the same local time every day or week, ``count`` times, in one request.

Each occurrence is booked by ``bookings.create_instrument_booking`` — every rule, its own voucher
commitment and card hold — in its own SAVEPOINT of the request's transaction. ``on_conflict``
``skip`` drops a refused occurrence and reports its code; ``fail`` refuses the whole series with the
first refused occurrence's error (``details.starts_at`` names it) and the request rolls back: nothing
is booked. Occurrences repeat the wall-clock time in the instrument's timezone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from booking.core import clock
from booking.core.db import db
from booking.core.errors import Conflict, DomainError, Forbidden, Invalid, NotFound, unknown_reference
from booking.flow import bookings, series_mail
from booking.models import Booking, BookingSeries, BookingStatus, User
from booking.models.booking_series import ON_CONFLICT, SERIES_EVERY, SERIES_MAX_COUNT, SERIES_MIN_COUNT
from booking.people.accounts import require_verified_email
from booking.people.teams import booking_team
from instruments.models import Instrument
from instruments.rules import zone

STEP = {"day": timedelta(days=1), "week": timedelta(weeks=1)}
# refusals of one occurrence that ``skip`` passes over; anything else (503, 403…) stops the series
SKIPPABLE_STATUSES = (409, 422)


@dataclass
class SeriesOutcome:
    series: BookingSeries
    bookings: list[Booking] = field(default_factory=list)
    skipped: list[dict] = field(default_factory=list)

    @property
    def id(self) -> int:
        return self.series.id


def occurrences(
    starts_at: datetime, ends_at: datetime, every: str, count: int, tz_name: str
) -> list[tuple[datetime, datetime]]:
    """The occurrences' instants: the same local wall-clock times each day or week (aware datetimes
    in a ZoneInfo add wall-clock time, so a DST change keeps 09:00 at 09:00)."""
    tz = zone(tz_name)
    first_start, first_end = starts_at.astimezone(tz), ends_at.astimezone(tz)
    step = STEP[every]
    return [
        ((first_start + step * i).astimezone(UTC), (first_end + step * i).astimezone(UTC))
        for i in range(count)
    ]


def check_repeat(every: str, count: int, on_conflict: str) -> None:
    details = {}
    if every not in SERIES_EVERY:
        details["repeat.every"] = ["One of: day, week."]
    if not isinstance(count, int) or not SERIES_MIN_COUNT <= count <= SERIES_MAX_COUNT:
        details["repeat.count"] = [f"From {SERIES_MIN_COUNT} to {SERIES_MAX_COUNT}."]
    if on_conflict not in ON_CONFLICT:
        details["on_conflict"] = ["One of: skip, fail."]
    if details:
        raise Invalid("The repetition is not valid.", details=details)


def _replay(actor: User, idempotency_key: str | None, digest: str | None) -> SeriesOutcome | None:
    if not idempotency_key:
        return None
    earlier = db.session.scalar(
        select(BookingSeries).where(
            BookingSeries.created_by_id == actor.id, BookingSeries.idempotency_key == idempotency_key
        )
    )
    if earlier is None:
        return None
    if earlier.request_digest != digest:
        raise Invalid(
            "This Idempotency-Key was used with a different request.",
            code="idempotency_key_reused",
            details={"Idempotency-Key": ["Used before with another body."]},
        )
    return SeriesOutcome(earlier, occurrences_of(earlier.id), list(earlier.skipped or []))


def create_series(
    actor: User,
    *,
    team_id: int,
    instrument_id: int,
    starts_at: datetime,
    ends_at: datetime,
    every: str,
    count: int,
    on_conflict: str,
    use_vouchers: bool = True,
    payment_method: str | None = None,
    idempotency_key: str | None = None,
    digest: str | None = None,
) -> tuple[SeriesOutcome, bool]:
    """Book a series for a team. Returns (outcome, created); created is False on a replay."""
    check_repeat(every, count, on_conflict)
    require_verified_email(actor)
    earlier = _replay(actor, idempotency_key, digest)
    if earlier is not None:
        return earlier, False
    booking_team(actor, team_id)  # refused for the whole series, never per occurrence
    instrument = db.session.get(Instrument, instrument_id)
    if instrument is None or not instrument.active:
        raise unknown_reference("instrument_id", "instrument")
    series = BookingSeries(
        team_id=team_id,
        instrument_id=instrument.id,
        created_by_id=actor.id,
        every=every,
        count=count,
        on_conflict=on_conflict,
        skipped=[],
        idempotency_key=idempotency_key,
        request_digest=digest,
    )
    try:
        with db.session.begin_nested():
            db.session.add(series)
    except IntegrityError:  # the same request, committed meanwhile by a concurrent twin
        earlier = _replay(actor, idempotency_key, digest)
        if earlier is not None:
            return earlier, False
        raise
    outcome = SeriesOutcome(series)
    tz = zone(instrument.timezone)
    for occurrence_start, occurrence_end in occurrences(
        starts_at, ends_at, every, count, instrument.timezone
    ):
        try:
            with db.session.begin_nested():
                booking, _created = bookings.create_instrument_booking(
                    actor,
                    team_id=team_id,
                    instrument_id=instrument.id,
                    starts_at=occurrence_start,
                    ends_at=occurrence_end,
                    use_vouchers=use_vouchers,
                    payment_method=payment_method,
                    notify=False,  # one mail for the whole series, below
                )
                booking.series_id = series.id
                db.session.flush()
        except DomainError as error:
            if on_conflict == "fail" or error.status not in SKIPPABLE_STATUSES:
                error.details = {**error.details, "starts_at": [occurrence_start.astimezone(tz).isoformat()]}
                raise
            outcome.skipped.append(
                {
                    "starts_at": occurrence_start.astimezone(tz).isoformat(),
                    "ends_at": occurrence_end.astimezone(tz).isoformat(),
                    "code": error.code,
                }
            )
            continue
        outcome.bookings.append(booking)
    series.skipped = list(outcome.skipped)
    db.session.flush()
    series_mail.series_booked(series, outcome.bookings, outcome.skipped)
    return outcome, True


# --- reading and cancelling ------------------------------------------------------------------------------


def occurrences_of(series_id: int) -> list[Booking]:
    return list(
        db.session.scalars(select(Booking).where(Booking.series_id == series_id).order_by(Booking.starts_at))
    )


def series_for(user: User, series_id: int) -> BookingSeries:
    """A series its team's members, the instrument's lab managers and admins see (others: 404)."""
    series = db.session.get(BookingSeries, series_id)
    if series is None:
        raise NotFound("No such booking series.")
    if user.role == "admin" or series.team.has_member(user):
        return series
    instrument = db.session.get(Instrument, series.instrument_id)
    if instrument is not None and instrument.lab.is_managed_by(user):
        return series
    raise NotFound("No such booking series.")


def outcome_of(user: User, series_id: int) -> SeriesOutcome:
    series = series_for(user, series_id)
    return SeriesOutcome(series, occurrences_of(series.id), list(series.skipped or []))


def cancellable_rest(series: BookingSeries, user: User, now: datetime) -> list[Booking]:
    """The occurrences not started yet that ``user`` may still cancel, earliest first."""
    return [b for b in occurrences_of(series.id) if now < b.starts_at and b.can_cancel(user, now)]


def cancel_preview(series: BookingSeries, user: User, now: datetime) -> tuple[int, int]:
    """(occurrences, fee in fen) that cancelling the rest of the series would cancel and charge now."""
    rest = cancellable_rest(series, user, now)
    by_team = series.team.has_member(user)
    return len(rest), sum(bookings.cancellation_fee_fen(b, now, by_team) for b in rest)


def cancel_series(actor: User, series_id: int, reason: str | None = None) -> tuple[int, int]:
    """Cancel every occurrence that has not started, each by the cancel rules (fees as a single
    cancellation would charge). Returns (cancelled, fee_fen)."""
    series = series_for(actor, series_id)
    if not series.team.has_member(actor):
        raise Forbidden("Only the team's members cancel its series.")
    cancelled: list[Booking] = []
    for occurrence in cancellable_rest(series, actor, clock.now()):
        try:
            with db.session.begin_nested():
                booking = bookings.cancel(actor, occurrence.id, reason, notify=False)
        except Conflict:  # changed meanwhile (cancelled, checked in): nothing left to cancel there
            continue
        if booking.status == BookingStatus.CANCELLED:
            cancelled.append(booking)
    fee_fen = sum(booking.fee_fen for booking in cancelled)
    series_mail.series_cancelled(series, cancelled, fee_fen)  # one mail for all of them
    return len(cancelled), fee_fen
