"""A programme's annual cap per team: what one team receives from a programme in a calendar year
(Asia/Shanghai, by the booking's start date) — committed and not released, plus settled — never
exceeds ``annual_team_cap_fen``.

The room is read inside the lock of the team's voucher accounts (``commitments._candidates``,
``settling_state.voucher_state``): every booking of the team that could draw on the programme takes the
same locks, so two concurrent bookings never both see the same room.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select

from booking.core.db import among, db
from booking.models import Booking
from instruments.rules import zone
from vouchers.models import SubsidyLine

CAP_ZONE = "Asia/Shanghai"


def year_of(starts_at: datetime) -> int:
    return starts_at.astimezone(zone(CAP_ZONE)).year


def year_window(year: int) -> tuple[datetime, datetime]:
    """The instants a calendar year of Chongqing runs from (inclusive) and to (exclusive)."""
    tz = zone(CAP_ZONE)
    return datetime(year, 1, 1, tzinfo=tz), datetime(year + 1, 1, 1, tzinfo=tz)


def received_in_year(
    team_id: int, program_ids: list[int], year: int, *, except_booking_id: int | None = None
) -> dict[int, int]:
    """Per programme, what the team's bookings starting in ``year`` hold or were paid from it:
    committed − released (a settled share stays in ``committed``)."""
    if not program_ids:
        return {}
    since, until = year_window(year)
    query = (
        select(SubsidyLine.program_id, func.sum(SubsidyLine.committed_fen - SubsidyLine.released_fen))
        .join(Booking, Booking.id == SubsidyLine.booking_id)
        .where(
            Booking.team_id == team_id,
            SubsidyLine.program_id.in_(program_ids),
            Booking.starts_at >= since,
            Booking.starts_at < until,
        )
        .group_by(SubsidyLine.program_id)
    )
    if except_booking_id is not None:
        query = query.where(SubsidyLine.booking_id != except_booking_id)
    return {program_id: int(total or 0) for program_id, total in db.session.execute(query)}


def rooms(
    team_id: int, caps: dict[int, int | None], starts_at: datetime, *, except_booking_id: int | None = None
) -> dict[int, int | None]:
    """Per programme (``caps``: programme id → annual cap or None), what the team may still receive
    from it for a booking starting at ``starts_at`` (None: no annual cap)."""
    capped = [program_id for program_id, cap in caps.items() if cap is not None]
    received = received_in_year(team_id, capped, year_of(starts_at), except_booking_id=except_booking_id)
    return {
        program_id: None if cap is None else max(cap - received.get(program_id, 0), 0)
        for program_id, cap in caps.items()
    }


def received_by_teams(team_ids: set[int], program_ids: set[int], year: int) -> dict[tuple[int, int], int]:
    """``received_in_year`` for many teams at once (reconciliation's batches): (team, programme) →
    committed − released of the teams' bookings starting in ``year``."""
    if not team_ids or not program_ids:
        return {}
    since, until = year_window(year)
    rows = db.session.execute(
        select(
            Booking.team_id,
            SubsidyLine.program_id,
            func.sum(SubsidyLine.committed_fen - SubsidyLine.released_fen),
        )
        .join(Booking, Booking.id == SubsidyLine.booking_id)
        .where(
            among(Booking.team_id, team_ids),
            SubsidyLine.program_id.in_(program_ids),
            Booking.starts_at >= since,
            Booking.starts_at < until,
        )
        .group_by(Booking.team_id, SubsidyLine.program_id)
    )
    return {(team_id, program_id): int(total or 0) for team_id, program_id, total in rows}


def received_for_batch(
    bookings: list[tuple[int, datetime]], capped: dict[int, set[int]]
) -> dict[tuple[int, int, int], int]:
    """(team, programme, year) → ``received_in_year``, for a settling batch: ``bookings`` as (team,
    start), ``capped`` the annually capped programmes of each team's vouchers."""
    teams = {team_id for team_id, programs in capped.items() if programs}
    programs = set().union(*capped.values()) if capped else set()
    received: dict[tuple[int, int, int], int] = {}
    for year in sorted({year_of(starts_at) for team_id, starts_at in bookings if team_id in teams}):
        for (team_id, program_id), total in received_by_teams(teams, programs, year).items():
            received[(team_id, program_id, year)] = total
    return received
