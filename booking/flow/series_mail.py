"""Mails about a booking series: one mail to each member when the series is booked or its rest
cancelled, listing every occurrence, instead of one mail per occurrence (a weekly slot for a term
would otherwise send a dozen at once); the lab's managers get one mail listing the occurrences that
wait for their approval. Chinese first, then English, in one message; times in the instrument's
timezone, money as ¥ with two decimals. Only adds outbox rows, in the caller's transaction.
"""

from __future__ import annotations

from booking.core.i18n import format_yuan
from booking.flow import notifications
from booking.models import Booking, BookingSeries, BookingStatus, User

SKIP_REASONS = {  # why an occurrence was skipped, by the API's code (a mail has no page language)
    "slot_taken": ("已被他人预约", "someone else holds it"),
    "blackout": ("仪器停用或实验室关闭", "the instrument or its lab is closed"),
    "outside_opening_hours": ("不在开放时间内", "outside the opening hours"),
    "inside_lead_time": ("距开始时间太近", "too close to its start"),
    "beyond_horizon": ("超出可预约范围", "too far ahead"),
    "off_grid": ("不在预约时间格上", "not on the booking grid"),
    "too_short": ("时长太短", "too short"),
    "too_long": ("时长太长", "too long"),
    "not_qualified": ("尚未取得培训资格", "training required"),
    "quota_exceeded": ("超出团队用量配额", "over the team's quota"),
    "booking_suspended": ("团队预约已暂停", "the team's booking is suspended"),
}


def _lines(occurrences: list[Booking]) -> tuple[list[str], list[str]]:
    zh, en = [], []
    for booking in occurrences:
        when_zh, when_en = notifications.describe_when(booking)
        pending = booking.status == BookingStatus.PENDING_APPROVAL
        zh.append(f"  · {when_zh}  #{booking.id}" + ("（待审核）" if pending else ""))
        en.append(f"  · {when_en}  #{booking.id}" + (" (awaiting approval)" if pending else ""))
    return zh, en


def _skipped_lines(skipped: list[dict]) -> tuple[list[str], list[str]]:
    zh, en = [], []
    for item in skipped:
        reason_zh, reason_en = SKIP_REASONS.get(item.get("code", ""), ("无法预约", "not bookable"))
        start, end = item["starts_at"][:16].replace("T", " "), item["ends_at"][11:16]
        zh.append(f"  · {start}–{end}：{reason_zh}")
        en.append(f"  · {start}–{end}: {reason_en}")
    return zh, en


def _rows(
    series: BookingSeries, instrument, kind: str, title: tuple[str, str], recipients: list[User], text
) -> list[dict]:
    subject = f"{title[0]} | {title[1]}: {instrument.name} (#{series.id})"[: notifications.SUBJECT_MAX]
    details_zh = [f"团队：{series.team.name}", f"仪器：{instrument.name}（{instrument.lab.name}）"]
    details_en = [f"Team: {series.team.name}", f"Instrument: {instrument.name} ({instrument.lab.name})"]
    zh, en = text
    return [
        {
            "kind": kind,
            "recipient": user.email,
            "subject": subject,
            "body": notifications.bilingual_body(user, zh, details_zh, en, details_en),
            "booking_id": None,
            "attempts": 0,
        }
        for user in notifications.each_once(recipients)
    ]


def series_booked(series: BookingSeries, booked: list[Booking], skipped: list[dict]) -> None:
    """The team hears of the whole series at once; the lab of what waits for its approval."""
    if not booked:
        return
    instrument = booked[0].instrument  # every occurrence's
    name = instrument.name
    cost = format_yuan(sum(b.estimated_cost_fen for b in booked))
    times_zh, times_en = _lines(booked)
    skipped_zh, skipped_en = _skipped_lines(skipped)
    zh = [f"您的团队已预约「{name}」的系列时段，共 {len(booked)} 次：", *times_zh]
    en = [f"Your team booked a series of {name}, {len(booked)} times:", *times_en]
    if skipped:
        zh += [f"以下 {len(skipped)} 次未能预约：", *skipped_zh]
        en += [f"{len(skipped)} could not be booked:", *skipped_en]
    zh.append(f"预计费用合计：{cost}（未扣除算力券/补贴）")
    en.append(f"Estimated cost in all: {cost} (before vouchers)")
    pending = [b for b in booked if b.status == BookingStatus.PENDING_APPROVAL]
    if pending:
        zh.append("标注“待审核”的时段需实验室审核，结果会逐次通知。")
        en.append(
            "The lab has to approve the times marked as awaiting approval; we will tell you each decision."
        )
    rows = _rows(
        series,
        instrument,
        "series_booked",
        ("预约系列已提交", "Booking series booked"),
        notifications.team_recipients(series.team),
        (zh, en),
    )
    if pending:
        pending_zh, pending_en = _lines(pending)
        rows += _rows(
            series,
            instrument,
            "series_approval_needed",
            ("系列预约待审核", "Booking series awaiting approval"),
            notifications.manager_recipients(instrument),
            (
                [f"团队「{series.team.name}」申请预约「{name}」共 {len(pending)} 次，请在实验室控制台逐一审核：", *pending_zh],
                [f"{series.team.name} requests {name} {len(pending)} times; please decide each in the lab console:", *pending_en],
            ),
        )  # fmt: skip
    notifications.queue(rows)


def series_cancelled(series: BookingSeries, cancelled: list[Booking], fee_fen: int) -> None:
    """The team hears once which occurrences were cancelled and what the late ones cost."""
    if not cancelled:
        return
    instrument = cancelled[0].instrument  # every occurrence's
    times_zh, times_en = _lines(cancelled)
    fee = format_yuan(fee_fen)
    zh = [f"您团队「{instrument.name}」系列中的 {len(cancelled)} 次预约已取消：", *times_zh]
    en = [
        f"{len(cancelled)} times of your team's series of {instrument.name} were cancelled:",
        *times_en,
    ]
    if fee_fen:
        zh.append(f"取消费合计：{fee}（由团队支付，不使用算力券）")
        en.append(f"Cancellation fees in all: {fee} (paid by the team, not by vouchers)")
    rows = _rows(
        series,
        instrument,
        "series_cancelled",
        ("预约系列已取消", "Booking series cancelled"),
        notifications.team_recipients(series.team),
        (zh, en),
    )
    notifications.queue(rows)
