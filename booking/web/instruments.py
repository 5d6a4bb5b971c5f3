"""Instrument pages: the catalogue with its search, and an instrument's week calendar with the booking
form. The lab managers' console for one instrument is in ``booking.web.lab_instruments``.

Thin views over ``instruments.catalogue`` and ``instruments.availability``: they read forms, turn the
instrument's local wall-clock times into UTC instants and back, and never commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from babel.dates import format_datetime
from flask import current_app, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from wtforms import SelectChoice

from booking.core import clock
from booking.core.db import db
from booking.core.i18n import current_language
from booking.flow import booking_lists, fair_use
from booking.models import District, Team, User
from booking.people import teams
from booking.web.access import page
from booking.web.blueprint import blp
from booking.web.forms import OPERATION_MODE_LABELS, WEEKDAY_LABELS, BookingForm, InstrumentSearchForm
from booking.web.paging import catalogue_page
from booking.web.training import training_panel
from instruments import availability, catalogue
from instruments.models import Instrument, Lab
from instruments.rules import Interval, Policy, opening_windows, zone

CALENDAR_MAX_ROWS = 48  # a longer day is shown in rows of several slots


@blp.app_context_processor
def _instrument_labels():
    return {"mode_labels": OPERATION_MODE_LABELS, "weekday_labels": WEEKDAY_LABELS}


# --- local time --------------------------------------------------------------------------------------------


def local_instant(day: date, minute: int, tz_name: str) -> datetime:
    """The UTC instant of ``day`` at ``minute`` minutes after local midnight (1440 = next midnight)."""
    day, minute = day + timedelta(days=minute // 1440), minute % 1440
    local = datetime.combine(day, time(minute // 60, minute % 60), tzinfo=zone(tz_name))
    return local.astimezone(UTC)


def hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


@blp.app_template_filter("local")
def format_local(instant: datetime | None, tz_name: str | None, pattern: str = "yyyy-MM-dd EEE HH:mm") -> str:
    """An instant as wall-clock time in the instrument's timezone, in the page's language."""
    if instant is None:
        return "—"
    tz = zone(tz_name or current_app.config["DEFAULT_TIMEZONE"])
    return format_datetime(instant, pattern, tzinfo=tz, locale=get_locale())


def opening_summary(instrument: Instrument) -> list[tuple[str, str]]:
    """(weekday, "08:00–12:00, 13:00–18:00") for the seven days; empty text when closed."""
    by_day: dict[int, list[str]] = {}
    for r in instrument.opening_hours:
        by_day.setdefault(r.weekday, []).append(f"{hhmm(r.opens_minute)}–{hhmm(r.closes_minute)}")
    return [(str(WEEKDAY_LABELS[d]), ", ".join(by_day.get(d, []))) for d in range(7)]


# --- the catalogue -----------------------------------------------------------------------------------------


def _search_choices(form: InstrumentSearchForm) -> dict[str, District]:
    categories = db.session.scalars(
        select(Instrument.category)
        .where(Instrument.active.is_(True))
        .distinct()
        .order_by(Instrument.category)
    )
    form.category.choices = [SelectChoice("", _("All categories")), *(SelectChoice(c) for c in categories)]
    districts = {d.code: d for d in db.session.scalars(select(District).order_by(District.code))}
    with_labs = set(
        db.session.scalars(select(Lab.district_code).join(Instrument).where(Instrument.active.is_(True)))
    )
    locale = current_language()
    form.district_code.choices = [SelectChoice("", _("All districts"))] + [
        SelectChoice(code, d.display_name(locale)) for code, d in districts.items() if code in with_labs
    ]
    return districts


@blp.route("/instruments")
@page()
def instrument_list():
    form = InstrumentSearchForm(formdata=request.args)
    districts = _search_choices(form)
    query = None
    if form.validate():
        filters = {"q": form.q.data, "category": form.category.data, "district_code": form.district_code.data}
        if form.date.data is not None:
            tz = zone(current_app.config["DEFAULT_TIMEZONE"])
            filters["free_from"] = datetime.combine(
                form.date.data, form.free_from.data, tzinfo=tz
            ).astimezone(UTC)
            filters["free_to"] = datetime.combine(form.date.data, form.free_to.data, tzinfo=tz).astimezone(
                UTC
            )
        # with the "no opening hours" badge
        query = availability.found_instruments(filters, clock.now()).order_by(Instrument.name, Instrument.id)
    found = catalogue_page(query, "web.instrument_list")
    return render_template(
        "instruments/list.html",
        form=form,
        instruments=found.items,
        districts=districts,
        locale=current_language(),
        previous_url=found.previous_url,
        next_url=found.next_url,
    )


# --- one instrument: the week calendar and the booking form ----------------------------------------------


@dataclass(frozen=True)
class Cell:
    state: str  # free, mine, busy, blackout, closed or unavailable (past, too soon, too far, too short)
    book_url: str | None = None
    in_series: bool = False  # one of your team's booking series holds it


def _containing(intervals: list[Interval], s: datetime, e: datetime) -> Interval | None:
    return next(((a, b) for a, b in intervals if a <= s and e <= b), None)


def _overlaps(intervals: list[Interval], s: datetime, e: datetime) -> bool:
    return any(a < e and s < b for a, b in intervals)


def week_start(text: str | None, today: date) -> date:
    """The Monday of the week of ``?week=YYYY-MM-DD`` (this week when absent or malformed)."""
    try:
        day = date.fromisoformat(text) if text else today
    except ValueError:
        day = today
    if abs((day - today).days) > 3660:  # far dates: nothing to see, and they overflow in tz arithmetic
        day = today
    return day - timedelta(days=day.weekday())


def week_calendar(
    instrument: Instrument, monday: date, now: datetime, mine: list[Interval], in_series: list[Interval] = ()
) -> dict:
    """A week × time-of-day grid of the instrument in its own timezone, rows of whole slots between
    the earliest opening and the latest closing. Free cells link to the booking form, pre-filled with
    the shortest booking that fits from there."""
    tz_name = instrument.timezone
    days = [monday + timedelta(days=i) for i in range(7)]
    start, end = local_instant(monday, 0, tz_name), local_instant(monday, 7 * 1440, tz_name)
    rows: list[tuple[str, list[Cell]]] = []
    calendar = {"days": days, "rows": rows, "start": start, "end": end}
    if not instrument.opening_hours:
        return calendar
    slot = instrument.slot_minutes
    first = min(r.opens_minute for r in instrument.opening_hours) // slot * slot
    last = max(r.closes_minute for r in instrument.opening_hours)
    step = slot
    while (last - first) / step > CALENDAR_MAX_ROWS:
        step += slot
    windows = opening_windows(Policy.of(instrument).ranges, tz_name, start, end)
    free = availability.free_intervals(instrument, start, end, now)
    blackouts = [(b.starts_at, b.ends_at) for b in catalogue.blackouts_of(instrument, start, end)]
    taken = availability.taken_intervals(instrument.id, start, end)
    shortest = timedelta(minutes=-(-max(step, instrument.min_minutes) // slot) * slot)
    tz = zone(tz_name)
    for minute in range(first, last, step):
        cells = []
        for day in days:
            s, e = local_instant(day, minute, tz_name), local_instant(day, minute + step, tz_name)
            url = None
            if _containing(windows, s, e) is None:
                state = "closed"
            elif _overlaps(blackouts, s, e):
                state = "blackout"
            elif _overlaps(mine, s, e):
                state = "mine"
            elif _overlaps(taken, s, e):
                state = "busy"
            elif (interval := _containing(free, s, e)) is not None:
                state = "free"
                until = s + shortest
                if until <= interval[1] and shortest <= timedelta(minutes=instrument.max_minutes):
                    url = url_for(
                        "web.instrument_detail",
                        instrument_id=instrument.id,
                        week=monday.isoformat(),
                        date=day.isoformat(),
                        start=hhmm(minute),
                        end=until.astimezone(tz).strftime("%H:%M"),
                        _anchor="book",
                    )
            else:
                state = "unavailable"
            cells.append(Cell(state, url, state == "mine" and _overlaps(list(in_series), s, e)))
        rows.append((hhmm(minute), cells))
    return calendar


def bookable_teams(user: User) -> list[Team]:
    """The verified teams this user books for (founders: their own)."""
    if user.role != "founder":
        return []
    return list(
        db.session.scalars(teams.visible_teams(user).where(Team.verified.is_(True)).order_by(Team.name))
    )


def team_choices(teams_: list[Team]) -> list[SelectChoice]:
    return [SelectChoice(t.id, t.name) for t in teams_]


def _parse_time(text: str | None) -> time | None:
    try:
        return time.fromisoformat(text) if text else None
    except ValueError:
        return None


def _prefilled_booking_form(teams_: list[Team]) -> BookingForm:
    """The booking form, pre-filled from a calendar cell's or a waitlist mail's link
    (?date=…&start=…&end=…&team_id=…)."""
    try:
        day = date.fromisoformat(request.args.get("date", ""))
    except ValueError:
        day = None
    wanted = request.args.get("team_id", type=int)  # a waitlist mail's link names the team
    team_id = wanted if any(t.id == wanted for t in teams_) else (teams_[0].id if teams_ else None)
    return BookingForm(
        team_id=team_id,
        date=day,
        starts=_parse_time(request.args.get("start")),
        ends=_parse_time(request.args.get("end")),
    )


def render_instrument_page(
    instrument: Instrument,
    form: BookingForm | None = None,
    status: int = 200,
    review: dict | None = None,
    offer_waitlist: bool = False,
):
    """The instrument page; ``form`` is a submitted booking form to show again with its errors, or
    (with ``review``) the split it would get, to confirm."""
    now = clock.now()
    tz = zone(instrument.timezone)
    teams_ = bookable_teams(current_user)
    if current_user.role == "founder":
        form = form or _prefilled_booking_form(teams_)
        form.team_id.choices = team_choices(teams_)
        for field in (form.starts, form.ends):  # the browser's time picker steps along the slot grid
            field.render_kw = {"step": instrument.slot_minutes * 60}
    today = now.astimezone(tz).date()
    shown = request.args.get("week")
    if form is not None and (status != 200 or review) and form.date.data:
        shown = form.date.data.isoformat()  # show the week of the refused booking
    monday = week_start(shown, today)
    mine: list[Interval] = []
    in_series: list[Interval] = []
    if current_user.role == "founder":
        team_ids = set(booking_lists.team_ids_of(current_user))
        start, end = (
            local_instant(monday, 0, instrument.timezone),
            local_instant(monday, 10080, instrument.timezone),
        )
        held = [
            b
            for b in db.session.scalars(
                booking_lists.filtered_bookings(
                    current_user, {"instrument_id": instrument.id, "from": start, "to": end}
                )
            )
            if b.holds_time and b.team_id in team_ids
        ]
        mine = [(b.starts_at, b.ends_at) for b in held]
        in_series = [(b.starts_at, b.ends_at) for b in held if b.series_id is not None]
    return render_template(
        "instruments/detail.html",
        instrument=instrument,
        hours=opening_summary(instrument),
        calendar=week_calendar(instrument, monday, now, mine, in_series),
        monday=monday,
        previous_week=(monday - timedelta(days=7)).isoformat(),
        next_week=(monday + timedelta(days=7)).isoformat(),
        this_week=week_start(None, today).isoformat(),
        form=form,
        has_unverified_team=current_user.role == "founder"
        and not teams_
        and bool(booking_lists.team_ids_of(current_user)),
        manages=catalogue.manages(current_user, instrument),
        training=training_panel(instrument, current_user),
        review=review,
        offer_waitlist=offer_waitlist,
        suspensions=[
            (team, until)
            for team in (teams_ if current_user.role == "founder" else [])
            if (until := fair_use.suspended_until(team.id, instrument, now)) is not None
        ],
    ), status


@blp.route("/instruments/<int:instrument_id>")
@page()
def instrument_detail(instrument_id: int):
    return render_instrument_page(catalogue.instrument_for(current_user, instrument_id))
