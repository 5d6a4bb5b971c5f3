"""The lists of bookings the pages and the API show: a person's visible bookings filtered (team,
instrument, offer, status, time), and the teams a person belongs to."""

from __future__ import annotations

from sqlalchemy import Select, select

from booking.core.db import db
from booking.flow.bookings import visible_bookings
from booking.models import Booking, TeamMember, User


def filtered_bookings(user: User, filters: dict) -> Select[tuple[Booking]]:
    query = visible_bookings(user)
    if filters.get("team_id") is not None:
        query = query.where(Booking.team_id == filters["team_id"])
    if filters.get("instrument_id") is not None:
        query = query.where(Booking.instrument_id == filters["instrument_id"])
    if filters.get("offer_id") is not None:
        query = query.where(Booking.offer_id == filters["offer_id"])
    if filters.get("status"):
        query = query.where(Booking.status == filters["status"])
    if filters.get("from") is not None:
        query = query.where(Booking.ends_at > filters["from"])
    if filters.get("to") is not None:
        query = query.where(Booking.starts_at < filters["to"])
    return query


def team_ids_of(user: User) -> list[int]:
    return list(db.session.scalars(select(TeamMember.team_id).where(TeamMember.user_id == user.id)))
