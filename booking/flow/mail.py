"""Delivering the outbox: mail backends (console, file, SMTP) and ``deliver_outbox``.

Messages are claimed one at a time (PostgreSQL: FOR UPDATE SKIP LOCKED; SQLite: serialised writers),
sent, and marked sent or failed in their own unit of work, so two senders never send one twice and
a failing message never holds back the rest. Settings: ``MAIL_BACKEND`` ("console", "file" or
"smtp"), ``MAIL_FROM``, ``MAIL_FILE_PATH`` (instance/outbox.mbox), ``MAIL_SERVER``, ``MAIL_PORT``,
``MAIL_USERNAME``, ``MAIL_PASSWORD``, ``MAIL_USE_TLS``, ``MAIL_USE_SSL``, ``MAIL_TIMEOUT`` (seconds),
``MAIL_MAX_ATTEMPTS`` (5).
"""

from __future__ import annotations

import logging
import mailbox
import os
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from typing import NamedTuple, Protocol

from flask import current_app
from sqlalchemy import select

from booking.core import clock, input_rules
from booking.core.db import db, write_intent
from booking.models import OutboxMessage

log = logging.getLogger(__name__)
DEFAULT_MAIL_FROM = "noreply@localhost"


class MailBackend(Protocol):
    def send(self, message: EmailMessage) -> None: ...

    def close(self) -> None: ...


class ConsoleBackend:
    """Development default: print each mail, readable (not transfer-encoded), to stdout."""

    def send(self, message: EmailMessage) -> None:
        headers = "\n".join(f"{k}: {v}" for k, v in message.items() if k != "Content-Transfer-Encoding")
        print(f"{headers}\n\n{message.get_content()}\n{'-' * 72}", flush=True)
        log.info("mail to %s: %s", message["To"], message["Subject"])

    def close(self) -> None:
        pass


class FileBackend:
    """Append RFC 5322 messages to an mbox file (development, staging, tests)."""

    def __init__(self, path: str):
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        self.path = path
        self._box: mailbox.mbox | None = None

    def send(self, message: EmailMessage) -> None:
        if self._box is None:
            self._box = mailbox.mbox(self.path, create=True)
        self._box.lock()
        try:
            self._box.add(message)
            self._box.flush()
        finally:
            self._box.unlock()

    def close(self) -> None:
        if self._box is not None:
            self._box.close()
            self._box = None


class SmtpBackend:
    """Send through an SMTP server; one connection per delivery run, reopened after an error."""

    def __init__(self, config):
        self.host = config.get("MAIL_SERVER", "localhost")
        self.port = int(config.get("MAIL_PORT", 25))
        self.username = config.get("MAIL_USERNAME")
        self.password = config.get("MAIL_PASSWORD")
        self.use_tls = bool(config.get("MAIL_USE_TLS", False))
        self.use_ssl = bool(config.get("MAIL_USE_SSL", False))
        self.timeout = float(config.get("MAIL_TIMEOUT", 30))
        self._connection: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        context = ssl.create_default_context()
        if self.use_ssl:
            connection = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
        else:
            connection = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            if self.use_tls:
                connection.starttls(context=context)
        if self.username:
            connection.login(self.username, self.password or "")
        return connection

    def send(self, message: EmailMessage) -> None:
        if self._connection is None:
            self._connection = self._connect()
        try:
            self._connection.send_message(message)
        except Exception:
            self.close()
            raise

    def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        try:
            connection.quit()
        except (smtplib.SMTPException, OSError):
            connection.close()


def mail_backend() -> MailBackend:
    """The backend named by ``MAIL_BACKEND``."""
    config = current_app.config
    name = config.get("MAIL_BACKEND", "console")
    if name == "console":
        return ConsoleBackend()
    if name == "file":
        path = config.get("MAIL_FILE_PATH") or "outbox.mbox"
        return FileBackend(os.path.join(current_app.instance_path, path))  # absolute paths stay as they are
    if name == "smtp":
        return SmtpBackend(config)
    raise ValueError(f"MAIL_BACKEND must be console, file or smtp, not {name!r}")


def email_for(message: OutboxMessage) -> EmailMessage:
    """The RFC 5322 form of an outbox row. The Message-ID is derived from the row, so a copy sent
    again after a crash between sending and marking is recognisable as the same mail."""
    sender = current_app.config.get("MAIL_FROM", DEFAULT_MAIL_FROM)
    domain = parseaddr(sender)[1].rpartition("@")[2] or "localhost"
    email = EmailMessage()
    email["From"] = sender
    email["To"] = message.recipient
    # a name stored with a line break (before forms collapsed them) must not make the mail unsendable
    email["Subject"] = input_rules.one_line(message.subject)
    email["Date"] = format_datetime(clock.now())
    email["Message-ID"] = f"<outbox-{message.id}-{int(message.created_at.timestamp())}@{domain}>"
    email["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies, please
    email["X-Outbox-Kind"] = message.kind
    # base64 keeps the mostly-Chinese body 7-bit clean for any SMTP server, and compact
    email.set_content(message.body, charset="utf-8", cte="base64")
    return email


class Delivery(NamedTuple):
    sent: int
    failed: int


def _claim_next(after_id: int, max_attempts: int) -> OutboxMessage | None:
    """Lock the next unsent message. PostgreSQL: SKIP LOCKED lets concurrent senders pass each other,
    and a row another sender has just marked sent no longer matches when the lock is granted.
    SQLite: the unit of work begins IMMEDIATE (write intent), so senders take turns."""
    return db.session.scalar(
        select(OutboxMessage)
        .where(
            OutboxMessage.sent_at.is_(None),
            OutboxMessage.attempts < max_attempts,
            OutboxMessage.id > after_id,
        )
        .order_by(OutboxMessage.id)
        .limit(1)
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    )


def deliver_outbox(limit: int = 100, backend: MailBackend | None = None) -> Delivery:
    """Job: send up to ``limit`` unsent messages, oldest first.

    Unlike operations this commits: each message is its own unit of work (claim, send, mark sent or
    record the error), so a mail sent is marked at once and a failure never holds back the others.
    Call it outside an open transaction. A failed message keeps ``sent_at`` empty and is retried by
    later runs (not this one) until it has had ``MAIL_MAX_ATTEMPTS`` (5) attempts.
    """
    max_attempts = int(current_app.config.get("MAIL_MAX_ATTEMPTS", 5))
    backend = backend or mail_backend()
    sent = failed = 0
    last_id = 0
    try:
        for _ in range(limit):
            with write_intent():
                message = _claim_next(last_id, max_attempts)
                if message is None:
                    db.session.commit()  # ends the claiming transaction
                    break
                last_id = message.id
                message.attempts += 1
                try:
                    backend.send(email_for(message))
                except Exception as error:  # any backend failure: record it, retry on a later run
                    message.last_error = f"{type(error).__name__}: {error}"[:500]
                    failed += 1
                    log.warning("outbox message %s to %s failed: %s", message.id, message.recipient, error)
                else:
                    message.sent_at = clock.now()
                    message.last_error = None
                    sent += 1
                db.session.commit()
    finally:
        backend.close()
    return Delivery(sent, failed)
