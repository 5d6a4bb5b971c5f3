"""A founder opens a compute booking that reconciliation has settled: its page and "my bookings" show
the actual cost and the municipal, district and team shares beside the estimate (Chinese, then
English)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect

from booking.core import clock
from booking.core.db import db, write_intent
from booking.flow.usage import ingest
from booking.models import User
from tests.browser.conftest import sign_in
from tests.browser.helpers import funded_programmes, nav
from vouchers.reconciliation import reconcile

pytestmark = pytest.mark.browser


def settle_compute_booking(app, make):
    """Quoted 20,000 fen (municipal 6,000, district 4,000, team 10,000); 1.5 GPU-hours used, settled
    on 15,000 (municipal 4,500, district 3,000, team 7,500)."""
    provider = make.provider(name="西部算力")
    provider_user = make.user("provider", provider_id=provider.id)
    offer = make.offer(provider, name="A100 集群", gpus_total=8, price_per_gpu_hour_fen=10_000)
    founder = make.user("founder", name="韩梅梅")
    team = make.team(owner=founder, verified=True, name="嘉陵视觉")
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=5)
    funded_programmes(make, team, municipal_bp=3000, district_bp=2000, at=start - timedelta(days=1))
    booking = make.compute_booking(
        team, offer, start, start + timedelta(hours=2), now=start - timedelta(hours=1)
    )
    record = {
        "external_id": "run-1",
        "booking_id": booking.id,
        "started_at": start.isoformat(),
        "ended_at": (start + timedelta(hours=2)).isoformat(),
        "gpu_hours": "1.5",
    }
    with app.app_context(), write_intent():
        assert ingest(db.session.get(User, provider_user.id), [record]).accepted == 1
        db.session.commit()
    with app.app_context(), write_intent():
        assert reconcile(clock.now()).settled == 1
        db.session.commit()
    return founder, offer, booking


def cells(page, label: str):
    """The estimate and settled cells of the cost table's row labelled ``label``."""
    row = page.locator("table.split tr").filter(has=page.get_by_role("rowheader", name=label, exact=True))
    return row.locator("td")


def test_a_settled_booking_shows_the_settlement_beside_the_estimate(page, app, make):
    founder, offer, booking = settle_compute_booking(app, make)

    sign_in(page, founder.email, english=False)
    page.goto(f"/bookings/{booking.id}")
    expect(page.get_by_role("columnheader", name="预估")).to_be_visible()
    expect(page.get_by_role("columnheader", name="结算")).to_be_visible()
    expect(cells(page, "总价")).to_have_text(["¥200.00", "¥150.00"])
    expect(cells(page, "市级算力券")).to_have_text(["-¥60.00", "-¥45.00"])
    expect(cells(page, "区县算力券")).to_have_text(["-¥40.00", "-¥30.00"])
    expect(cells(page, "团队自付")).to_have_text(["¥100.00", "¥75.00"])

    page.get_by_role("link", name="我的预约", exact=True).first.click()
    row = page.get_by_role("row").filter(has_text=offer.name)
    expect(row).to_have_count(1)
    expect(row).to_contain_text("已结算")
    expect(row).to_contain_text("¥200.00")
    expect(row).to_contain_text("实际 ¥150.00")
    expect(row).to_contain_text("市级 ¥45.00")
    expect(row).to_contain_text("区县级 ¥30.00")
    expect(row).to_contain_text("团队自付 ¥75.00")

    page.get_by_role("link", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    row = page.get_by_role("row").filter(has_text=offer.name)
    expect(row).to_contain_text("Actual ¥150.00")
    expect(row).to_contain_text("municipal ¥45.00")
    expect(row).to_contain_text("team pays ¥75.00")
    row.get_by_role("link").first.click()
    expect(cells(page, "Total price")).to_have_text(["¥200.00", "¥150.00"])
    expect(cells(page, "Team pays")).to_have_text(["¥100.00", "¥75.00"])
    nav(page, "My bookings")
    expect(page.get_by_role("columnheader", name="Settlement")).to_be_visible()
