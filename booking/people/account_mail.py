"""The mails about a person's account (sign-up, verification), queued in the outbox.

Each function writes one ``OutboxMessage`` in the caller's transaction (a rolled-back sign-up mails
nobody); ``booking.flow.mail.deliver_outbox`` sends it. The wording follows the house style of
``booking.flow.notifications`` but speaks the recipient's language only (``zh_CN`` by default,
English for ``en``): these mails reach people who chose a language a moment ago.
"""

from __future__ import annotations

from booking.core.db import db
from booking.models import OutboxMessage, User

AUTOMATIC_ZH = "此邮件由系统自动发送，请勿直接回复。"
AUTOMATIC_EN = "This mail was sent automatically; please do not reply to it."
PLATFORM_ZH = "重庆算力券与共享实验室平台"
PLATFORM_EN = "Chongqing compute vouchers & open labs"


def _english(locale: str | None) -> bool:
    return bool(locale) and locale.lower().startswith("en")


def _queue(kind: str, recipient: str, subject: str, lines: list[str]) -> OutboxMessage:
    message = OutboxMessage(
        kind=kind, recipient=recipient, subject=subject, body="\n".join(lines), attempts=0
    )
    db.session.add(message)
    db.session.flush()
    return message


def queue_verification(user: User, link: str) -> OutboxMessage:
    """The mail with the link that proves ``user``'s address is theirs (valid 48 hours, once)."""
    if _english(user.locale):
        subject = f"Confirm your e-mail address | {PLATFORM_EN}"
        lines = [
            f"Hello {user.name},",
            "",
            f"You signed up at {PLATFORM_EN} with this address. Open the link below and press",
            '"Confirm my e-mail" to confirm it is yours:',
            "",
            link,
            "",
            "The link works once, for 48 hours. Until you confirm, you may sign in and register your team,",
            "but not book instruments or compute, nor apply for compute vouchers.",
            "If you did not sign up, ignore this mail: nothing happens without the link.",
            "",
            AUTOMATIC_EN,
        ]
    else:
        subject = f"请验证您的邮箱 | {PLATFORM_ZH}"
        lines = [
            f"{user.name}，您好：",
            "",
            f"您使用此邮箱注册了{PLATFORM_ZH}。请打开下面的链接，并点击“确认我的邮箱”完成验证：",
            "",
            link,
            "",
            "链接 48 小时内有效，只能使用一次。验证前您可以登录并登记团队，但不能预约仪器或算力，也不能申请算力券。",
            "如果您没有注册，请忽略此邮件：没有这个链接，什么也不会发生。",
            "",
            AUTOMATIC_ZH,
        ]
    return _queue("verify_email", user.email, subject, lines)


def queue_already_registered(
    email: str, locale: str | None, sign_in_link: str, reset_link: str
) -> OutboxMessage:
    """The mail to an address that signed up again: it has an account already (no new one is made)."""
    if _english(locale):
        subject = f"You already have an account | {PLATFORM_EN}"
        lines = [
            "Hello,",
            "",
            f"Someone (probably you) tried to sign up at {PLATFORM_EN} with this address,",
            "but you already have an account with it. No new account was made.",
            "",
            f"Sign in: {sign_in_link}",
            f"Forgot your password? Choose a new one: {reset_link}",
            "",
            "If it was not you, ignore this mail: your account is unchanged.",
            "",
            AUTOMATIC_EN,
        ]
    else:
        subject = f"您已有账号 | {PLATFORM_ZH}"
        lines = [
            "您好：",
            "",
            f"有人（可能是您）使用此邮箱注册{PLATFORM_ZH}，但此邮箱已有账号，因此没有创建新账号。",
            "",
            f"登录：{sign_in_link}",
            f"忘记密码？设置新密码：{reset_link}",
            "",
            "如果这不是您本人的操作，请忽略此邮件：您的账号没有任何变化。",
            "",
            AUTOMATIC_ZH,
        ]
    return _queue("already_registered", email, subject, lines)
