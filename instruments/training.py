"""Training requests: a founder asks to be trained on an instrument that requires training, and a
manager of its lab grants the request (the founder is then qualified, until the instrument's
``qualification_valid_days`` have passed) or declines it. The requester hears of either by mail.

Plain operations taking the actor, shared by the JSON API and the HTML pages; they only flush. At
most one request per person and instrument is pending: a partial unique index decides a race, its
loser gets 409 ``already_requested``.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import Select, select, update
from sqlalchemy.exc import IntegrityError

from booking.core import clock
from booking.core.db import db
from booking.core.errors import Conflict, Forbidden, Invalid, NotFound
from booking.models import OutboxMessage, User
from booking.people import audit
from booking.people.account_mail import AUTOMATIC_EN, AUTOMATIC_ZH, PLATFORM_EN, PLATFORM_ZH
from instruments.catalogue import grant_qualification, is_qualified, managed_instruments, manages
from instruments.models import Instrument, Qualification, TrainingRequest

NOTE_MAX = 500


def _already_requested() -> Conflict:
    return Conflict(
        "You have asked for training on this instrument already; the lab will get back to you.",
        code="already_requested",
    )


def request_training(actor: User, instrument: Instrument, note: str = "") -> TrainingRequest:
    """A founder asks the lab to train them on ``instrument`` (which must require training)."""
    if actor.role != "founder":
        raise Forbidden("Only founders ask for training.")
    if not instrument.requires_training:
        raise Invalid(
            "This instrument does not require training.",
            code="training_not_required",
            details={"instrument_id": ["No training needed."]},
        )
    if is_qualified(instrument, actor):
        raise Conflict("You are qualified on this instrument already.", code="already_qualified")
    if open_request_of(instrument, actor) is not None:
        raise _already_requested()
    request = TrainingRequest(
        instrument_id=instrument.id,
        user_id=actor.id,
        note=(note or "").strip()[:NOTE_MAX],
        status="pending",
        decline_reason="",
    )
    try:
        with db.session.begin_nested():
            db.session.add(request)
    except IntegrityError:
        # a concurrent request of the same person won the partial unique index
        raise _already_requested() from None
    return request


def open_request_of(instrument: Instrument, user: User) -> TrainingRequest | None:
    return db.session.scalar(
        select(TrainingRequest).where(
            TrainingRequest.instrument_id == instrument.id,
            TrainingRequest.user_id == user.id,
            TrainingRequest.status == "pending",
        )
    )


def latest_request_of(instrument: Instrument, user: User) -> TrainingRequest | None:
    return db.session.scalar(
        select(TrainingRequest)
        .where(TrainingRequest.instrument_id == instrument.id, TrainingRequest.user_id == user.id)
        .order_by(TrainingRequest.id.desc())
        .limit(1)
    )


def requests_for(instrument: Instrument) -> Select[tuple[TrainingRequest]]:
    """Every request on this instrument (the caller orders and pages it)."""
    return select(TrainingRequest).where(TrainingRequest.instrument_id == instrument.id)


def pending_requests_for(manager: User) -> list[TrainingRequest]:
    """The training queue of a lab manager: pending requests on the instruments they manage, oldest first."""
    managed = managed_instruments(manager).with_only_columns(Instrument.id)
    return list(
        db.session.scalars(
            select(TrainingRequest)
            .where(TrainingRequest.status == "pending", TrainingRequest.instrument_id.in_(managed))
            .order_by(TrainingRequest.id)
        )
    )


def managed_request_for(user: User, request_id: int) -> TrainingRequest:
    """A request on an instrument the user manages. Another lab's manager gets 404, other roles 403."""
    request = db.session.get(TrainingRequest, request_id)
    if request is not None and manages(user, request.instrument):
        return request
    if user.role in ("lab_manager", "admin") or request is None:
        raise NotFound("No such training request.")
    raise Forbidden("Only the lab's managers may do this.")


def _close(request: TrainingRequest, status: str, by: User, reason: str = "") -> None:
    """Close a pending request, once: a second decision (or a concurrent one) is 409 ``already_decided``."""
    result = db.session.execute(
        update(TrainingRequest)
        .where(TrainingRequest.id == request.id, TrainingRequest.status == "pending")
        .values(status=status, decided_at=clock.now(), decided_by_id=by.id, decline_reason=reason)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount == 0:
        raise Conflict("This training request has been decided already.", code="already_decided")
    db.session.refresh(request)


def grant_training(request: TrainingRequest, by: User) -> Qualification:
    """Qualify the requester (with the instrument's expiry) and close the request."""
    _close(request, "granted", by)
    qualification = grant_qualification(request.instrument, request.user_id, by)
    audit.record(
        by,
        "grant_training",
        request,
        after={
            "user_id": request.user_id,
            "instrument_id": request.instrument_id,
            "expires_at": qualification.expires_at,
        },
        district_code=request.instrument.lab.district_code,
    )
    _mail_decision(request, qualification.expires_at)
    return qualification


def decline_training(request: TrainingRequest, by: User, reason: str = "") -> TrainingRequest:
    """Close the request without qualifying; ``reason`` (optional) is mailed to the requester."""
    _close(request, "declined", by, (reason or "").strip()[:NOTE_MAX])
    audit.record(
        by,
        "decline_training",
        request,
        after={
            "user_id": request.user_id,
            "instrument_id": request.instrument_id,
            "reason": request.decline_reason,
        },
        district_code=request.instrument.lab.district_code,
    )
    _mail_decision(request, None)
    return request


# --- the requester's mail --------------------------------------------------------------------------


def _local_day(instant: datetime, instrument: Instrument) -> str:
    return instant.astimezone(ZoneInfo(instrument.timezone)).strftime("%Y-%m-%d")


def _mail_decision(request: TrainingRequest, expires_at: datetime | None) -> OutboxMessage:
    """Tell the requester the lab's decision: both languages, the recipient's (``User.locale``) first."""
    user, instrument = request.user, request.instrument
    name, lab = instrument.name, instrument.lab.name
    if request.status == "granted":
        zh_title, en_title = f"培训申请已通过：{name}", f"Training granted: {name}"
        zh = [f"{lab}已为您开通“{name}”的使用资格，您现在可以预约这台仪器。"]
        en = [f"{lab} has qualified you on “{name}”: you may book it now."]
        if expires_at is not None:
            zh.append(f"资格有效期至 {_local_day(expires_at, instrument)}，到期后需重新申请培训。")
            en.append(
                f"The qualification lasts until {_local_day(expires_at, instrument)}; ask again after that."
            )
    else:
        zh_title, en_title = f"培训申请未通过：{name}", f"Training request declined: {name}"
        zh = [f"{lab}未通过您对“{name}”的培训申请。"]
        en = [f"{lab} declined your request for training on “{name}”."]
        if request.decline_reason:
            zh.append(f"原因：{request.decline_reason}")
            en.append(f"Reason: {request.decline_reason}")
        zh.append("如有疑问，请联系实验室；您也可以稍后再次申请。")
        en.append("Please contact the lab with any question; you may ask again later.")
    chinese = [f"{user.name}，您好：", "", *zh, "", AUTOMATIC_ZH]
    english = [f"Hello {user.name},", "", *en, "", AUTOMATIC_EN]
    if (user.locale or "").lower().startswith("en"):
        subject = f"{en_title} | {PLATFORM_EN}"
        body = [*english, "", "——", "", *chinese]
    else:
        subject = f"{zh_title} | {PLATFORM_ZH}"
        body = [*chinese, "", "——", "", *english]
    message = OutboxMessage(
        kind=f"training_{request.status}",
        recipient=user.email,
        subject=subject[:300],
        body="\n".join(body),
        attempts=0,
    )
    db.session.add(message)
    db.session.flush()
    return message
