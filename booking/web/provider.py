"""The provider console: a compute provider's GPU offers (publish, edit, withdraw), the upcoming
bookings on them, usage upload as a CSV file and the usage history.

Offers change through ``booking.flow.compute`` and usage goes in through ``booking.flow.usage.ingest``, the same
functions as ``/api/v1/providers/{id}/offers``, ``PATCH /api/v1/compute/offers/{id}`` and
``POST /api/v1/usage-records``. Administrators may look at any provider's console (``?provider_id=``)
and manage its offers; uploading usage is the provider's own act, as in the API.

Reading the CSV file and each row's outcome are ``booking.flow.usage_csv``'s; the rule for a record is
``booking.flow.usage.record_problems``, the API's.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select

from booking.core import clock, sheets
from booking.core.body_limits import body_limit
from booking.core.db import db
from booking.core.money import usage_cost_fen
from booking.flow import booking_lists, compute
from booking.flow.usage_csv import COLUMNS, CsvRefused, ingest_rows, read_usage_csv
from booking.models import COMPUTE_HOLDING_STATUSES, Booking, ComputeOffer, Provider, UsageRecord
from booking.web.access import page
from booking.web.blueprint import blp
from booking.web.compute import platform_tz
from booking.web.compute_forms import OfferForm, UsageUploadForm
from booking.web.forms import ActionForm
from booking.web.vocabulary import EXCEPTION_KINDS
from instruments.rules import zone
from vouchers.models import FinanceException

MAX_BYTES = 8 * 1024 * 1024  # 10,000 rows of long external ids fit well within this
UPLOAD_OVERHEAD = 1024 * 1024  # the form around the file (multipart headers, CSRF token)
HISTORY_PAGE_SIZE = 50
UPCOMING_LIMIT = 100

EXCEPTION_LABELS = EXCEPTION_KINDS  # the one mapping, shared with finance's queue
EXCEPTION_STATUS_LABELS = {"open": _l("unresolved"), "resolved": _l("resolved")}
OUTCOME_LABELS = {"accepted": _l("accepted"), "duplicate": _l("duplicate"), "rejected": _l("rejected")}


@blp.app_context_processor
def _provider_labels():
    return {"exception_labels": EXCEPTION_LABELS, "exception_status_labels": EXCEPTION_STATUS_LABELS}


# --- whose console -------------------------------------------------------------------------------------------


def console_provider() -> Provider:
    """The provider whose console this is: the user's own; an administrator picks one with
    ``?provider_id=`` (default: the first). Another provider's id → 404, as in the API."""
    wanted = request.args.get("provider_id", type=int)
    if current_user.role == "admin" and wanted is None:
        first = db.session.scalar(select(Provider).order_by(Provider.id).limit(1))
        if first is None:
            abort(404)
        return first
    wanted = wanted if wanted is not None else current_user.provider_id
    if wanted is None:
        abort(404)
    return compute.provider_for_user(current_user, wanted)


def _scope(provider: Provider) -> dict:
    """The query argument that keeps an administrator on the same provider's console."""
    return {"provider_id": provider.id} if current_user.role == "admin" else {}


def _console_url(provider: Provider, **kw) -> str:
    return url_for("web.provider_console", **_scope(provider), **kw)


def _offers_of(provider: Provider) -> list[ComputeOffer]:
    return list(
        db.session.scalars(
            select(ComputeOffer)
            .where(ComputeOffer.provider_id == provider.id)
            .order_by(ComputeOffer.active.desc(), ComputeOffer.name, ComputeOffer.id)
        )
    )


def _upcoming(provider: Provider) -> list[Booking]:
    now = clock.now()
    query = (
        booking_lists.filtered_bookings(current_user, {"from": now})
        .join(ComputeOffer, Booking.offer_id == ComputeOffer.id)
        .where(ComputeOffer.provider_id == provider.id, Booking.status.in_(COMPUTE_HOLDING_STATUSES))
    )
    return list(db.session.scalars(query.order_by(Booking.starts_at, Booking.id).limit(UPCOMING_LIMIT)))


def console_page(provider: Provider, status: int = 200, **context):
    providers = (
        list(db.session.scalars(select(Provider).order_by(Provider.name, Provider.id)))
        if current_user.role == "admin"
        else []
    )
    return render_template(
        "provider/console.html",
        provider=provider,
        providers=providers,
        scope=_scope(provider),
        offers=_offers_of(provider),
        upcoming=_upcoming(provider),
        tz=platform_tz(),
        offer_form=context.pop("offer_form", None) or OfferForm(formdata=None),
        upload_form=context.pop("upload_form", None) or UsageUploadForm(formdata=None),
        action_form=ActionForm(),
        can_upload=current_user.role == "provider",
        **context,
    ), status


@blp.route("/provider")
@page("provider", "admin")
def provider_console():
    return console_page(console_provider())


# --- offers -------------------------------------------------------------------------------------------------


@blp.route("/provider/offers", methods=["POST"])
@page("provider", "admin")
def provider_offer_new():
    provider = console_provider()
    form = OfferForm()
    if not form.validate_on_submit():
        return console_page(provider, 422, offer_form=form)
    offer = compute.create_offer(provider, **form.to_fields())
    flash(_("Offer “%(name)s” saved.", name=offer.name), "success")
    return redirect(_console_url(provider, _anchor="offers"))


@blp.route("/provider/offers/<int:offer_id>/edit", methods=["GET", "POST"])
@page("provider", "admin")
def provider_offer_edit(offer_id: int):
    offer = compute.managed_offer_for(current_user, offer_id)
    form = OfferForm.of(offer) if request.method == "GET" else OfferForm()
    status = 200
    if request.method == "POST":
        if form.validate_on_submit():
            fields = form.to_fields()
            if fields["gpus_total"] < offer.gpus_total:
                # the API's rule: bookings may hold the capacity there is, so it only grows
                form.gpus_total.errors.append(
                    _("Capacity can only grow: bookings may hold the GPUs there are.")
                )
                status = 422
            else:
                compute.update_offer(offer, **fields)
                flash(_("Offer “%(name)s” saved.", name=offer.name), "success")
                return redirect(_console_url(offer.provider, _anchor="offers"))
        else:
            status = 422
    return render_template(
        "provider/offer_edit.html", offer=offer, form=form, scope=_scope(offer.provider)
    ), status


def _set_active(offer_id: int, active: bool):
    offer = compute.managed_offer_for(current_user, offer_id)
    if ActionForm().validate_on_submit():
        compute.update_offer(offer, active=active)
        if active:
            flash(_("Offer “%(name)s” is bookable again.", name=offer.name), "success")
        else:
            flash(
                _("Offer “%(name)s” is withdrawn: no new bookings; existing ones stay.", name=offer.name),
                "success",
            )
    else:
        flash(_("The form has expired; try again."), "error")
    return redirect(_console_url(offer.provider, _anchor="offers"))


@blp.route("/provider/offers/<int:offer_id>/activate", methods=["POST"])
@page("provider", "admin")
def provider_offer_activate(offer_id: int):
    return _set_active(offer_id, True)


@blp.route("/provider/offers/<int:offer_id>/deactivate", methods=["POST"])
@page("provider", "admin")
def provider_offer_deactivate(offer_id: int):
    return _set_active(offer_id, False)


# --- usage upload ---------------------------------------------------------------------------------------------


@blp.route("/provider/usage/upload", methods=["POST"])
@page("provider")
@body_limit(MAX_BYTES + UPLOAD_OVERHEAD)
def provider_usage_upload():
    provider = console_provider()
    form = UsageUploadForm()
    if not form.validate_on_submit():
        return console_page(provider, 422, upload_form=form)
    data = form.file.data.stream.read(MAX_BYTES + 1)
    try:
        if len(data) > MAX_BYTES:
            raise CsvRefused([_("The file is larger than %(size)s MB.", size=MAX_BYTES // (1024 * 1024))])
        rows = read_usage_csv(data)
    except CsvRefused as refused:
        form.file.errors = [*form.file.errors, *refused.messages]
        return console_page(provider, 422, upload_form=form)
    result = ingest_rows(current_user, rows)
    flash(
        _(
            "Usage file read: %(accepted)s accepted, %(duplicates)s duplicates, %(rejected)s rejected.",
            accepted=result.accepted,
            duplicates=result.duplicates,
            rejected=len(result.rejected),
        ),
        # rows accepted are kept even when others were rejected: a warning, not a refusal
        "success" if not result.rejected else "warning",
    )
    return console_page(
        provider,
        upload_result={
            "filename": form.file.data.filename,
            "accepted": result.accepted,
            "duplicates": result.duplicates,
            "rejected": len(result.rejected),
            "rows": rows,
        },
        outcome_labels=OUTCOME_LABELS,
    )


@blp.route("/provider/usage/template.csv")
@page("provider", "admin")
def provider_usage_template():
    """A CSV with the columns and two example rows (for one of the provider's bookings, if any)."""
    provider = console_provider()
    example = db.session.scalar(
        select(Booking)
        .join(ComputeOffer, Booking.offer_id == ComputeOffer.id)
        .where(ComputeOffer.provider_id == provider.id)
        .order_by(Booking.starts_at.desc())
        .limit(1)
    )
    tz = zone(platform_tz())
    if example is not None:
        booking_id, start = example.id, example.starts_at.astimezone(tz)
    else:
        booking_id, start = 12345, datetime(2026, 3, 2, 10, 0, tzinfo=tz)
    half_hour = timedelta(minutes=30)
    rows = [
        [f"job-{booking_id}-{n:04d}", booking_id, s.isoformat(), e.isoformat(), hours]
        for n, (s, e, hours) in enumerate(
            ((start, start + half_hour, "0.5"), (start + half_hour, start + 2 * half_hour, "0.375")), start=1
        )
    ]
    return Response(
        "".join(sheets.csv_pieces(COLUMNS, rows, bom=False)),  # the one CSV writer (formula-safe)
        mimetype="text/csv",
        headers={"Content-Disposition": "attachment; filename=usage-template.csv"},
    )


# --- usage history --------------------------------------------------------------------------------------------


@blp.route("/provider/usage")
@page("provider", "admin")
def provider_usage():
    """The provider's usage records, newest first, a page at a time (``?before=<id>`` pages on)."""
    provider = console_provider()
    before = request.args.get("before", type=int)
    query = (
        select(UsageRecord, ComputeOffer)
        .join(Booking, UsageRecord.booking_id == Booking.id)
        .join(ComputeOffer, Booking.offer_id == ComputeOffer.id)
        .where(UsageRecord.provider_id == provider.id)
    )
    if before is not None:
        query = query.where(UsageRecord.id < before)
    found = db.session.execute(query.order_by(UsageRecord.id.desc()).limit(HISTORY_PAGE_SIZE + 1)).all()
    records = [
        {
            "record": record,
            "offer": offer,
            "gpu_hours": f"{record.gpu_hours.normalize():f}",
            # one record at the offer's price (reconciliation rounds once per booking, on the sum)
            "cost_fen": usage_cost_fen(record.gpu_microhours, offer.price_per_gpu_hour_fen),
        }
        for record, offer in found[:HISTORY_PAGE_SIZE]
    ]
    booking_ids = sorted({r["record"].booking_id for r in records})
    exceptions: dict[int, list[FinanceException]] = {}
    if booking_ids:
        for exception in db.session.scalars(
            select(FinanceException)
            .where(FinanceException.booking_id.in_(booking_ids))
            .order_by(FinanceException.id)
        ):
            exceptions.setdefault(exception.booking_id, []).append(exception)
    unknown = []
    if before is None:  # records refused for an unknown booking are never stored: finance sees them
        unknown = list(
            db.session.scalars(
                select(FinanceException)
                .where(
                    FinanceException.provider_id == provider.id, FinanceException.kind == "unknown_booking"
                )
                .order_by(FinanceException.id.desc())
                .limit(HISTORY_PAGE_SIZE)
            )
        )
    scope = _scope(provider)
    return render_template(
        "provider/usage.html",
        provider=provider,
        scope=scope,
        records=records,
        exceptions=exceptions,
        unknown=unknown,
        tz=platform_tz(),
        first_url=url_for("web.provider_usage", **scope) if before is not None else None,
        older_url=(
            url_for("web.provider_usage", **scope, before=records[-1]["record"].id)
            if len(found) > HISTORY_PAGE_SIZE
            else None
        ),
    )
