"""The provider console: a compute provider's GPU offers (publish, edit, withdraw), the upcoming
bookings on them, usage upload as a CSV file and the usage history.

Offers change through ``booking.compute`` and usage goes in through ``booking.usage.ingest``, the same
functions as ``/api/v1/providers/{id}/offers``, ``PATCH /api/v1/compute/offers/{id}`` and
``POST /api/v1/usage-records``. Administrators may look at any provider's console (``?provider_id=``)
and manage its offers; uploading usage is the provider's own act, as in the API.

A CSV file is read whole before anything is stored: a file that is not UTF-8, lacks a column, has a
malformed value in any row or more than 10,000 rows is refused with the reasons and changes nothing.
A well-formed file is then ingested like one API batch, and each row is reported as accepted,
duplicate (sent before, or repeated in the file) or rejected (with the reason, e.g. unknown booking).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select

from booking import bookings, clock, compute, input_rules, sheets, usage
from booking.body_limits import body_limit
from booking.db import MAX_ID, db
from booking.models import COMPUTE_HOLDING_STATUSES, Booking, ComputeOffer, Provider, UsageRecord
from booking.money import usage_cost_fen
from booking.web import blp
from booking.web.access import page
from booking.web.compute import platform_tz
from booking.web.compute_forms import OfferForm, UsageUploadForm
from booking.web.forms import ActionForm
from booking.web.vocabulary import EXCEPTION_KINDS
from instruments.rules import zone
from vouchers.models import FinanceException

COLUMNS = ("external_id", "booking_id", "started_at", "ended_at", "gpu_hours")
MAX_BYTES = 8 * 1024 * 1024  # 10,000 rows of long external ids fit well within this
UPLOAD_OVERHEAD = 1024 * 1024  # the form around the file (multipart headers, CSRF token)
MAX_LISTED_ERRORS = 30
HISTORY_PAGE_SIZE = 50
UPCOMING_LIMIT = 100

EXCEPTION_LABELS = EXCEPTION_KINDS  # the one mapping, shared with finance's queue
EXCEPTION_STATUS_LABELS = {"open": _l("unresolved"), "resolved": _l("resolved")}
OUTCOME_LABELS = {"accepted": _l("accepted"), "duplicate": _l("duplicate"), "rejected": _l("rejected")}
REJECTION_REASONS = {
    "unknown_booking": _l("No compute booking of yours has this booking_id."),
    "invalid": _l("The record is malformed."),
}


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
        bookings.filtered_bookings(current_user, {"from": now})
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


class CsvRefused(Exception):
    """The file as a whole is refused; ``messages`` say why (with row numbers)."""

    def __init__(self, messages: list[str]):
        super().__init__(messages)
        self.messages = messages


@dataclass
class CsvRow:
    line: int
    values: dict[str, str]
    outcome: str = ""
    reason: str = ""

    def record(self) -> dict:
        """The record as the API takes it (the timestamps and GPU-hours stay strings)."""
        return {**self.values, "booking_id": int(self.values["booking_id"])}


def _shown(value: str) -> str:
    return value if len(value) <= 40 else value[:39] + "…"


def _row_problems(values: dict[str, str]) -> list[str]:
    problems = []
    if not 1 <= len(values["external_id"]) <= 200:
        problems.append(_("external_id must have 1 to 200 characters."))
    elif not input_rules.is_storable_text(values["external_id"]):
        problems.append(_("external_id must not contain control characters such as NUL."))
    booking_id = values["booking_id"]
    if not (booking_id.isascii() and booking_id.isdigit() and len(booking_id) <= 16) or not (
        1 <= int(booking_id) <= MAX_ID
    ):
        problems.append(_("booking_id must be a booking number, not “%(value)s”.", value=_shown(booking_id)))
    instants = {}
    for name in ("started_at", "ended_at"):
        instant = input_rules.parse_aware(values[name])
        if instant is None:
            problems.append(
                _(
                    "%(column)s must be a time with its UTC offset, e.g. 2026-03-02T10:00:00+08:00, "
                    "not “%(value)s”.",
                    column=name,
                    value=_shown(values[name]),
                )
            )
        elif not input_rules.instant_in_range(instant):
            problems.append(
                _(
                    "%(column)s must be between the years 1900 and 2199, not “%(value)s”.",
                    column=name,
                    value=_shown(values[name]),
                )
            )
        else:
            instants[name] = instant
    if len(instants) == 2 and instants["ended_at"] < instants["started_at"]:
        problems.append(_("ended_at is before started_at."))
    if not input_rules.is_gpu_hours(values["gpu_hours"]):
        problems.append(
            _(
                "gpu_hours must be a decimal number with a dot and at most 6 decimals, e.g. 1.5, "
                "not “%(value)s”.",
                value=_shown(values["gpu_hours"]),
            )
        )
    return problems


def read_usage_csv(data: bytes) -> list[CsvRow]:
    """The file's rows, each well-formed; or CsvRefused. Blank lines are skipped; extra columns are
    ignored; decimals are kept as the text written (never floats)."""
    try:
        text = data.decode("utf-8-sig")  # a byte order mark (Excel's "CSV UTF-8") is fine
    except UnicodeDecodeError:
        raise CsvRefused([_("The file is not UTF-8 text. Save it as “CSV UTF-8” and upload it again.")])
    if "\x00" in text:
        raise CsvRefused([_("The file is not a CSV text file.")])
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
        if header is None:
            raise CsvRefused([_("The file is empty.")])
        names = [name.strip().lower() for name in header]
        missing = [c for c in COLUMNS if c not in names]
        if missing:
            raise CsvRefused(
                [
                    _(
                        "Missing column(s): %(missing)s. The first row must name the columns %(columns)s.",
                        missing=", ".join(missing),
                        columns=", ".join(COLUMNS),
                    )
                ]
            )
        repeated = sorted({c for c in COLUMNS if names.count(c) > 1})
        if repeated:
            raise CsvRefused([_("Column(s) named twice: %(columns)s.", columns=", ".join(repeated))])
        where = {c: names.index(c) for c in COLUMNS}
        rows: list[CsvRow] = []
        errors: list[str] = []
        error_count = 0
        for cells in reader:
            if not any(cell.strip() for cell in cells):
                continue
            if len(rows) == usage.MAX_BATCH:
                raise CsvRefused(
                    [
                        _(
                            "The file has more than %(max)s rows. Split it into files of at most %(max)s rows.",
                            max=f"{usage.MAX_BATCH:,}",
                        )
                    ]
                )
            line = reader.line_num
            values = {c: (cells[i].strip() if i < len(cells) else "") for c, i in where.items()}
            problems = _row_problems(values)
            if problems:
                error_count += 1
                if len(errors) < MAX_LISTED_ERRORS:
                    errors.append(_("Line %(line)s: %(problems)s", line=line, problems=" ".join(problems)))
            rows.append(CsvRow(line, values))
    except csv.Error as error:
        raise CsvRefused([_("Line %(line)s is not valid CSV: %(error)s", line=reader.line_num, error=error)])
    if error_count > len(errors):
        errors.append(_("… and %(count)s more rows with errors.", count=error_count - len(errors)))
    if errors:
        raise CsvRefused(errors)
    if not rows:
        raise CsvRefused([_("The file has no records, only the column names.")])
    return rows


def _known_external_ids(provider_id: int, external_ids: list[str]) -> set[str]:
    known: set[str] = set()
    for start in range(0, len(external_ids), 5000):
        chunk = external_ids[start : start + 5000]
        known.update(
            db.session.scalars(
                select(UsageRecord.external_id).where(
                    UsageRecord.provider_id == provider_id, UsageRecord.external_id.in_(chunk)
                )
            )
        )
    return known


def ingest_rows(rows: list[CsvRow]) -> usage.IntakeResult:
    """One ``usage.ingest`` batch, as the API sends it; then each row's outcome. Records already
    received are looked up first, so that each row can say "duplicate" (the counts are ingest's)."""
    known = _known_external_ids(current_user.provider_id, sorted({r.values["external_id"] for r in rows}))
    result = usage.ingest(current_user, [r.record() for r in rows])
    rejected = {r["external_id"]: r["code"] for r in result.rejected}
    seen: set[str] = set()
    for row in rows:
        external_id = row.values["external_id"]
        if external_id in seen:
            row.outcome, row.reason = "duplicate", _("Repeated in this file.")
        elif external_id in rejected:
            code = rejected[external_id]
            row.outcome, row.reason = "rejected", str(REJECTION_REASONS.get(code, code))
        elif external_id in known:
            row.outcome, row.reason = "duplicate", _("Received before.")
        else:
            row.outcome = "accepted"
        seen.add(external_id)
    return result


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
    result = ingest_rows(rows)
    flash(
        _(
            "Usage file read: %(accepted)s accepted, %(duplicates)s duplicates, %(rejected)s rejected.",
            accepted=result.accepted,
            duplicates=result.duplicates,
            rejected=len(result.rejected),
        ),
        "success" if not result.rejected else "error",
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
