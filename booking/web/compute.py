"""Compute pages: the catalogue of GPU offers, an offer's free capacity over a week (an SVG chart drawn
on the server: no script) and the booking form.

Booking GPUs takes the same two steps as booking an instrument (``booking.web.bookings``): the first
submit shows the estimated cost and how the vouchers would split it, the second books through
``booking.flow.compute.create_compute_booking`` — the function behind ``POST /api/v1/bookings``. Times are
entered and shown in the platform's timezone (Asia/Shanghai); offers have no timezone of their own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select
from wtforms import SelectChoice

from booking.core import clock
from booking.core.db import db
from booking.core.errors import DomainError
from booking.flow import booking_lists, bookings, compute
from booking.models import ComputeOffer
from booking.people.accounts import require_verified_email
from booking.web.access import page
from booking.web.blueprint import blp
from booking.web.bookings import split_review
from booking.web.compute_forms import ComputeBookingForm, OfferSearchForm
from booking.web.errors import field_named, refusal_message, show_beside
from booking.web.instruments import bookable_teams, team_choices
from booking.web.paging import catalogue_page
from instruments.rules import zone

CHART_DAYS = 7
# The chart's drawing area inside its viewBox (the SVG scales to the page width).
CHART_W, CHART_H = 760, 240
PLOT_X, PLOT_Y, PLOT_W, PLOT_H = 44, 12, 704, 180


def platform_tz() -> str:
    return current_app.config["DEFAULT_TIMEZONE"]


# --- the catalogue -----------------------------------------------------------------------------------------


@blp.route("/compute")
@page()
def compute_offers():
    form = OfferSearchForm(formdata=request.args)
    active = compute.visible_offers(current_user).where(ComputeOffer.active.is_(True))
    models = db.session.scalars(
        select(ComputeOffer.gpu_model)
        .where(ComputeOffer.id.in_(active.with_only_columns(ComputeOffer.id)))
        .distinct()
        .order_by(ComputeOffer.gpu_model)
    )
    form.gpu_model.choices = [SelectChoice("", _("All GPU models")), *(SelectChoice(m) for m in models)]
    query = active
    if form.gpu_model.data:
        query = query.where(ComputeOffer.gpu_model == form.gpu_model.data)
    found = catalogue_page(
        query.order_by(ComputeOffer.gpu_model, ComputeOffer.name, ComputeOffer.id), "web.compute_offers"
    )
    return render_template(
        "compute/list.html",
        form=form,
        offers=found.items,
        previous_url=found.previous_url,
        next_url=found.next_url,
    )


# --- one offer: the capacity chart, the free segments and the booking form ---------------------------------


@dataclass(frozen=True)
class Bar:
    """One segment of constant use, in chart coordinates."""

    starts_at: datetime
    ends_at: datetime
    free: int
    used: int
    x: float
    width: float
    free_y: float  # top of the free part (the free GPUs are drawn from the bottom up)
    free_height: float
    used_height: float


def chart_window(text: str | None, now: datetime, tz_name: str) -> tuple[datetime, datetime]:
    """The week shown: from the start of the current hour, or from midnight of ``?from=YYYY-MM-DD``
    when that is a later day within the booking horizon."""
    tz = zone(tz_name)
    start = now.astimezone(tz).replace(minute=0, second=0, microsecond=0)
    try:
        day = date.fromisoformat(text) if text else None
    except ValueError:
        day = None
    if day is not None and start.date() < day <= (now + compute.HORIZON).astimezone(tz).date():
        start = datetime.combine(day, datetime.min.time(), tzinfo=tz)
    start = start.astimezone(UTC)
    return start, start + timedelta(days=CHART_DAYS)


def capacity_chart(offer: ComputeOffer, start: datetime, end: datetime, tz_name: str) -> dict:
    """Free and reserved GPUs over [start, end) as bars, with a line and a label at each local midnight."""
    span = (end - start).total_seconds()
    total = offer.gpus_total

    def x_of(instant: datetime) -> float:
        return round(PLOT_X + (instant - start).total_seconds() / span * PLOT_W, 2)

    bars = []
    for s, e, free in compute.free_segments(offer, start, end):
        free_height = round(max(free, 0) / total * PLOT_H, 2)
        bars.append(
            Bar(
                starts_at=s,
                ends_at=e,
                free=free,
                used=total - free,
                x=x_of(s),
                width=round(x_of(e) - x_of(s), 2),
                free_y=round(PLOT_Y + PLOT_H - free_height, 2),
                free_height=free_height,
                used_height=round(PLOT_H - free_height, 2),
            )
        )
    # a line at each local midnight, the day's name under its noon (when the window shows it)
    tz = zone(tz_name)
    days = []
    day = start.astimezone(tz).date()
    while (midnight := datetime.combine(day, datetime.min.time(), tzinfo=tz)) < end:
        noon = midnight + timedelta(hours=12)
        days.append(
            {
                "x": x_of(max(midnight, start)),
                "line": midnight > start,
                "label_x": x_of(noon) if start <= noon < end else None,
                "instant": midnight,
            }
        )
        day += timedelta(days=1)
    levels = sorted({0, total // 2, total})
    return {
        "bars": bars,
        "days": days,
        "levels": [{"gpus": n, "y": round(PLOT_Y + PLOT_H - n / total * PLOT_H, 2)} for n in levels],
        "width": CHART_W,
        "height": CHART_H,
        "plot": {"x": PLOT_X, "y": PLOT_Y, "w": PLOT_W, "h": PLOT_H, "bottom": PLOT_Y + PLOT_H},
        "start": start,
        "end": end,
        "min_free": min((b.free for b in bars), default=total),
    }


def _local_minute(instant: datetime, tz_name: str) -> str:
    return instant.astimezone(zone(tz_name)).strftime("%Y-%m-%dT%H:%M")


def book_link(offer: ComputeOffer, bar: Bar, now: datetime, tz_name: str) -> str | None:
    """The booking form pre-filled with a free segment (from the next whole minute if it has begun)."""
    starts = max(bar.starts_at, now.replace(second=0, microsecond=0) + timedelta(minutes=1))
    if bar.free <= 0 or starts >= bar.ends_at:
        return None
    return url_for(
        "web.compute_offer",
        offer_id=offer.id,
        starts=_local_minute(starts, tz_name),
        ends=_local_minute(bar.ends_at, tz_name),
        _anchor="book",
    )


def _prefilled_form(teams_) -> ComputeBookingForm:
    """The booking form, pre-filled from a free segment's link (?starts=…&ends=…, local times)."""

    def local(name: str) -> datetime | None:
        try:
            value = datetime.strptime(request.args.get(name, ""), "%Y-%m-%dT%H:%M")  # noqa: DTZ007 - wall clock
        except ValueError:
            return None
        return value if 2000 <= value.year <= 2100 else None

    starts, ends = local("starts"), local("ends")
    return ComputeBookingForm(team_id=teams_[0].id if teams_ else None, starts_at=starts, ends_at=ends)


def render_offer_page(
    offer: ComputeOffer, form: ComputeBookingForm | None = None, status: int = 200, review: dict | None = None
):
    """The offer page; ``form`` is a submitted booking form to show again with its errors, or (with
    ``review``) the split it would get, to confirm."""
    now = clock.now()
    tz_name = platform_tz()
    teams_ = bookable_teams(current_user)
    if current_user.role == "founder":
        form = form or _prefilled_form(teams_)
        form.team_id.choices = team_choices(teams_)
        form.gpus.render_kw = {"min": 1, "max": offer.gpus_total}
    start, end = chart_window(request.args.get("from"), now, tz_name)
    chart = capacity_chart(offer, start, end, tz_name)
    today = now.astimezone(zone(tz_name)).date()
    local_start = start.astimezone(zone(tz_name)).date()
    previous_url = None
    if local_start > today:
        earlier = max(today, local_start - timedelta(days=CHART_DAYS))
        previous_url = url_for(
            "web.compute_offer",
            offer_id=offer.id,
            **({"from": earlier.isoformat()} if earlier > today else {}),
        )
    return render_template(
        "compute/detail.html",
        offer=offer,
        tz=tz_name,
        chart=chart,
        book_links=(
            {bar.starts_at: book_link(offer, bar, now, tz_name) for bar in chart["bars"]} if form else {}
        ),
        previous_url=previous_url,
        next_url=url_for(
            "web.compute_offer",
            offer_id=offer.id,
            **{"from": (local_start + timedelta(days=CHART_DAYS)).isoformat()},
        ),
        form=form,
        has_unverified_team=current_user.role == "founder"
        and not teams_
        and bool(booking_lists.team_ids_of(current_user)),
        manages=current_user.role == "admin"
        or (current_user.role == "provider" and current_user.provider_id == offer.provider_id),
        review=review,
        needs_payment_field=review is not None and review["needs_payment"],
    ), status


@blp.route("/compute/offers/<int:offer_id>")
@page()
def compute_offer(offer_id: int):
    return render_offer_page(compute.offer_for(current_user, offer_id))


# --- booking GPUs --------------------------------------------------------------------------------------------


def compute_error_message(error: DomainError, offer: ComputeOffer) -> str:
    """The operation's refusal in the page's language (its ``code`` is the API's error code)."""
    messages = {
        "capacity_exceeded": lambda: _(
            "Not enough free GPUs for the whole time you chose. See the free capacity above."
        ),
        "off_grid": lambda: _("Start and end on whole minutes."),
        "too_short": lambda: _("Book at least one minute."),
        "inside_lead_time": lambda: _("The start is in the past. Choose a later start."),
        "beyond_horizon": lambda: _("Book at most 90 days in advance."),
        "team_not_verified": lambda: _("The team is not verified yet."),
        "idempotency_key_reused": lambda: _("This form was already used for a booking; reload the page."),
        "forbidden": lambda: _("Only the team's members book for it."),
        "unknown_reference": lambda: _("This offer cannot be booked at the moment."),
        "payment_method_required": lambda: _("Enter a card: the team pays part of the cost."),
        "payment_declined": lambda: _("The card was declined. Try another card."),
        "payments_unavailable": lambda: _("Card payments are unavailable at the moment. Try again shortly."),
    }
    invalid = {
        "gpus": lambda: gpus_range_message(offer),
        "ends_at": _l("The booking must end after it starts."),
    }
    return refusal_message(error, messages, invalid=invalid)


def gpus_range_message(offer: ComputeOffer) -> str:
    return _("Book 1 to %(gpus)s GPUs of this offer.", gpus=offer.gpus_total)


def _booked_range(form: ComputeBookingForm) -> tuple[datetime, datetime]:
    """The form's local date-times (platform timezone) as UTC instants."""
    tz = zone(platform_tz())
    return (
        form.starts_at.data.replace(tzinfo=tz).astimezone(UTC),
        form.ends_at.data.replace(tzinfo=tz).astimezone(UTC),
    )


def _field_for(form: ComputeBookingForm, error: DomainError):
    if error.code == "capacity_exceeded":
        return form.gpus
    fields = {
        "gpus": form.gpus,
        "starts_at": form.starts_at,
        "ends_at": form.ends_at,
        "team_id": form.team_id,
        "payment_method": form.payment_method,
    }
    return field_named(fields, error.details)


@blp.route("/compute/offers/<int:offer_id>/book", methods=["POST"])
@page("founder")
def compute_book(offer_id: int):
    offer = compute.offer_for(current_user, offer_id)
    form = ComputeBookingForm()
    form.team_id.choices = team_choices(bookable_teams(current_user))
    try:
        require_verified_email(current_user)  # before the other rules, as for the API
    except DomainError as error:
        show_beside(form, None, compute_error_message(error, offer))
        form.confirmed.data = ""
        return render_offer_page(offer, form, error.status)
    if not form.validate_on_submit():
        form.confirmed.data = ""  # a corrected form shows the price again before booking
        return render_offer_page(offer, form, 422)
    starts_at, ends_at = _booked_range(form)
    if form.confirmed.data != "yes":
        return _review(offer, form, starts_at, ends_at)
    try:
        booking, _created = compute.create_compute_booking(
            current_user,
            team_id=form.team_id.data,
            offer_id=offer.id,
            gpus=form.gpus.data,
            starts_at=starts_at,
            ends_at=ends_at,
            use_vouchers=form.use_vouchers.data,
            payment_method=form.payment_method.data or None,
            idempotency_key=f"web-{form.request_key.data}",
            digest=_digest(form, offer, starts_at, ends_at),
        )
    except DomainError as error:
        field = _field_for(form, error)
        show_beside(form, field, compute_error_message(error, offer))
        if field is form.payment_method:  # stay on the confirm step, with the price and the card field
            return _review(offer, form, starts_at, ends_at, status=error.status)
        form.confirmed.data = ""
        return render_offer_page(offer, form, error.status)
    flash(_("GPUs booked. They are reserved for your team for the whole time."), "success")
    return redirect(url_for("web.booking_detail", booking_id=booking.id))


def _digest(form: ComputeBookingForm, offer: ComputeOffer, starts_at: datetime, ends_at: datetime) -> str:
    return bookings.request_digest(
        {
            "team_id": form.team_id.data,
            "offer_id": offer.id,
            "gpus": form.gpus.data,
            "starts_at": starts_at.isoformat(),
            "ends_at": ends_at.isoformat(),
            "use_vouchers": form.use_vouchers.data,
        }
    )


def _review(
    offer: ComputeOffer, form: ComputeBookingForm, starts_at: datetime, ends_at: datetime, status: int = 200
):
    """The confirm step: the cost and how vouchers would split it, before anything is booked. Too many
    GPUs for the offer, or for what is free over the whole range, is said now rather than at confirm
    (booking checks capacity again, under the offer's lock)."""
    if form.gpus.data > offer.gpus_total:
        show_beside(form, form.gpus, gpus_range_message(offer))
        form.confirmed.data = ""
        return render_offer_page(offer, form, 422)
    if compute.peak_reserved(offer.id, starts_at, ends_at) + form.gpus.data > offer.gpus_total:
        show_beside(form, form.gpus, compute_error_message(DomainError("", code="capacity_exceeded"), offer))
        form.confirmed.data = ""
        return render_offer_page(offer, form, 409)
    cost = compute.estimated_cost_fen(offer, form.gpus.data, starts_at, ends_at)
    review = split_review(
        form,
        "compute",
        cost,
        offer.provider.organization_id,
        ends_at,
        payee=("provider", offer.provider_id),
        starts_at=starts_at,
    )
    review.update(gpus=form.gpus.data, gpu_hours=_gpu_hours(form.gpus.data, ends_at - starts_at))
    return render_offer_page(offer, form, status, review=review)


def _gpu_hours(gpus: int, duration: timedelta) -> str:
    """GPUs × hours, to two decimals (e.g. "1.5")."""
    minutes = gpus * int(duration.total_seconds() // 60)
    value = (Decimal(minutes) / 60).quantize(Decimal("0.01"), ROUND_HALF_UP).normalize()
    return f"{value:f}"
