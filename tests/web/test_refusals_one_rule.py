"""One translator for an operation's refusal (``booking.web.errors``): a page shows its own words for
the code the API answers with, or the operation's message; beside the field the refusal names."""

from __future__ import annotations

from flask import get_flashed_messages
from flask_babel import lazy_gettext as _l
from wtforms import Form, StringField

from booking.core.db import db
from booking.core.errors import Conflict, DomainError, Invalid
from booking.web.errors import flash_refusal, refusal_message, show_on_named_fields, show_refusal
from booking.web.finance import FINANCE_WORDS
from tests.conftest import csrf_token
from vouchers.models import FinanceException


class CommentForm(Form):
    comment = StringField()
    other = StringField()


def test_the_page_words_come_by_field_then_code_then_text(app):
    with app.test_request_context():
        about_end = Invalid("Bad.", details={"ends_at": ["before start"]})
        assert refusal_message(about_end, {"invalid": "by code"}, invalid={"ends_at": _l("ends")}) == "ends"
        assert refusal_message(about_end, {"invalid": "by code"}, invalid={"gpus": "gpus"}) == "by code"
        conflict = Conflict("Already resolved.", code="invalid_status")
        assert refusal_message(conflict, {"invalid_status": lambda: "decided"}) == "decided"
        assert refusal_message(conflict, by_text={"Already resolved.": "text"}) == "text"
        assert refusal_message(conflict) == "Already resolved."


def test_the_refusal_stands_beside_its_field_else_atop_the_form_or_flashed(app):
    with app.test_request_context():
        form = CommentForm()
        form.validate()
        error = Invalid("Bad.", details={"comment": ["x"]})
        show_refusal(form, error, {"comment": form.comment}, "words")
        assert form.comment.errors == ["words"]
        show_refusal(form, Conflict("No.", code="c"), {"comment": form.comment}, "atop", also=("nothing",))
        assert form.form_errors == ["atop"]
        show_on_named_fields(form, Invalid("Bad.", details={"user_id": ["x"]}), {"user_id": "other"}, "named")
        assert form.other.errors == ["named"]
        show_on_named_fields(form, DomainError("Plain.", code="c"), {}, "unused")
        flash_refusal(Conflict("Flashed.", code="c"))
        assert get_flashed_messages(with_categories=True) == [("error", "Plain."), ("error", "Flashed.")]


def test_resolving_twice_is_refused_alike_through_the_api_and_the_page(api, app, client, login, make):
    officer = make.finance("500106")
    with app.app_context():
        exception = FinanceException(
            kind="over_tolerance", district_code="500106", unique_key="k-1", details={}
        )
        db.session.add(exception)
        db.session.commit()
        exception_id = exception.id
    path = f"/api/v1/finance/exceptions/{exception_id}/resolve"
    assert api.as_(officer).post(path, json={"comment": "Checked."}).status_code == 200
    again = api.as_(officer).post(path, json={"comment": "Checked."})
    assert again.status_code == 409 and again.json["error"]["code"] == "invalid_status"

    login(officer)
    token = csrf_token(client, "/finance/exceptions")
    page = client.post(
        f"/finance/exceptions/{exception_id}/resolve",
        data={"csrf_token": token, f"resolve-{exception_id}-comment": "Checked."},
    )
    assert page.status_code == 409  # the page's words for the API's code, from the one translator
    with app.test_request_context():
        answered = Conflict(again.json["error"]["message"], code=again.json["error"]["code"])
        assert refusal_message(answered, FINANCE_WORDS) == "此项已处理，请刷新页面。"  # zh_CN by default
