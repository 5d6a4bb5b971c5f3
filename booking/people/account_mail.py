"""The wording of the mails about an account (password reset, password changed, ...).

Each mail is a self-contained function returning ``(subject, body)``, plus one that queues it in the
outbox (``OutboxMessage``, delivered after commit by ``deliver_outbox``). House style of
``booking.flow.notifications``: both languages in one message, the recipient's language first
(``User.locale``, Simplified Chinese by default), a greeting by name, and a line saying the mail was
sent automatically.
"""

from __future__ import annotations

from booking.core.db import db
from booking.models import OutboxMessage, User

MAIL_SUBJECT_MAX = 300  # OutboxMessage.subject


def _password_mail_in_english_first(user: User) -> bool:
    return (user.locale or "zh_CN").startswith("en")


def _password_mail(user: User, titles: tuple[str, str], zh: list[str], en: list[str]) -> tuple[str, str]:
    """Subject and body in both languages, the recipient's first."""
    zh_title, en_title = titles
    chinese = [f"{user.name}，您好：", "", *zh, "", "此邮件由系统自动发送，请勿直接回复。"]
    english = [
        f"Hello {user.name},",
        "",
        *en,
        "",
        "This message was sent automatically; please do not reply to it.",
    ]
    if _password_mail_in_english_first(user):
        subject = f"{en_title} | {zh_title}"
        lines = [*english, "", "—— 中文 ——", "", *chinese, ""]
    else:
        subject = f"{zh_title} | {en_title}"
        lines = [*chinese, "", "—— English ——", "", *english, ""]
    return subject[:MAIL_SUBJECT_MAX], "\n".join(lines)


def password_reset_mail(user: User, link: str) -> tuple[str, str]:
    """The mail with a link to choose a new password (valid 1 hour, once)."""
    return _password_mail(
        user,
        ("重置密码", "Reset your password"),
        [
            "有人（希望是您本人）申请重置您在本平台的账户密码。请打开以下链接设置新密码：",
            "",
            link,
            "",
            "该链接 1 小时内有效，且只能使用一次。如果不是您本人申请，请忽略此邮件，您的密码不会改变。",
        ],
        [
            "Someone (we hope you) asked to reset the password of your account. Open this link to choose a new one:",
            "",
            link,
            "",
            "The link works once, within 1 hour. If you did not ask for it, ignore this mail: "
            "your password stays as it is.",
        ],
    )


def password_changed_mail(user: User) -> tuple[str, str]:
    """The confirmation that the password changed (every other sign-in was ended)."""
    return _password_mail(
        user,
        ("您的密码已更改", "Your password was changed"),
        [
            f"您的账户（{user.email}）的密码刚刚已更改，其他设备上的登录和所有 API 令牌已随之失效。",
            "如果这不是您本人操作，请立即通过“忘记密码”重新设置密码，并联系平台管理员。",
        ],
        [
            f"The password of your account ({user.email}) was just changed; you were signed out "
            "everywhere else and every API token stopped working.",
            "If this was not you, reset your password at once (“Forgot your password?”) and tell the "
            "platform's administrators.",
        ],
    )


def _queue_password_mail(kind: str, user: User, subject: str, body: str) -> None:
    db.session.add(OutboxMessage(kind=kind, recipient=user.email, subject=subject, body=body, attempts=0))
    db.session.flush()


def queue_password_reset_mail(user: User, link: str) -> None:
    _queue_password_mail("password_reset", user, *password_reset_mail(user, link))


def queue_password_changed_mail(user: User) -> None:
    _queue_password_mail("password_changed", user, *password_changed_mail(user))
