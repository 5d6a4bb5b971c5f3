"""Mails about service orders (送样检测), through the outbox like the booking mails.

Every transition of an order tells the team's members (Chinese first, then English, in one message;
money as ¥ with two decimals, dates in the lab's timezone). Only adds ``OutboxMessage`` rows, in the
caller's transaction: a rolled-back change never mails anyone.
"""

from __future__ import annotations

from booking.core.db import db
from booking.core.i18n import format_yuan
from booking.flow import notifications
from booking.models import OutboxMessage, User
from instruments.models import ServiceOrder

ORDER_EVENTS = (
    "submitted",
    "accepted",
    "rejected",
    "received",
    "result_uploaded",
    "completed",
    "cancelled",
    "settled",
)
SUBJECT_MAX = 300


def _wording(order: ServiceOrder, event: str) -> tuple[str, str, list[str], list[str]]:
    """(Chinese title, English title, Chinese paragraphs, English paragraphs) of one event."""
    name = order.service.name
    reason_zh = order.reason or "未说明"
    reason_en = order.reason or "none given"
    if event == "submitted":
        return (
            "送样检测订单已提交",
            "Testing order submitted",
            [f"您的团队已提交「{name}」的送样检测订单，等待实验室受理。"],
            [f"Your team ordered {name}. The lab will accept the order before you send the samples."],
        )
    if event == "accepted":
        return (
            "送样检测订单已受理",
            "Testing order accepted",
            [f"实验室已受理您团队的「{name}」订单，请按要求寄送样品。"],
            [f"The lab accepted your team's order of {name}; please send the samples."],
        )
    if event == "rejected":
        return (
            "送样检测订单未被受理",
            "Testing order rejected",
            [f"很抱歉，实验室未受理您团队的「{name}」订单，已冻结的创新券额度已退回。", f"原因：{reason_zh}"],
            [
                f"Sorry, the lab rejected your team's order of {name}; the vouchers' commitment was released.",
                f"Reason: {reason_en}",
            ],
        )
    if event == "received":
        due = order.due_on.isoformat() if order.due_on else ""
        return (
            "实验室已收到样品",
            "Samples received",
            [f"实验室已收到「{name}」订单的样品并开始检测，预计完成日期：{due}（北京时间）。"],
            [
                f"The lab received the samples of your order of {name}; results are due on {due} (Asia/Shanghai)."
            ],
        )
    if event == "result_uploaded":
        return (
            "检测结果文件已上传",
            "Result file uploaded",
            [f"实验室已为「{name}」订单上传结果文件，可在平台上下载。"],
            [f"The lab uploaded a result file for your order of {name}; download it on the platform."],
        )
    if event == "completed":
        cost = format_yuan(order.price_per_sample_fen * (order.samples_processed or 0))
        return (
            "送样检测已完成",
            "Testing order completed",
            [
                f"实验室已完成「{name}」订单：检测样品 {order.samples_processed} 个，费用 {cost}（未扣除创新券）。",
                "欢迎在平台上下载结果并评价本次服务。",
            ],
            [
                f"The lab completed your order of {name}: {order.samples_processed} samples processed, "
                f"{cost} (before vouchers).",
                "Download the results and rate the service on the platform.",
            ],
        )
    if event == "cancelled":
        return (
            "送样检测订单已取消",
            "Testing order cancelled",
            [f"您团队的「{name}」订单已取消，不收取费用，已冻结的创新券额度已退回。"],
            [
                f"Your team's order of {name} was cancelled free of charge; the vouchers' commitment was released."
            ],
        )
    if event == "settled":
        return (
            "送样检测订单已结算",
            "Testing order settled",
            [f"您团队的「{name}」订单已按实际检测样品数结算，明细见平台。"],
            [
                f"Your team's order of {name} was settled on the samples processed; see the platform for details."
            ],
        )
    raise ValueError(f"unknown service order event {event!r}")


def compose(order: ServiceOrder, event: str, recipient: User) -> tuple[str, str]:
    zh_title, en_title, zh, en = _wording(order, event)
    lab = order.service.lab.name
    details_zh = [
        f"订单编号：#{order.id}",
        f"团队：{order.team.name}",
        f"服务：{order.service.name}（{lab}）",
        f"样品数：{order.samples}",
        f"单价：{format_yuan(order.price_per_sample_fen)}/个",
    ]
    details_en = [
        f"Order: #{order.id}",
        f"Team: {order.team.name}",
        f"Service: {order.service.name} ({lab})",
        f"Samples: {order.samples}",
        f"Price: {format_yuan(order.price_per_sample_fen)} a sample",
    ]
    subject = f"{zh_title} | {en_title}: {order.service.name} (#{order.id})"
    return subject[:SUBJECT_MAX], notifications.bilingual_body(recipient, zh, details_zh, en, details_en)


def order_event(order: ServiceOrder, event: str) -> None:
    """Queue the mail of one order event to each active member of the team (only flushes)."""
    if event not in ORDER_EVENTS:
        raise ValueError(f"unknown service order event {event!r}")
    recipients = {m.user.id: m.user for m in order.team.memberships if m.user.is_active}
    for user in sorted(recipients.values(), key=lambda u: u.id):
        subject, body = compose(order, event, user)
        db.session.add(
            OutboxMessage(
                kind=f"service_order_{event}",
                recipient=user.email,
                subject=subject,
                body=body,
                booking_id=order.booking_id,
                attempts=0,
            )
        )
    db.session.flush()
