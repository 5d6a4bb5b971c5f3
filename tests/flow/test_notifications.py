"""The outbox: mails are written with the change they report, delivered once, retried on failure;
bilingual wording with local times and ¥ amounts; reminders once per booking."""

from __future__ import annotations

import mailbox
import socket
import threading
import time
from datetime import UTC, datetime, timedelta, timezone
from email import message_from_bytes
from email.policy import default as default_policy
from functools import partial

import pytest
from sqlalchemy import func, select

from booking.core import clock
from booking.core.db import db
from booking.core.errors import Conflict
from booking.flow import attendance, mail, notifications
from booking.jobs import JOBS, Job, run_job
from booking.models import Booking, OutboxMessage
from tests.support import rows
from tests.support.rows import add_booking, add_member, every_day

# open all week at ¥123.45 an hour: the figures the mails and feeds below are checked against
add_instrument = partial(rows.add_instrument, hours=every_day("00:00", "24:00"), hourly_rate_fen=12_345)

CST = timezone(timedelta(hours=8))
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=CST)  # Tuesday morning in Chongqing


@pytest.fixture
def world(app, make):
    manager = make.user("lab_manager", name="王经理")
    lab = make.lab(manager=manager, name="材料学院测试中心")
    owner = make.user("founder", name="李同学")
    member = make.user("founder", name="Chen")
    team = make.team(owner=owner, verified=True, name="星火团队")
    add_member(app, team, member)
    instrument = add_instrument(app, lab, name="扫描电镜 SEM", location="A栋 101", late_cancel_fee_bp=5000)
    return {
        "manager": manager,
        "lab": lab,
        "owner": owner,
        "member": member,
        "team": team,
        "instrument": instrument,
    }


def outbox(app, **filters) -> list[OutboxMessage]:
    with app.app_context():
        query = select(OutboxMessage).filter_by(**filters).order_by(OutboxMessage.id)
        return list(db.session.scalars(query))


def queue(app, booking_id: int, event: str) -> None:
    with app.app_context():
        notifications.booking_event(db.session.get(Booking, booking_id), event)
        db.session.commit()


@pytest.fixture
def mbox_backend(app, tmp_path, monkeypatch):
    path = tmp_path / "outbox.mbox"
    monkeypatch.setitem(app.config, "MAIL_BACKEND", "file")
    monkeypatch.setitem(app.config, "MAIL_FILE_PATH", str(path))
    monkeypatch.setitem(app.config, "MAIL_FROM", "平台 <noreply@booking.example.cn>")
    return path


def read_mbox(path) -> list:
    box = mailbox.mbox(path)
    try:
        return [message_from_bytes(box.get_bytes(key), policy=default_policy) for key in box.iterkeys()]
    finally:
        box.close()


def deliver(app, **kw):
    with app.app_context():
        return mail.deliver_outbox(**kw)


# --- queued in the same transaction ---------------------------------------------------------------------


def test_outbox_rows_roll_back_with_the_change(app, world):
    booking = add_booking(
        app, world["team"], world["instrument"], NOW + timedelta(days=2), NOW + timedelta(days=2, hours=2)
    )
    with app.app_context():
        row = db.session.get(Booking, booking.id)
        row.status = "cancelled"
        notifications.booking_event(row, "cancelled")
        queued = db.session.scalar(select(func.count()).select_from(OutboxMessage))
        assert queued == 2  # flushed into the transaction, one per team member
        db.session.rollback()
    assert outbox(app) == []
    with app.app_context():
        assert db.session.get(Booking, booking.id).status == "confirmed"


def test_outbox_rows_commit_with_the_change(app, world):
    booking = add_booking(
        app, world["team"], world["instrument"], NOW + timedelta(days=2), NOW + timedelta(days=2, hours=2)
    )
    queue(app, booking.id, "approved")
    rows = outbox(app)
    assert sorted(r.recipient for r in rows) == sorted([world["owner"].email, world["member"].email])
    assert {r.kind for r in rows} == {"booking_approved"}
    assert all(r.booking_id == booking.id and r.sent_at is None and r.attempts == 0 for r in rows)


def test_a_request_failing_after_the_mail_was_queued_sends_nothing(api, app, world, monkeypatch):
    """The request boundary rolls back the change and its mail together."""
    booking = add_booking(
        app, world["team"], world["instrument"], NOW + timedelta(days=2), NOW + timedelta(days=2, hours=1)
    )
    real_booking_event = notifications.booking_event

    def queue_then_fail(row, event):
        real_booking_event(row, event)
        assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 2
        raise Conflict("Something else went wrong after the mail was queued.")

    monkeypatch.setattr(notifications, "booking_event", queue_then_fail)
    with clock.frozen_at(NOW):
        response = api.as_(world["owner"]).post(f"/api/v1/bookings/{booking.id}/cancel", json={})
    assert response.status_code == 409
    assert outbox(app) == []
    with app.app_context():
        assert db.session.get(Booking, booking.id).status == "confirmed"


def test_late_cancellation_mail_through_the_api(api, app, world):
    """The real flow: cancelling late charges the fee and the mail states it in ¥, both languages."""
    starts = datetime(2026, 12, 2, 1, 0, tzinfo=UTC)  # 09:00 in Chongqing
    booking = add_booking(app, world["team"], world["instrument"], starts, starts + timedelta(hours=2))
    with clock.frozen_at(NOW + timedelta(hours=2)):  # 22 h before the start: late
        response = api.as_(world["owner"]).post(f"/api/v1/bookings/{booking.id}/cancel", json={})
    assert response.status_code == 200, response.json
    assert response.json["fee_fen"] == 12_345  # 50% of 2 h at ¥123.45
    rows = outbox(app, kind="booking_cancelled")
    assert len(rows) == 2
    body = rows[0].body
    assert "¥123.45" in body
    assert "逾期取消费：¥123.45" in body and "Late cancellation fee: ¥123.45" in body
    assert "09:00–11:00" in body and "Asia/Shanghai, UTC+08:00" in body
    assert "2026年12月2日（周三）" in body and "Wed 2026-12-02" in body


# --- wording ---------------------------------------------------------------------------------------------


def test_request_for_approval_goes_to_the_team_and_the_lab_managers(app, world, make):
    second_manager = make.user("lab_manager")
    with app.app_context():
        from instruments import labs
        from instruments.models import Lab

        labs.add_lab_manager(db.session.get(Lab, world["lab"].id), second_manager.id)
        db.session.commit()
    booking = add_booking(
        app,
        world["team"],
        world["instrument"],
        NOW + timedelta(days=3),
        NOW + timedelta(days=3, hours=1),
        status="pending_approval",
    )
    queue(app, booking.id, "requested")
    team_mails = outbox(app, kind="booking_requested")
    manager_mails = outbox(app, kind="booking_approval_needed")
    assert {m.recipient for m in team_mails} == {world["owner"].email, world["member"].email}
    assert {m.recipient for m in manager_mails} == {world["manager"].email, second_manager.email}
    assert "等待实验室审核" in team_mails[0].body
    assert "星火团队" in manager_mails[0].body and "approve or reject" in manager_mails[0].body


def test_a_confirmed_request_is_a_confirmation_and_managers_are_not_bothered(app, world):
    booking = add_booking(
        app, world["team"], world["instrument"], NOW + timedelta(days=3), NOW + timedelta(days=3, hours=1)
    )
    queue(app, booking.id, "requested")
    assert {m.kind for m in outbox(app)} == {"booking_confirmed"}


def test_mails_are_bilingual_chinese_first(app, world):
    starts = datetime(2026, 12, 3, 6, 30, tzinfo=UTC)  # 14:30 in Chongqing
    booking = add_booking(app, world["team"], world["instrument"], starts, starts + timedelta(minutes=90))
    queue(app, booking.id, "confirmed")
    mail = outbox(app, recipient=world["owner"].email)[0]
    assert mail.subject.startswith("预约已确认 | Booking confirmed: 扫描电镜 SEM 2026-12-03 14:30")
    body = mail.body
    assert body.index("李同学，您好") < body.index("—— English ——") < body.index("Hello 李同学")
    assert "预计费用：¥185.18" in body and "Estimated cost: ¥185.18" in body  # 1.5 h × ¥123.45, half up
    assert "14:30–16:00" in body and "Thu 2026-12-03" in body
    assert "材料学院测试中心" in body and "A栋 101" in body


def test_rejection_states_the_reason(app, world):
    booking = add_booking(
        app,
        world["team"],
        world["instrument"],
        NOW + timedelta(days=3),
        NOW + timedelta(days=3, hours=1),
        status="rejected",
        reason="设备维护 maintenance",
    )
    queue(app, booking.id, "rejected")
    body = outbox(app)[0].body
    assert "原因：设备维护 maintenance" in body and "Reason: 设备维护 maintenance" in body


def test_free_cancellation_says_so(app, world):
    booking = add_booking(
        app,
        world["team"],
        world["instrument"],
        NOW + timedelta(days=3),
        NOW + timedelta(days=3, hours=1),
        status="cancelled",
    )
    queue(app, booking.id, "cancelled")
    body = outbox(app)[0].body
    assert "本次取消不收取费用" in body and "No cancellation fee" in body


def test_no_show_mail_states_the_fee(app, world):
    starts = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)
    booking = add_booking(
        app,
        world["team"],
        world["instrument"],
        starts,
        starts + timedelta(hours=1),
        status="no_show",
        fee_fen=1_234_567,
    )
    queue(app, booking.id, "no_show")
    body = outbox(app)[0].body
    assert "未到场费用：¥12,345.67" in body and "No-show fee: ¥12,345.67" in body
    assert "15 分钟" in body and "within 15 minutes" in body


def test_times_follow_the_instruments_timezone(app, world):
    instrument = add_instrument(app, world["lab"], name="Cryo-EM", timezone="Europe/Berlin")
    starts = datetime(2026, 7, 1, 8, 0, tzinfo=UTC)  # 10:00 CEST (summer time)
    booking = add_booking(app, world["team"], instrument, starts, starts + timedelta(hours=1))
    queue(app, booking.id, "confirmed")
    body = outbox(app)[0].body
    assert "10:00–11:00" in body and "Europe/Berlin, UTC+02:00" in body


def test_the_no_show_job_queues_no_show_mails(app, world):
    starts = NOW - timedelta(hours=1)
    add_booking(app, world["team"], world["instrument"], starts, starts + timedelta(hours=2))
    with app.app_context():
        assert attendance.mark_no_shows(NOW) == 1
        db.session.commit()
    assert {m.kind for m in outbox(app)} == {"booking_no_show"}


def test_unknown_event_is_refused(app, world):
    booking = add_booking(
        app, world["team"], world["instrument"], NOW + timedelta(days=3), NOW + timedelta(days=3, hours=1)
    )
    with app.app_context(), pytest.raises(ValueError):
        notifications.booking_event(db.session.get(Booking, booking.id), "exploded")


# --- reminders -------------------------------------------------------------------------------------------


def remind(app, now) -> int:
    with app.app_context():
        count = notifications.send_reminders(now)
        db.session.commit()
        return count


def test_reminders_are_queued_once_for_confirmed_bookings_starting_soon(app, world):
    team, instrument = world["team"], world["instrument"]
    soon = add_booking(app, team, instrument, NOW + timedelta(hours=10), NOW + timedelta(hours=11))
    later = add_booking(app, team, instrument, NOW + timedelta(hours=30), NOW + timedelta(hours=31))
    add_booking(
        app, team, instrument, NOW + timedelta(hours=2), NOW + timedelta(hours=3), status="pending_approval"
    )
    add_booking(app, team, instrument, NOW + timedelta(hours=4), NOW + timedelta(hours=5), status="cancelled")
    add_booking(app, team, instrument, NOW - timedelta(hours=1), NOW + timedelta(hours=1))  # already started

    assert remind(app, NOW) == 1
    reminders = outbox(app, kind="booking_reminder")
    assert {m.booking_id for m in reminders} == {soon.id} and len(reminders) == 2
    assert "将于 2026年12月1日（周二） 19:00–20:00" in reminders[0].body
    assert remind(app, NOW) == 0
    assert remind(app, NOW + timedelta(hours=1)) == 0  # still only the one due

    assert remind(app, NOW + timedelta(hours=7)) == 1  # now `later` is within 24 h
    assert {m.booking_id for m in outbox(app, kind="booking_reminder")} == {soon.id, later.id}
    with app.app_context():
        assert db.session.get(Booking, soon.id).reminder_sent_at == NOW


def test_reminder_window_is_configurable(app, world, monkeypatch):
    monkeypatch.setitem(app.config, "REMINDER_HOURS", 48)
    add_booking(app, world["team"], world["instrument"], NOW + timedelta(hours=30), NOW + timedelta(hours=31))
    assert remind(app, NOW) == 1


def test_both_run_as_scheduler_jobs(app, world, mbox_backend, monkeypatch):
    """Under the jobs runner (write intent, frozen clock, its own commit), as the scheduler runs them."""
    monkeypatch.setitem(
        JOBS, "reminders", Job("reminders", notifications.send_reminders, timedelta(minutes=5), "")
    )
    monkeypatch.setitem(
        JOBS,
        "deliver_outbox",
        Job("deliver_outbox", lambda now: mail.deliver_outbox(), timedelta(minutes=1), ""),
    )
    booking = add_booking(
        app, world["team"], world["instrument"], NOW + timedelta(hours=10), NOW + timedelta(hours=11)
    )
    with app.app_context():
        assert run_job("reminders", NOW) == 1
        assert run_job("reminders", NOW) == 0
        assert run_job("deliver_outbox", NOW) == mail.Delivery(sent=2, failed=0)
    assert len(read_mbox(mbox_backend)) == 2
    rows = outbox(app, booking_id=booking.id)
    assert {r.kind for r in rows} == {"booking_reminder"} and all(r.sent_at == NOW for r in rows)


# --- delivery --------------------------------------------------------------------------------------------


def test_file_backend_writes_parseable_messages_and_marks_them_sent(app, world, mbox_backend):
    starts = datetime(2026, 12, 2, 1, 0, tzinfo=UTC)
    booking = add_booking(app, world["team"], world["instrument"], starts, starts + timedelta(hours=2))
    queue(app, booking.id, "confirmed")
    with clock.frozen_at(NOW):
        result = deliver(app)
    assert result == mail.Delivery(sent=2, failed=0)

    messages = read_mbox(mbox_backend)
    assert sorted(m["To"] for m in messages) == sorted([world["owner"].email, world["member"].email])
    first = messages[0]
    assert first["Subject"].startswith("预约已确认 | Booking confirmed")
    assert first["From"].addresses[0].addr_spec == "noreply@booking.example.cn"
    assert first["Message-ID"].startswith("<outbox-") and first["Message-ID"].endswith("@booking.example.cn>")
    assert first["Auto-Submitted"] == "auto-generated"
    assert first["Date"].datetime == NOW
    content = first.get_content()
    assert "您好" in content and "Hello" in content and "09:00–11:00" in content
    assert first.as_bytes().isascii()  # 7-bit clean on the wire

    rows = outbox(app)
    assert all(r.sent_at == NOW and r.attempts == 1 and r.last_error is None for r in rows)


def test_delivering_twice_sends_nothing_twice(app, world, mbox_backend):
    booking = add_booking(
        app, world["team"], world["instrument"], NOW + timedelta(days=2), NOW + timedelta(days=2, hours=1)
    )
    queue(app, booking.id, "confirmed")
    assert deliver(app).sent == 2
    assert deliver(app) == mail.Delivery(0, 0)
    queue(app, booking.id, "reminder")
    assert deliver(app).sent == 2
    ids = [m["Message-ID"] for m in read_mbox(mbox_backend)]
    assert len(ids) == 4 and len(set(ids)) == 4


def test_delivery_respects_the_limit(app, world, mbox_backend):
    booking = add_booking(
        app, world["team"], world["instrument"], NOW + timedelta(days=2), NOW + timedelta(days=2, hours=1)
    )
    queue(app, booking.id, "confirmed")
    queue(app, booking.id, "reminder")
    assert deliver(app, limit=3).sent == 3
    assert deliver(app, limit=3).sent == 1


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_failure_counts_the_attempt_and_keeps_the_message_for_retry(app, world, monkeypatch, mbox_backend):
    booking = add_booking(
        app, world["team"], world["instrument"], NOW + timedelta(days=2), NOW + timedelta(days=2, hours=1)
    )
    queue(app, booking.id, "approved")
    monkeypatch.setitem(app.config, "MAIL_BACKEND", "smtp")
    monkeypatch.setitem(app.config, "MAIL_SERVER", "127.0.0.1")
    monkeypatch.setitem(app.config, "MAIL_PORT", _closed_port())
    monkeypatch.setitem(app.config, "MAIL_TIMEOUT", 5)

    assert deliver(app) == mail.Delivery(sent=0, failed=2)  # each tried once per run
    rows = outbox(app)
    assert all(r.sent_at is None and r.attempts == 1 and "ConnectionRefused" in r.last_error for r in rows)
    assert deliver(app).failed == 2
    assert all(r.attempts == 2 for r in outbox(app))

    monkeypatch.setitem(app.config, "MAIL_BACKEND", "file")  # the server is back
    assert deliver(app).sent == 2
    rows = outbox(app)
    assert all(r.sent_at is not None and r.attempts == 3 and r.last_error is None for r in rows)
    assert len(read_mbox(mbox_backend)) == 2


class FlakyBackend:
    """Refuses mail to one recipient, records the rest."""

    def __init__(self, refuse: str):
        self.refuse = refuse
        self.sent: list = []
        self.closed = False

    def send(self, message):
        if message["To"] == self.refuse:
            raise OSError("mailbox unavailable")
        self.sent.append(message)

    def close(self):
        self.closed = True


def test_one_failure_does_not_hold_back_the_others(app, world):
    booking = add_booking(
        app, world["team"], world["instrument"], NOW + timedelta(days=2), NOW + timedelta(days=2, hours=1)
    )
    queue(app, booking.id, "approved")
    backend = FlakyBackend(refuse=world["owner"].email)
    assert deliver(app, backend=backend) == mail.Delivery(sent=1, failed=1)
    assert [m["To"] for m in backend.sent] == [world["member"].email] and backend.closed
    failed = outbox(app, recipient=world["owner"].email)[0]
    assert failed.sent_at is None and failed.last_error == "OSError: mailbox unavailable"


def test_messages_with_five_attempts_are_given_up(app, world):
    booking = add_booking(
        app, world["team"], world["instrument"], NOW + timedelta(days=2), NOW + timedelta(days=2, hours=1)
    )
    queue(app, booking.id, "approved")
    backend = FlakyBackend(refuse=world["owner"].email)
    for _ in range(5):
        deliver(app, backend=backend)
    assert outbox(app, recipient=world["owner"].email)[0].attempts == 5
    assert deliver(app, backend=backend) == mail.Delivery(0, 0)
    assert outbox(app, recipient=world["owner"].email)[0].attempts == 5


def test_smtp_backend_uses_tls_login_and_sender(app, world, monkeypatch):
    calls = []

    class FakeSMTP:
        def __init__(self, host, port, timeout):
            calls.append(("connect", host, port))

        def starttls(self, context):
            calls.append(("starttls",))

        def login(self, user, password):
            calls.append(("login", user, password))

        def send_message(self, message):
            calls.append(("send", message["From"], message["To"]))

        def quit(self):
            calls.append(("quit",))

    monkeypatch.setattr(mail.smtplib, "SMTP", FakeSMTP)
    for key, value in {
        "MAIL_BACKEND": "smtp",
        "MAIL_SERVER": "smtp.example.cn",
        "MAIL_PORT": 587,
        "MAIL_USE_TLS": True,
        "MAIL_USERNAME": "robot",
        "MAIL_PASSWORD": "pw",
        "MAIL_FROM": "noreply@booking.example.cn",
    }.items():
        monkeypatch.setitem(app.config, key, value)
    booking = add_booking(
        app, world["team"], world["instrument"], NOW + timedelta(days=2), NOW + timedelta(days=2, hours=1)
    )
    queue(app, booking.id, "approved")
    assert deliver(app).sent == 2
    assert calls[:3] == [("connect", "smtp.example.cn", 587), ("starttls",), ("login", "robot", "pw")]
    assert [c[0] for c in calls[3:]] == ["send", "send", "quit"]  # one connection for the run
    assert calls[3][1] == "noreply@booking.example.cn"


def test_console_backend_prints(app, world, capsys, monkeypatch):
    monkeypatch.setitem(app.config, "MAIL_BACKEND", "console")
    booking = add_booking(
        app, world["team"], world["instrument"], NOW + timedelta(days=2), NOW + timedelta(days=2, hours=1)
    )
    queue(app, booking.id, "approved")
    assert deliver(app).sent == 2
    printed = capsys.readouterr().out
    assert "预约已通过审核 | Booking approved" in printed and "实验室已批准" in printed


def test_unknown_backend_is_a_configuration_error(app, monkeypatch):
    monkeypatch.setitem(app.config, "MAIL_BACKEND", "pigeon")
    with pytest.raises(ValueError, match="MAIL_BACKEND"):
        deliver(app)


# --- concurrent senders ----------------------------------------------------------------------------------


class SlowRecordingBackend:
    def __init__(self, log: list):
        self.log = log

    def send(self, message):
        time.sleep(0.005)  # long enough for the other sender to try the same rows
        self.log.append(message["Message-ID"])

    def close(self):
        pass


@pytest.mark.concurrency
def test_concurrent_senders_never_send_one_message_twice(app, make):
    manager = make.user("lab_manager")
    lab = make.lab(manager=manager)
    team = make.team(verified=True)
    for _ in range(5):
        add_member(app, team, make.user("founder"))
    instrument = add_instrument(app, lab)
    for day in range(1, 5):
        booking = add_booking(
            app, team, instrument, NOW + timedelta(days=day), NOW + timedelta(days=day, hours=1)
        )
        queue(app, booking.id, "confirmed")  # 6 members × 4 bookings = 24 messages
    sent: list = []
    barrier = threading.Barrier(3)
    errors: list = []

    def sender():
        try:
            with app.app_context():
                barrier.wait(timeout=10)
                mail.deliver_outbox(backend=SlowRecordingBackend(sent))
        except Exception as error:  # surfaced below
            errors.append(error)

    threads = [threading.Thread(target=sender) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert len(sent) == 24 and len(set(sent)) == 24
    rows = outbox(app)
    assert all(r.sent_at is not None and r.attempts == 1 for r in rows)
