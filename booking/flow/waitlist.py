"""The waitlist: a team asks to hear when a taken range of an instrument frees up.

``time_freed`` is called wherever held time is given back (cancel, reject, no-show, a closure's or a
blackout's cancellations, a reschedule, a closure or blackout removed): every waiting entry of that instrument that overlaps the freed
range and whose *whole* range is now bookable (nobody holds any of it, no blackout or closure, inside
the opening hours, on the grid, within the lead time and horizon — the rules of ``instruments.rules``,
without the team-specific ones) is mailed, oldest first, and becomes ``notified``. It books nothing:
the mail links to the booking form, filled in. Mails go through the outbox; everything only flushes.
"""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlsplit

from flask import current_app, has_request_context, url_for
from sqlalchemy import Select, select

from booking.core import clock
from booking.core.db import db
from booking.core.errors import Conflict, NotFound
from booking.models import HOLDING_STATUSES, Booking, OutboxMessage, Team, TeamMember, User
from booking.people.accounts import require_verified_email
from booking.people.teams import require_verified, team_for
from instruments.catalogue import blackouts_of, instrument_for
from instruments.models import Instrument, WaitlistEntry
from instruments.rules import Policy, time_problems, zone

SUBJECT_MAX = 300


def _member_team(actor: User, team_id: int) -> Team:
    """One of the caller's own teams; any other team is 404 (admins and lab managers included)."""
    team = team_for(actor, team_id)
    if not team.has_member(actor):
        raise NotFound("No such team.")
    return team


def join(
    actor: User, instrument_id: int, *, team_id: int, starts_at: datetime, ends_at: datetime
) -> WaitlistEntry:
    """Put a team on the waitlist for [starts_at, ends_at) of an instrument. The range must be one the
    team could book by the time rules (same codes as a booking: ``off_grid``, ``too_long``...)."""
    instrument = instrument_for(actor, instrument_id)
    team = require_verified(_member_team(actor, team_id))
    require_verified_email(actor)
    for problem in time_problems(Policy.of(instrument), starts_at, ends_at, clock.now(), []):
        raise problem
    same = db.session.scalar(
        select(WaitlistEntry).where(
            WaitlistEntry.instrument_id == instrument.id,
            WaitlistEntry.team_id == team.id,
            WaitlistEntry.status == "waiting",
            WaitlistEntry.starts_at == starts_at,
            WaitlistEntry.ends_at == ends_at,
        )
    )
    if same is not None:
        raise Conflict(
            "The team already waits for this time.",
            code="already_waiting",
            details={"starts_at": ["Already on the waitlist."]},
        )
    entry = WaitlistEntry(
        instrument_id=instrument.id,
        team_id=team.id,
        starts_at=starts_at,
        ends_at=ends_at,
        created_by_id=actor.id,
        status="waiting",
    )
    db.session.add(entry)
    db.session.flush()
    return entry


def _teams_of(actor: User):
    return select(TeamMember.team_id).where(TeamMember.user_id == actor.id)


def entries_of(actor: User, instrument_id: int | None = None) -> Select[tuple[WaitlistEntry]]:
    """The caller's teams' entries (of one instrument, or all)."""
    query = select(WaitlistEntry).where(WaitlistEntry.team_id.in_(_teams_of(actor)))
    if instrument_id is not None:
        query = query.where(WaitlistEntry.instrument_id == instrument_id)
    return query


def entry_for(actor: User, entry_id: int) -> WaitlistEntry:
    entry = db.session.scalar(entries_of(actor).where(WaitlistEntry.id == entry_id))
    if entry is None:
        raise NotFound("No such waitlist entry.")
    return entry


def leave(actor: User, entry_id: int) -> None:
    db.session.delete(entry_for(actor, entry_id))
    db.session.flush()


# --- time freed ---------------------------------------------------------------------------------------


def _holder(instrument_id: int, starts_at: datetime, ends_at: datetime) -> bool:
    return (
        db.session.scalar(
            select(Booking.id)
            .where(
                Booking.instrument_id == instrument_id,
                Booking.status.in_(HOLDING_STATUSES),
                Booking.starts_at < ends_at,
                Booking.ends_at > starts_at,
            )
            .limit(1)
        )
        is not None
    )


def bookable(instrument: Instrument, starts_at: datetime, ends_at: datetime, now: datetime) -> bool:
    """Whether anyone allowed to book the instrument could book the whole range now."""
    blackouts = [(b.starts_at, b.ends_at) for b in blackouts_of(instrument, starts_at, ends_at)]
    if any(True for _ in time_problems(Policy.of(instrument), starts_at, ends_at, now, blackouts)):
        return False
    return not _holder(instrument.id, starts_at, ends_at)


def time_freed(
    instrument_id: int | None, starts_at: datetime, ends_at: datetime, now: datetime | None = None
) -> int:
    """Held time of ``instrument_id`` over [starts_at, ends_at) was given back: mail every waiting
    entry overlapping it whose whole range is now bookable, oldest first, and mark it ``notified``.
    Returns how many were notified. A compute booking (no instrument) frees nothing here."""
    if instrument_id is None:
        return 0
    instrument = db.session.get(Instrument, instrument_id)
    if instrument is None or not instrument.active:
        return 0
    now = now or clock.now()
    db.session.flush()  # the freeing change must be visible to the overlap check
    waiting = db.session.scalars(
        select(WaitlistEntry)
        .where(
            WaitlistEntry.instrument_id == instrument_id,
            WaitlistEntry.status == "waiting",
            WaitlistEntry.starts_at < ends_at,
            WaitlistEntry.ends_at > starts_at,
        )
        .order_by(WaitlistEntry.created_at, WaitlistEntry.id)
        # PostgreSQL: two freeings of one entry's time take turns. The second waits for the first's
        # commit, then sees its freed time (so an entry spanning two bookings cancelled at once is
        # mailed) and its ``notified`` (so it is never mailed twice). SQLite serialises writers.
        .with_for_update()
    ).all()
    notified = 0
    for entry in waiting:
        if not bookable(instrument, entry.starts_at, entry.ends_at, now):
            continue
        _mail(entry, instrument)
        entry.status, entry.notified_at = "notified", now
        notified += 1
    db.session.flush()
    return notified


# --- the mail ---------------------------------------------------------------------------------------------


def _absolute(endpoint: str, **values) -> str:
    if has_request_context():
        return url_for(endpoint, _external=True, **values)
    # a job: no request to take the host from; PUBLIC_BASE_URL (e.g. https://lab.example.cn) if set
    base = urlsplit(current_app.config.get("PUBLIC_BASE_URL") or "http://localhost")
    adapter = current_app.url_map.bind(base.netloc, url_scheme=base.scheme, script_name=base.path or "/")
    return adapter.build(endpoint, values, force_external=True)


def form_link(entry: WaitlistEntry, instrument: Instrument) -> str:
    """The instrument page with its booking form filled in with the entry's team and time."""
    tz = zone(instrument.timezone)
    start, end = entry.starts_at.astimezone(tz), entry.ends_at.astimezone(tz)
    return _absolute(
        "web.instrument_detail",
        instrument_id=instrument.id,
        team_id=entry.team_id,
        date=start.date().isoformat(),
        start=f"{start:%H:%M}",
        end=f"{end:%H:%M}",
        week=start.date().isoformat(),
    )


def _when(entry: WaitlistEntry, instrument: Instrument) -> str:
    tz = zone(instrument.timezone)
    start, end = entry.starts_at.astimezone(tz), entry.ends_at.astimezone(tz)
    if end.date() == start.date():
        return f"{start:%Y-%m-%d %H:%M}–{end:%H:%M} ({instrument.timezone})"
    return f"{start:%Y-%m-%d %H:%M} – {end:%Y-%m-%d %H:%M} ({instrument.timezone})"


def _mail(entry: WaitlistEntry, instrument: Instrument) -> None:
    team = db.session.get(Team, entry.team_id)
    link = form_link(entry, instrument)
    when = _when(entry, instrument)
    subject = f"您等待的时段已空出 | The time you waited for is free: {instrument.name} {when}"[:SUBJECT_MAX]
    for user in sorted((m.user for m in team.memberships if m.user.is_active), key=lambda u: u.id):
        body = "\n".join(
            [
                f"{user.name}，您好：",
                "",
                f"您的团队「{team.name}」在候补名单上等待的「{instrument.name}」时段现已空出：{when}。",
                "系统不会自动为您预约；先到先得，请尽快通过下面的链接预约：",
                "",
                link,
                "",
                "此邮件由系统自动发送，请勿直接回复。",
                "",
                "—— English ——",
                "",
                f"Hello {user.name},",
                "",
                f"The time your team {team.name} waited for on {instrument.name} is free now: {when}.",
                "Nothing was booked for you; first come, first served. Book it through this link:",
                "",
                link,
                "",
                "This message was sent automatically; please do not reply to it.",
                "",
            ]
        )
        db.session.add(
            OutboxMessage(kind="waitlist_freed", recipient=user.email, subject=subject, body=body, attempts=0)
        )
