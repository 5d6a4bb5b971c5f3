"""Programmes may cover lab testing services (送样检测): a third resource kind, accepted by the API and
the programme form, shown in words, and enforced by the schema's CHECK (a programme covers something)."""

from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from booking.core.db import db, write_intent
from tests.conftest import csrf_token
from vouchers.models import Program

PROGRAM = {
    "name": "沙坪坝区检测券",
    "level": "municipal",
    "resource_kinds": ["service"],
    "rate_bp": 5000,
    "budget_fen": 1_000_000,
    "per_team_cap_fen": 100_000,
    "valid_from": "2026-01-01",
    "valid_to": "2030-12-31",
    "voucher_validity_days": 365,
}


def test_the_api_accepts_service_as_a_resource_kind(api, make, app):
    officer = make.finance(None)
    response = api.as_(officer).post("/api/v1/programs", json=PROGRAM)
    assert response.status_code == 201, response.json
    assert response.json["resource_kinds"] == ["service"]
    with app.app_context():
        program = db.session.get(Program, response.json["id"])
        assert (
            program.covers("service") and not program.covers("instrument") and not program.covers("compute")
        )
    every = {**PROGRAM, "resource_kinds": ["compute", "instrument", "service"]}
    response = api.as_(officer).post("/api/v1/programs", json=every)
    assert response.status_code == 201 and response.json["resource_kinds"] == [
        "compute",
        "instrument",
        "service",
    ]
    again = {**PROGRAM, "resource_kinds": ["service", "service"]}
    assert api.as_(officer).post("/api/v1/programs", json=again).status_code == 422


def test_the_programme_form_offers_testing_services_and_the_pages_say_so(client, make, login, app):
    login(make.finance(None))
    page = client.get("/programs").get_data(as_text=True)
    assert 'value="service"' in page and "检测服务" in page
    data = {
        "name": "检测服务券",
        "resource_kinds": ["service"],
        "rate_percent": "50",
        "budget_yuan": "10000",
        "per_team_cap_yuan": "1000",
        "valid_from": "2026-01-01",
        "valid_to": "2030-12-31",
        "voucher_validity_days": "365",
        "csrf_token": csrf_token(client, "/programs"),
    }
    response = client.post("/programs", data=data)
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    program_id = int(response.headers["Location"].rsplit("/", 1)[1])
    with app.app_context():
        program = db.session.get(Program, program_id)
        assert program.covers_service and not program.covers_compute and not program.covers_instrument
    detail = client.get(f"/programs/{program_id}").get_data(as_text=True)
    assert "检测服务" in detail and ">service<" not in detail
    listing = client.get("/programs").get_data(as_text=True)
    assert "检测服务" in listing
    client.get("/language/en")
    assert "testing services" in client.get(f"/programs/{program_id}").get_data(as_text=True)


def test_a_programme_covering_nothing_is_refused_by_the_schema(make, app):
    program = make.program(resource_kinds=["service"], valid_to=date(2030, 12, 31))
    with app.app_context(), write_intent(), pytest.raises(IntegrityError), db.session.begin_nested():
        db.session.execute(sa.update(Program).where(Program.id == program.id).values(covers_service=False))
