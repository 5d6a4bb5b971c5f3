"""Closing a period is the municipality's act: a period is the platform's ledger month, shared by
every district, so only municipal finance and admins close it (API and HTML), and the form offers
only the ended open months since the first settlement."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from sqlalchemy import func, select

from booking.core import clock
from booking.core.db import db
from tests.conftest import csrf_token, sign_in
from vouchers.models import AccountingPeriod

LATER = datetime(2027, 3, 5, 3, 0, tzinfo=UTC)  # 2026-12 (the settled month), 2027-01 and 2027-02 have ended


def closed_periods(app) -> set[str]:
    with app.app_context():
        return set(db.session.scalars(select(AccountingPeriod.period)))


def test_a_district_officer_may_not_close_a_period_through_the_api(api, make, world, app):
    with clock.frozen_at(LATER):
        refused = api.as_(world["district_officer"]).post("/api/v1/finance/periods/2026-12/close")
    assert refused.status_code == 403
    error = refused.json["error"]
    assert error["code"] == "wrong_level" and "city-wide" in error["message"]
    assert closed_periods(app) == set()
    with clock.frozen_at(LATER):
        by_admin = api.as_(make.user("admin")).post("/api/v1/finance/periods/2026-12/close")
        by_municipal = api.as_(world["municipal_officer"]).post("/api/v1/finance/periods/2027-01/close")
    assert by_admin.status_code == 200 and by_municipal.status_code == 200
    assert closed_periods(app) == {"2026-12", "2027-01"}


def options(body: str) -> list[str]:
    form = body[body.index('action="/finance/periods/close"') :]
    return re.findall(r'<option[^>]*value="([^"]+)"', form[: form.index("</form>")])


def test_district_officers_see_no_close_form_and_a_forged_post_is_refused(client, world, settled, app):
    sign_in(client, world["district_officer"])
    client.get("/language/en")
    with clock.frozen_at(LATER):
        page = client.get("/finance/periods")
        assert page.status_code == 200
        assert "/finance/periods/close" not in page.get_data(as_text=True)
        token = csrf_token(client, "/finance/periods")
        forged = client.post(
            "/finance/periods/close", data={"csrf_token": token, "period": "2026-12", "confirm": "y"}
        )
    assert forged.status_code == 403
    assert closed_periods(app) == set()


def test_the_close_form_says_city_wide_and_offers_months_since_the_first_settlement(
    client, make, world, settled, app
):
    for officer in (world["municipal_officer"], make.user("admin")):
        sign_in(client, officer)
        client.get("/language/en")
        with clock.frozen_at(LATER):
            body = client.get("/finance/periods").get_data(as_text=True)
        assert "city-wide" in body
        # a select of the ended months from the first settlement (2026-12) on, newest first
        assert options(body) == ["2027-02", "2027-01", "2026-12"]
        assert 'name="period" type="text"' not in body
    with clock.frozen_at(LATER):
        token = csrf_token(client, "/finance/periods")
        before = client.post(
            "/finance/periods/close", data={"csrf_token": token, "period": "2026-11", "confirm": "y"}
        )
        assert before.status_code == 422  # before the first settlement: not offered, not taken
        done = client.post(
            "/finance/periods/close", data={"csrf_token": token, "period": "2026-12", "confirm": "y"}
        )
        assert done.status_code == 302
        body = client.get("/finance/periods").get_data(as_text=True)
    assert options(body) == ["2027-02", "2027-01"]
    assert closed_periods(app) == {"2026-12"}


def test_without_a_settlement_no_month_is_offered(client, make, app):
    sign_in(client, make.finance(None))
    client.get("/language/en")
    with clock.frozen_at(LATER):
        body = client.get("/finance/periods").get_data(as_text=True)
    assert "/finance/periods/close" not in body and "since the first settlement" in body
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(AccountingPeriod)) == 0
