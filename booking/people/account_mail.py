"""The wording of the mails about accounts and onboarding (invitations, sign-up, password reset...).

Each mail is one self-contained function returning ``(subject, body)``: bilingual, Chinese first,
in the house style of ``booking.flow.notifications`` (the recipient may have no account yet, so
no locale to choose by). The caller queues it as an ``OutboxMessage``.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

SUBJECT_MAX = 300  # OutboxMessage.subject
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
    return subject[:SUBJECT_MAX], body
