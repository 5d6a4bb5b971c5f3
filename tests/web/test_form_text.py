"""Text typed into HTML forms is taken as the API takes it: names on one line (a CR/LF in an instrument's
name made every mail about it unsendable), NUL refused with a message next to the field; one base form
does it for every form."""

from __future__ import annotations

import inspect

from flask_wtf import FlaskForm
from sqlalchemy import select
from werkzeug.datastructures import MultiDict
from wtforms import HiddenField, PasswordField, StringField, TextAreaField

import booking.web.account
import booking.web.admin_forms
import booking.web.compute_forms
import booking.web.finance_forms
import booking.web.forms
import booking.web.voucher_forms
from booking.core.db import db
from booking.web.form_base import PlatformForm
from instruments.models import Instrument
from tests.conftest import csrf_token

FORM_MODULES = (
    booking.web.account,
    booking.web.admin_forms,
    booking.web.compute_forms,
    booking.web.finance_forms,
    booking.web.forms,
    booking.web.voucher_forms,
)


def _all_form_classes() -> list[type]:
    found, stack = set(), [FlaskForm]
    while stack:
        for subclass in stack.pop().__subclasses__():
            found.add(subclass)
            stack.append(subclass)
    return sorted(found, key=lambda c: (c.__module__, c.__name__))


def test_every_form_of_the_platform_is_a_platform_form():
    for module in FORM_MODULES:  # imported, so their classes are among FlaskForm's subclasses
        assert any(inspect.isclass(v) and issubclass(v, FlaskForm) for v in vars(module).values())
    platform_forms = [
        c for c in _all_form_classes() if c.__module__.startswith(("booking", "instruments", "vouchers"))
    ]
    assert len(platform_forms) > 30
    strays = [f"{c.__module__}.{c.__name__}" for c in platform_forms if not issubclass(c, PlatformForm)]
    assert not strays, f"forms that skip the text rules (derive them from PlatformForm): {strays}"


def _text_fields(form) -> list:
    return [field for field in form if isinstance(field, StringField) and not isinstance(field, HiddenField)]


def test_single_line_text_fields_of_every_form_are_collapsed_and_nul_refused(app):
    checked = 0
    with app.test_request_context("/", method="POST"):
        for form_class in _all_form_classes():
            if not issubclass(form_class, PlatformForm) or form_class is PlatformForm:
                continue
            try:
                probe = form_class(formdata=None, meta={"csrf": False})
            except (TypeError, ValueError):  # a form that needs constructor arguments
                continue
            names = [f.name for f in _text_fields(probe) if not isinstance(f, PasswordField)]
            if not names:
                continue
            form = form_class(
                formdata=MultiDict({name: " 渝\r\n北\t Lab \n" for name in names}), meta={"csrf": False}
            )
            nul = form_class(formdata=MultiDict({name: "a\x00b" for name in names}), meta={"csrf": False})
            for name in names:
                field = form[name]
                if isinstance(field, TextAreaField):  # multi-line text keeps its lines
                    assert field.data == " 渝\r\n北\t Lab \n", (form_class, name)
                else:
                    assert field.data == "渝 北 Lab", (form_class, name, field.data)
                refused = [str(error) for error in nul[name].process_errors]
                assert refused == ["不得包含 NUL 等控制字符。"], (form_class, name)
                checked += 1
    assert checked > 20


def test_passwords_are_kept_as_typed(app):
    with app.test_request_context("/", method="POST"):
        form = booking.web.forms.SignInForm(
            formdata=MultiDict({"email": "a@b.cn", "password": " pass word \n"}), meta={"csrf": False}
        )
        assert form.password.data == " pass word \n"


def test_an_instrument_named_with_a_line_break_in_the_form_is_stored_on_one_line(client, app, make, login):
    manager = make.user("lab_manager")
    lab = make.lab(manager=manager)
    login(manager)
    data = {
        "csrf_token": csrf_token(client, "/lab/instruments/new"),
        "lab_id": str(lab.id),
        "name": "拉曼\r\nBcc: x@example.cn",
        "category": "spectro\nscopy",
        "description": "第一行\r\n第二行",
        "location": "A 楼\r\n203",
        "hourly_rate_yuan": "120.50",
        "operation_mode": "project",
        "slot_minutes": "60",
        "min_minutes": "60",
        "max_minutes": "240",
        "lead_minutes": "120",
        "horizon_days": "30",
        "free_cancel_hours": "48",
        "late_cancel_fee_percent": "25",
        "no_show_grace_minutes": "10",
        "no_show_fee_percent": "100",
        "timezone": "Asia/Shanghai",
    }
    response = client.post("/lab/instruments/new", data=data)
    assert response.status_code == 302, response.get_data(as_text=True)[-1500:]
    with app.app_context():
        instrument = db.session.scalar(select(Instrument).where(Instrument.lab_id == lab.id))
        assert instrument.name == "拉曼 Bcc: x@example.cn"
        assert (instrument.category, instrument.location) == ("spectro scopy", "A 楼 203")
        assert instrument.description == "第一行\r\n第二行"


def test_dates_at_the_ends_of_the_calendar_are_refused_in_forms_not_a_500(client, make, login):
    login(make.finance(None))
    for query in ("since=0001-01-01", "until=9999-12-31", "since=0001-01-01&until=9999-12-31"):
        response = client.get(f"/finance/audit?{query}")
        assert response.status_code in (200, 422), (query, response.status_code)
        assert "须在 1900 年至 2199 年之间" in response.get_data(as_text=True), query
    assert client.get("/finance/audit?since=2026-01-01&until=2026-12-31").status_code == 200


def test_numbers_that_are_not_finite_are_refused_in_forms_not_a_500(client, app, make, login):
    manager = make.user("lab_manager")
    lab = make.lab(manager=manager)
    login(manager)
    base = {
        "csrf_token": csrf_token(client, "/lab/instruments/new"),
        "lab_id": str(lab.id),
        "name": "拉曼",
        "category": "spectroscopy",
        "hourly_rate_yuan": "120.50",
        "operation_mode": "project",
        "slot_minutes": "60",
        "min_minutes": "60",
        "max_minutes": "240",
        "lead_minutes": "120",
        "horizon_days": "30",
        "free_cancel_hours": "48",
        "late_cancel_fee_percent": "25",
        "no_show_grace_minutes": "10",
        "no_show_fee_percent": "100",
        "timezone": "Asia/Shanghai",
    }
    for field in ("hourly_rate_yuan", "late_cancel_fee_percent", "no_show_fee_percent"):
        for value in ("NaN", "sNaN", "Infinity", "-Inf"):
            response = client.post("/lab/instruments/new", data={**base, field: value})
            assert response.status_code == 422, (field, value, response.status_code)
    with app.app_context():
        assert db.session.scalar(select(Instrument).where(Instrument.lab_id == lab.id)) is None
