"""The mails about a person's account, queued in the outbox in the caller's transaction (a
rolled-back change mails nobody); ``booking.flow.mail.deliver_outbox`` sends them.

House style of ``booking.flow.notifications``: a greeting by name and a line saying the mail was sent
automatically. The sign-up mails (verification, "you already have an account") speak the language
the person chose a moment ago (``zh_CN`` by default, English for ``en``); the password mails go to
people who may not have chosen one, so they carry both languages, the recipient's (``User.locale``)
first; an invitation may reach someone without an account, so it is bilingual, Chinese first.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from booking.core.db import db
from booking.models import OutboxMessage, User

# --- sign-up and verification ---

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


# --- passwords ---

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


# --- team invitations ---

CHINA = ZoneInfo("Asia/Shanghai")


def team_invitation_mail(
    *, team_name: str, inviter_name: str, link: str, sign_up_url: str, expires_at: datetime, days: int
) -> tuple[str, str]:
    """An invitation to join a team: who invites, which team, the link, its expiry, and that the
    link works for an account with this very address (sign up with it first if there is none)."""
    until = expires_at.astimezone(CHINA)
    until_zh = f"{until.year}年{until.month}月{until.day}日 {until:%H:%M}（北京时间）"
    until_en = f"{until:%Y-%m-%d %H:%M} (Beijing time, UTC+08:00)"
    subject = f"邀请您加入团队「{team_name}」 | You are invited to join the team {team_name}"
    body = "\n".join(
        [
            "您好：",
            "",
            f"{inviter_name} 邀请您加入团队「{team_name}」。接受邀请请打开以下链接：",
            "",
            link,
            "",
            f"链接 {days} 天内有效（至 {until_zh}），只能使用一次。",
            "您需要使用收到本邮件的这个邮箱地址登录并完成邮箱验证后才能加入。"
            f"如果还没有账号，请先用这个邮箱注册：{sign_up_url}",
            "如果您不认识邀请人，请忽略本邮件。",
            "",
            "此邮件由系统自动发送，请勿直接回复。",
            "",
            "—— English ——",
            "",
            "Hello,",
            "",
            f"{inviter_name} invites you to join the team {team_name}. To accept, open this link:",
            "",
            link,
            "",
            f"The link is valid for {days} days (until {until_en}) and works once.",
            "You need to sign in with this e-mail address, verified, to join. "
            f"If you have no account yet, sign up with this address first: {sign_up_url}",
            "If you do not know who invited you, ignore this message.",
            "",
            "This message was sent automatically; please do not reply to it.",
            "",
        ]
    )
    return subject[:MAIL_SUBJECT_MAX], body
