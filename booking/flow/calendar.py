"""Private iCal feeds: a secret URL a calendar app subscribes to, showing a user's team bookings or,
for its lab managers, one instrument's bookings.

The secret is shown once, at creation; only its SHA-256 is stored, so a database leak reveals no
working URL. Who may see what is checked again on every fetch: a user who leaves a team stops seeing
its bookings, a manager removed from a lab gets 404 from the instrument feed.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from icalendar import Calendar, Event
from sqlalchemy import Select, select

from booking.core import clock
from booking.core.db import db
from booking.core.errors import Forbidden, Invalid, NotFound, unknown_reference
from booking.models import HOLDING_STATUSES, Booking, BookingStatus, CalendarFeed, TeamMember, User
from instruments.catalogue import manages
from instruments.models import Instrument

SCOPES = ("user", "instrument")
PAST = timedelta(days=30)
AHEAD = timedelta(days=180)
PRODID = "-//suanli-booking//private booking feed//ZH"


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_feed(actor: User, scope: str, instrument_id: int | None = None) -> tuple[CalendarFeed, str]:
    """Create a feed; returns it and its secret (shown once, never stored). Only flushes.

    scope "user": the bookings of all the actor's teams. scope "instrument": one instrument's bookings,
    for a manager of its lab or an admin (another lab's manager: 404; other roles: 403).
    """
    if scope not in SCOPES:
        raise Invalid("Unknown feed scope.", details={"scope": ["Must be one of: user, instrument."]})
    if scope == "user":
        if instrument_id is not None:
            raise Invalid(
                "A user feed names no instrument.", details={"instrument_id": ["Only for scope instrument."]}
            )
    else:
        if instrument_id is None:
            raise Invalid(
                "An instrument feed needs an instrument.", details={"instrument_id": ["Missing data."]}
            )
        instrument = db.session.get(Instrument, instrument_id)
        if instrument is None:
            raise unknown_reference("instrument_id", "instrument")
        if not manages(actor, instrument):
            if actor.role == "lab_manager":
                raise NotFound("No such instrument among the ones you manage.")
            raise Forbidden("Only the lab's managers may subscribe to an instrument's bookings.")
    secret = secrets.token_urlsafe(32)
    feed = CalendarFeed(
        user_id=actor.id,
        scope=scope,
        instrument_id=instrument_id,
        token_hash=hash_secret(secret),
        created_at=clock.now(),
    )
    db.session.add(feed)
    db.session.flush()
    return feed, secret


def feeds_of(actor: User) -> Select[tuple[CalendarFeed]]:
    """The actor's own active feeds."""
    return select(CalendarFeed).where(CalendarFeed.user_id == actor.id, CalendarFeed.revoked_at.is_(None))


def revoke_feed(actor: User, feed_id: int) -> CalendarFeed:
    """Revoke one of the actor's own feeds (anyone else's, or one already revoked: 404)."""
    feed = db.session.get(CalendarFeed, feed_id)
    if feed is None or feed.user_id != actor.id or feed.revoked_at is not None:
        raise NotFound("No such calendar feed.")
    feed.revoked_at = clock.now()
    db.session.flush()
    return feed


def feed_for_secret(secret: str) -> CalendarFeed | None:
    """The live feed behind a secret URL, or None (unknown, revoked, owner gone or no longer allowed)."""
    feed = db.session.scalar(select(CalendarFeed).where(CalendarFeed.token_hash == hash_secret(secret)))
    if feed is None or feed.revoked_at is not None:
        return None
    owner = db.session.get(User, feed.user_id)
    if owner is None or not owner.is_active:
        return None
    if feed.scope == "instrument":
        instrument = db.session.get(Instrument, feed.instrument_id)
        if instrument is None or not manages(owner, instrument):
            return None
    return feed


def feed_bookings(feed: CalendarFeed, now: datetime) -> list[Booking]:
    """Bookings that hold time, from 30 days ago to 180 days ahead (cancelled/rejected ones drop out)."""
    query = select(Booking).where(
        Booking.kind == "instrument",
        Booking.status.in_(HOLDING_STATUSES),
        Booking.ends_at > now - PAST,
        Booking.starts_at < now + AHEAD,
    )
    if feed.scope == "instrument":
        query = query.where(Booking.instrument_id == feed.instrument_id)
    else:
        teams = select(TeamMember.team_id).where(TeamMember.user_id == feed.user_id)
        query = query.where(Booking.team_id.in_(teams))
    return list(db.session.scalars(query.order_by(Booking.starts_at, Booking.id)))


def _calendar_name(feed: CalendarFeed) -> str:
    if feed.scope == "instrument":
        instrument = db.session.get(Instrument, feed.instrument_id)
        return f"{instrument.name} · 仪器预约 Bookings"
    return "我的仪器预约 · My instrument bookings"


def render_feed(feed: CalendarFeed, uid_domain: str, now: datetime | None = None) -> bytes:
    """The feed as an RFC 5545 calendar: one VEVENT per booking, times in UTC."""
    now = now or clock.now()
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", _calendar_name(feed))
    # a polling hint for subscribing clients (Apple's and Outlook's spellings)
    calendar.add("refresh-interval", timedelta(minutes=30), parameters={"VALUE": "DURATION"})
    calendar.add("x-published-ttl", "PT30M")
    for booking in feed_bookings(feed, now):
        calendar.add_component(_event(booking, feed.scope, uid_domain, now))
    return calendar.to_ical()


def _event(booking: Booking, scope: str, uid_domain: str, now: datetime) -> Event:
    instrument = booking.instrument
    summary = instrument.name if scope == "user" else f"{instrument.name} · {booking.team.name}"
    event = Event()
    event.add("uid", f"booking-{booking.id}@{uid_domain}")
    event.add("dtstamp", now)
    event.add("dtstart", booking.starts_at)
    event.add("dtend", booking.ends_at)
    event.add("summary", summary)
    event.add("location", ", ".join(p for p in (instrument.location, instrument.lab.name) if p))
    event.add("status", "TENTATIVE" if booking.status == BookingStatus.PENDING_APPROVAL else "CONFIRMED")
    event.add(
        "description",
        f"预约 Booking #{booking.id}\n团队 Team: {booking.team.name}\n状态 Status: {booking.status}",
    )
    return event
