"""No raw codes on the finance pages: every exception kind, detail field, audit action, audited
object and field the code base writes has a word (translated into Chinese), and the exceptions
queue and the audit log show words, names and ¥ instead of codes and JSON."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from flask_babel import force_locale
from sqlalchemy import select

from booking.core.db import db
from booking.people import audit
from booking.web import vocabulary
from tests.conftest import sign_in
from tests.vouchers.finance.conftest import PERIOD
from vouchers.models import AuditEntry, FinanceException

ROOT = Path(__file__).resolve().parents[3]
SOURCES = [p for package in ("booking", "vouchers", "instruments") for p in (ROOT / package).rglob("*.py")]
CJK = re.compile(r"[\u4e00-\u9fff]")


def braced(text: str, start: int) -> str:
    """The {...} that opens at ``start`` (brace-matched)."""
    depth = 0
    for i in range(start, len(text)):
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        if depth == 0:
            return text[start : i + 1]
    return text[start:]


def top_level_keys(literal: str) -> set[str]:
    keys, depth = set(), 0
    for match in re.finditer(r'[{}]|"(\w+)":', literal):
        token = match.group(0)
        if token in "{}":
            depth += 1 if token == "{" else -1
        elif depth == 1:
            keys.add(match.group(1))
    return keys


def written_exception_codes() -> tuple[set[str], set[str]]:
    """(kinds, detail fields) of every finance exception the code raises."""
    kinds, fields = set(), set()
    for path in SOURCES:
        text = path.read_text(encoding="utf-8")
        if "FinanceException" not in text or "/models/" in str(path):
            continue
        kinds |= set(re.findall(r'"kind": "(\w+)"', text))
        for match in re.finditer(r'(?:"details": |details = )\{', text):
            fields |= top_level_keys(braced(text, match.end() - 1))
    return kinds, fields


def written_audit_fields() -> set[str]:
    """The keys of every before/after an ``audit.record`` call writes (a payout records its result)."""
    fields = set()
    for path in SOURCES:
        text = path.read_text(encoding="utf-8")
        for match in re.finditer(r"(?:before|after)=\{", text):
            fields |= top_level_keys(braced(text, match.end() - 1))
        if "after=result" in text:
            for match in re.finditer(r"result = \{", text):
                fields |= top_level_keys(braced(text, match.end() - 1))
    return fields


def chinese(app, label) -> str:
    with app.test_request_context(), force_locale("zh_CN"):
        return str(label)


def test_the_scans_find_the_codes_they_look_for():
    kinds, fields = written_exception_codes()
    assert {"unknown_booking", "over_tolerance", "after_expiry", "capture_failed"} <= kinds
    assert {"gpu_hours", "actual_cost_fen", "tolerance_bp", "due_fen"} <= fields
    assert {"status", "amount_fen", "returned_fen", "paid_fen", "programs"} <= written_audit_fields()


@pytest.mark.parametrize(
    ("codes", "vocabulary_of"),
    [
        (lambda: written_exception_codes()[0] | {"after_settlement"}, vocabulary.EXCEPTION_KINDS),
        (lambda: written_exception_codes()[1], vocabulary.EXCEPTION_FIELDS),
        (lambda: set(audit.ACTIONS), vocabulary.AUDIT_ACTIONS),
        (written_audit_fields, vocabulary.AUDIT_FIELDS),
        (
            lambda: {
                "voucher_applications",
                "vouchers",
                "teams",
                "finance_exceptions",
                "accounting_periods",
                "payee",
            },
            vocabulary.AUDIT_OBJECTS,
        ),
    ],
    ids=["exception kinds", "exception fields", "audit actions", "audit fields", "audited objects"],
)
def test_every_code_has_a_chinese_word(app, codes, vocabulary_of):
    for code in codes():
        assert code in vocabulary_of, f"no word for {code!r}"
        word = chinese(app, vocabulary_of[code])
        assert CJK.search(word) and code not in word, f"{code!r} → {word!r}"


def visible_text(html: str) -> str:
    return re.sub(r"<[^>]+>", " ", html)


def login_in_chinese(client, user):
    sign_in(client, user)
    client.get("/language/zh_CN")


def test_the_exceptions_queue_shows_words_names_and_yuan(client, app, make):
    provider = make.provider(name="西部算力云")
    officer = make.finance(None)
    kinds, fields = written_exception_codes()
    details = {
        field: (
            12_345
            if field.endswith("_fen")
            else 2000
            if field.endswith("_bp")
            else "2026-12-01T03:00:00+00:00"
            if field.endswith(("_at", "_usage"))
            else "capture"
            if field == "action"
            else 3
        )
        for field in fields
    }
    with app.app_context():
        for n, kind in enumerate(sorted(kinds | {"after_settlement"})):
            db.session.add(
                FinanceException(
                    kind=kind,
                    provider_id=provider.id,
                    district_code="500106",
                    details=details,
                    unique_key=f"vocabulary-{n}",
                    created_at=datetime(2026, 12, 1, tzinfo=UTC),
                )
            )
        db.session.commit()
    login_in_chinese(client, officer)
    body = client.get("/finance/exceptions").get_data(as_text=True)
    main = body[body.index("<main") :]
    shown = main[main.index('class="f-exceptions"') :]
    for code in kinds | fields | {"after_settlement"}:
        assert not re.search(rf"(?<![\w-]){code}(?![\w-])", visible_text(shown)), (
            f"raw code {code!r} on the page"
        )
    assert "西部算力云" in shown and re.search(r"算力服务商</dt><dd>\d", shown) is None
    assert "¥123.45" in shown and "20%" in shown and "2026-12-01 11:00" in shown
    assert "渝中区" in shown or "500106" not in shown  # the district by name
    filters = main[: main.index('class="f-exceptions"')]
    for kind in kinds:
        assert f">{kind}<" not in filters


def test_the_audit_log_shows_actions_objects_and_changes_in_words(client, api, app, make, world, settled):
    officer = world["municipal_officer"]
    payout = api.as_(officer).post(
        "/api/v1/finance/payouts",
        json={
            "period": PERIOD,
            "payee_kind": "provider",
            "payee_id": world["provider"].id,
            "reference": "SZ-1",
        },
    )
    assert payout.status_code == 201
    with app.app_context():
        for action, before, after in (
            (
                "approve_application",
                {"status": "pending"},
                {"status": "approved", "amount_fen": 50_000, "voucher_id": 7},
            ),
            (
                "revoke_voucher",
                {"status": "active"},
                {"status": "revoked", "reason": "重复", "returned_fen": 1_250},
            ),
            ("verify_team", {"verified": False}, {"verified": True}),
            ("close_period", None, {"closed": True}),
        ):
            audit.record(
                officer,
                action,
                None,
                object_type="voucher_applications",
                object_id="12",
                before=before,
                after=after,
            )
        db.session.commit()
        recorded = set(db.session.scalars(select(AuditEntry.object_type)))
    assert recorded and recorded <= set(vocabulary.AUDIT_OBJECTS)  # every object the log holds has a word
    login_in_chinese(client, officer)
    body = client.get("/finance/audit").get_data(as_text=True)
    table = body[body.index('class="list v-table f-audit"') :]
    for code in [*audit.ACTIONS, *written_audit_fields(), "voucher_applications", "payee", "provider:", '{"']:
        assert not re.search(rf"(?<![\w-]){re.escape(code)}(?![\w-])", visible_text(table)), (
            f"raw {code!r} in the audit log"
        )
    assert "¥500.00" in table and "¥12.50" in table and "¥75.00" in table  # the payout's municipal share
    assert world["provider"].name in table and "SZ-1" in table and world["municipal"].name in table
    assert "已批准" in table and "是" in table
    assert f"<dt>收款方</dt><dd>{world['provider'].name}</dd>" in table  # the payee by name, not "#1"
    filters = body[: body.index('class="list v-table f-audit"')]
    assert ">approve_application<" not in filters
