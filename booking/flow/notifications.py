"""Notifications through an outbox: written in the booking's transaction, delivered after commit.

``booking_event`` and ``send_reminders`` only add ``OutboxMessage`` rows (so a rolled-back change never
mails anyone); ``booking.flow.mail.deliver_outbox`` sends them later through the configured backend. Every mail is
bilingual, Chinese first, with times in the instrument's timezone and money as ¥ with two decimals.

Settings (``current_app.config``): ``REMINDER_HOURS`` (24), ``MAIL_BACKEND`` ("console", "file" or
"smtp"), ``MAIL_FROM``, ``MAIL_FILE_PATH`` (instance/outbox.mbox), ``MAIL_SERVER``, ``MAIL_PORT``,
``MAIL_USERNAME``, ``MAIL_PASSWORD``, ``MAIL_USE_TLS``, ``MAIL_USE_SSL``, ``MAIL_TIMEOUT`` (seconds),
``MAIL_MAX_ATTEMPTS`` (5).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import insert, select

from booking.core import clock
from booking.core.db import db
from booking.core.i18n import format_yuan
from booking.models import Booking, BookingStatus, OutboxMessage, User

log = logging.getLogger(__name__)

# Events the booking flow reports ("confirmed" is a request that needed no approval).
EVENTS = (
    "requested",
    "confirmed",
    "approved",
    "rejected",
    "cancelled",
    "cancelled_by_lab",
    "no_show",
    "reminder",
)
DEFAULT_MAIL_FROM = "noreply@localhost"
SUBJECT_MAX = 300  # OutboxMessage.subject


# --- composing ------------------------------------------------------------------------------------------

ZH_WEEKDAYS = "一二三四五六日"


@dataclass(frozen=True)
class _Text:
    """One mail's wording: a title for the subject and paragraphs, in both languages."""

    zh_title: str
    en_title: str
    zh: list[str]
    en: list[str]


def _zone(booking: Booking) -> ZoneInfo:
    name = booking.instrument.timezone if booking.instrument is not None else None
    return ZoneInfo(name or current_app.config.get("DEFAULT_TIMEZONE", "Asia/Shanghai"))


def local_times(booking: Booking) -> tuple[datetime, datetime]:
    zone = _zone(booking)
    return booking.starts_at.astimezone(zone), booking.ends_at.astimezone(zone)


def describe_when(booking: Booking) -> tuple[str, str]:
    """The booked time in the instrument's timezone: (Chinese, English)."""
    start, end = local_times(booking)
    offset = start.strftime("%z")
    zone_label = f"{start.tzinfo}, UTC{offset[:3]}:{offset[3:]}"
    zh_day = f"{start.year}年{start.month}月{start.day}日（周{ZH_WEEKDAYS[start.weekday()]}）"
    en_day = start.strftime("%a %Y-%m-%d")
    ends_at_midnight = end.date() == start.date() + timedelta(days=1) and end.time() == time(0)
    if end.date() == start.date() or ends_at_midnight:
        zh = f"{zh_day} {start:%H:%M}–{end:%H:%M}（{zone_label}）"
        en = f"{en_day} {start:%H:%M}–{end:%H:%M} ({zone_label})"
    else:
        zh_end = f"{end.year}年{end.month}月{end.day}日 {end:%H:%M}"
        zh = f"{zh_day} {start:%H:%M} 至 {zh_end}（{zone_label}）"
        en = f"{en_day} {start:%H:%M} to {end:%a %Y-%m-%d %H:%M} ({zone_label})"
    return zh, en


def _resource(booking: Booking) -> str:
    # a compute booking has no instrument: it is named as compute
    return booking.instrument.name if booking.instrument is not None else "算力 compute"


def _details(booking: Booking) -> tuple[list[str], list[str]]:
    name = _resource(booking)
    when_zh, when_en = describe_when(booking)
    zh = [f"预约编号：#{booking.id}", f"团队：{booking.team.name}"]
    en = [f"Booking: #{booking.id}", f"Team: {booking.team.name}"]
    if booking.instrument is not None:
        lab = booking.instrument.lab.name
        zh.append(f"仪器：{name}（{lab}）")
        en.append(f"Instrument: {name} ({lab})")
        if booking.instrument.location:
            zh.append(f"地点：{booking.instrument.location}")
            en.append(f"Location: {booking.instrument.location}")
    zh.append(f"时间：{when_zh}")
    en.append(f"Time: {when_en}")
    return zh, en


def _cost(booking: Booking) -> tuple[str, str]:
    amount = format_yuan(booking.estimated_cost_fen)
    return f"预计费用：{amount}（未扣除算力券/补贴）", f"Estimated cost: {amount} (before vouchers)"


def _wording(booking: Booking, template: str) -> _Text:
    """What each event says. ``approval_needed`` is the lab managers' copy of a request."""
    name = _resource(booking)
    cost_zh, cost_en = _cost(booking)
    fee = format_yuan(booking.fee_fen)
    reason_zh = booking.reason or "未说明"
    reason_en = booking.reason or "none given"
    if template == "requested":
        return _Text(
            "预约待审核",
            "Booking awaiting approval",
            [f"您的团队已申请预约「{name}」，正在等待实验室审核；审核结果会另行通知。", cost_zh],
            [
                f"Your team has requested {name}. The lab has to approve it; we will tell you its decision.",
                cost_en,
            ],
        )
    if template == "approval_needed":
        return _Text(
            "新预约待您审核",
            "Booking request needs your approval",
            [f"团队「{booking.team.name}」申请预约「{name}」，请在平台上批准或拒绝。", cost_zh],
            [
                f"Team {booking.team.name} has requested {name}. Please approve or reject it on the platform.",
                cost_en,
            ],
        )
    if template == "confirmed":
        return _Text(
            "预约已确认",
            "Booking confirmed",
            [f"您的团队已成功预约「{name}」。", cost_zh],
            [f"Your team's booking of {name} is confirmed.", cost_en],
        )
    if template == "approved":
        return _Text(
            "预约已通过审核",
            "Booking approved",
            [f"实验室已批准您团队对「{name}」的预约，预约已确认。", cost_zh],
            [f"The lab approved your team's booking of {name}; it is now confirmed.", cost_en],
        )
    if template == "rejected":
        return _Text(
            "预约未通过审核",
            "Booking rejected",
            [f"很抱歉，实验室未批准您团队对「{name}」的预约申请。", f"原因：{reason_zh}"],
            [f"Sorry, the lab rejected your team's request for {name}.", f"Reason: {reason_en}"],
        )
    if template == "cancelled":
        zh = [f"您团队对「{name}」的预约已取消。"]
        en = [f"Your team's booking of {name} has been cancelled."]
        if booking.reason:
            zh.append(f"原因：{booking.reason}")
            en.append(f"Reason: {booking.reason}")
        if booking.fee_fen:
            zh.append(f"逾期取消费：{fee}（由团队支付，不可使用算力券）")
            en.append(f"Late cancellation fee: {fee} (paid by the team, not by vouchers)")
        else:
            zh.append("本次取消不收取费用。")
            en.append("No cancellation fee is charged.")
        return _Text("预约已取消", "Booking cancelled", zh, en)
    if template == "cancelled_by_lab":
        return _Text(
            "实验室关闭，预约已取消",
            "Booking cancelled: the lab is closed",
            [
                f"实验室在此时段关闭了「{name}」，您团队的预约已由实验室取消。",
                f"原因：{reason_zh}",
                "本次取消不收取任何费用；已冻结的算力券额度已退回，银行卡预授权已释放。",
            ],
            [
                f"The lab closed {name} at this time, so it cancelled your team's booking.",
                f"Reason: {reason_en}",
                "No fee is charged; the vouchers committed to it are released and any card hold is released.",
            ],
        )
    if template == "no_show":
        grace = booking.instrument.no_show_grace_minutes if booking.instrument is not None else 0
        return _Text(
            "预约记为未到场",
            "Booking marked as no-show",
            [
                f"您的团队未在开始后 {grace} 分钟内签到「{name}」，该预约已记为未到场（爽约），剩余时段已释放。",
                f"未到场费用：{fee}（由团队支付，不可使用算力券）",
            ],
            [
                f"Nobody from your team checked in at {name} within {grace} minutes of the start, so the"
                " booking is marked as a no-show and the rest of the slot was released.",
                f"No-show fee: {fee} (paid by the team, not by vouchers)",
            ],
        )
    if template == "reminder":
        when_zh, when_en = describe_when(booking)
        return _Text(
            "预约提醒",
            "Booking reminder",
            [f"提醒：您团队预约的「{name}」将于 {when_zh} 开始，请按时到场签到。", cost_zh],
            [f"Reminder: your team's booking of {name} starts {when_en}. Please check in on time.", cost_en],
        )
    raise ValueError(f"unknown notification template {template!r}")


def compose(booking: Booking, template: str, recipient: User) -> tuple[str, str]:
    """Subject and body of one mail: Chinese first, then English, in the same message."""
    text = _wording(booking, template)
    start, _ = local_times(booking)
    name = _resource(booking)
    subject = f"{text.zh_title} | {text.en_title}: {name} {start:%Y-%m-%d %H:%M} (#{booking.id})"
    details_zh, details_en = _details(booking)
    return subject[:SUBJECT_MAX], bilingual_body(recipient, text.zh, details_zh, text.en, details_en)


def bilingual_body(
    recipient: User, zh: list[str], details_zh: list[str], en: list[str], details_en: list[str]
) -> str:
    """A mail's body: Chinese first, then English, each with its greeting, lines and details."""
    return "\n".join(
        [
            f"{recipient.name}，您好：",
            "",
            *zh,
            "",
            *details_zh,
            "",
            "此邮件由系统自动发送，请勿直接回复。",
            "",
            "—— English ——",
            "",
            f"Hello {recipient.name},",
            "",
            *en,
            "",
            *details_en,
            "",
            "This message was sent automatically; please do not reply to it.",
            "",
        ]
    )


# --- queueing -------------------------------------------------------------------------------------------


def team_recipients(team) -> list[User]:
    """The team's members with an active account."""
    return [m.user for m in team.memberships if m.user.is_active]


def manager_recipients(instrument) -> list[User]:
    """The active managers of the instrument's lab (none for compute)."""
    if instrument is None:
        return []
    return [m.user for m in instrument.lab.managers if m.user.is_active]


def each_once(recipients: list[User]) -> list[User]:
    """The recipients without repeats, by user id (a member who also manages the lab: one mail)."""
    return sorted({u.id: u for u in recipients}.values(), key=lambda u: u.id)


def _mails(booking: Booking, template: str, recipients: list[User]) -> list[dict]:
    """The outbox rows of one template's mail to each recipient (once each, by user id)."""
    return [
        {
            "kind": f"booking_{template}",
            "recipient": user.email,
            "subject": subject,
            "body": body,
            "booking_id": booking.id,
            "attempts": 0,
        }
        for user in each_once(recipients)
        for subject, body in [compose(booking, template, user)]
    ]


_INSERT_MAILS = insert(OutboxMessage.__table__)


def queue(rows: list[dict]) -> None:
    """Write outbox rows in one statement (a multi-row INSERT): nothing reads them back in the
    request, so no ORM objects are made for them."""
    if rows:
        db.session.execute(_INSERT_MAILS, rows)


def booking_event(booking: Booking, event: str) -> None:
    """Queue the mails for a booking event, in the caller's transaction (only flushes).

    The team's members hear of every event; a request that waits for approval also goes to the
    instrument's lab managers.
    """
    if event not in EVENTS:
        raise ValueError(f"unknown booking event {event!r}")
    if event == "requested" and booking.status != BookingStatus.PENDING_APPROVAL:
        event = "confirmed"
    # recipients first, then the mails: one multi-row INSERT writes them all
    rows = _mails(booking, event, team_recipients(booking.team))
    if event == "requested":
        rows += _mails(booking, "approval_needed", manager_recipients(booking.instrument))
    queue(rows)


def send_reminders(now: datetime | None = None) -> int:
    """Job: queue one reminder for each confirmed booking starting within ``REMINDER_HOURS``.

    ``reminder_sent_at`` marks the booking, so a reminder is never queued twice. Only flushes;
    ``booking.jobs.run_job`` commits (with write intent). Returns how many bookings were reminded.
    """
    now = now or clock.now()
    horizon = now + timedelta(hours=current_app.config.get("REMINDER_HOURS", 24))
    due = db.session.scalars(
        select(Booking)
        .where(
            Booking.status == BookingStatus.CONFIRMED,
            Booking.kind != "service",  # an order's backing booking is no time to turn up for
            Booking.reminder_sent_at.is_(None),
            Booking.starts_at > now,
            Booking.starts_at <= horizon,
        )
        .order_by(Booking.starts_at, Booking.id)
        # A second runner skips what the first is reminding (PostgreSQL; SQLite serialises writers).
        .with_for_update(of=Booking, skip_locked=True)
    ).all()
    rows = []
    for booking in due:
        rows += _mails(booking, "reminder", team_recipients(booking.team))
        booking.reminder_sent_at = now
    queue(rows)
    db.session.flush()
    return len(due)
