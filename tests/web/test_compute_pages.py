"""The HTML side of compute: the offers catalogue, an offer's GPU capacity chart and free periods, and
booking GPUs in two steps (price and voucher split first, then confirm), shown in "my bookings".

Pages are asserted in Chinese (the default UI language) unless a test switches to English. Times are
Beijing time (Asia/Shanghai, UTC+8); 2026-03-02 is a Monday.
"""

from __future__ import annotations

import re
from datetime import datetime
from uuid import uuid4
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from booking.core import clock
from booking.core.db import db
from booking.models import Booking
from tests.conftest import csrf_token
from tests.flow.payments.conftest import localstripe, payments_on  # noqa: F401 - fixtures
from vouchers import commitments

CST = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 3, 2, 9, 20, tzinfo=CST)
SEGMENT_RE = re.compile(
    r'<g class="c-seg" data-free="(-?\d+)" data-used="(\d+)" data-starts="([\dT:-]+)" data-ends="([\dT:-]+)">'
)


def cst(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=CST)


def text(response) -> str:
    return response.get_data(as_text=True)


def segments(page: str) -> list[tuple[int, int, str, str]]:
    return [(int(f), int(u), s, e) for f, u, s, e in SEGMENT_RE.findall(page)]


def booking_count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Booking))


@pytest.fixture(autouse=True)
def frozen_now():
    with clock.frozen_at(NOW):
        yield


@pytest.fixture
def world(make):
    provider = make.provider(name="渝算云")
    founder = make.user("founder")
    team = make.team(owner=founder, verified=True, name="星火团队")
    offer = make.offer(
        provider, name="A100 集群", gpu_model="A100-80G", gpus_total=8, price_per_gpu_hour_fen=1_000
    )
    return {"provider": provider, "founder": founder, "team": team, "offer": offer}


def book_form(token: str, team_id: int, gpus: int, starts: str, ends: str, **extra) -> dict:
    return {
        "csrf_token": token,
        "request_key": uuid4().hex,
        "team_id": str(team_id),
        "gpus": str(gpus),
        "starts_at": starts,
        "ends_at": ends,
        "use_vouchers": "y",
        **extra,
    }


# --- catalogue ---------------------------------------------------------------------------------------------


def test_catalogue_lists_active_offers_and_filters_by_gpu_model(client, make, login, world):
    make.offer(
        world["provider"], name="H800 池", gpu_model="H800", gpus_total=16, price_per_gpu_hour_fen=2_550
    )
    make.offer(world["provider"], name="退役集群", gpu_model="V100", active=False)
    login(world["founder"])

    page = text(client.get("/compute"))
    assert "A100 集群" in page and "H800 池" in page
    assert "退役集群" not in page and ">V100<" not in page  # inactive: neither listed nor a filter choice
    assert "渝算云" in page  # the provider
    assert "¥10.00/GPU·小时" in page and "¥25.50/GPU·小时" in page
    assert '<option value="H800">H800</option>' in page

    page = text(client.get("/compute?gpu_model=H800"))
    assert "H800 池" in page and "A100 集群" not in page
    page = text(client.get("/compute?gpu_model=nothing"))
    assert "没有符合条件的算力" in page


def test_pages_need_sign_in_and_only_founders_book(client, make, login, world):
    offer = world["offer"]
    assert client.get("/compute").status_code == 302
    assert client.get(f"/compute/offers/{offer.id}").status_code == 302
    provider_user = make.user("provider", provider_id=world["provider"].id)
    login(provider_user)
    page = client.get(f"/compute/offers/{offer.id}")
    assert page.status_code == 200
    assert 'name="gpus"' not in text(page) and "已认证团队的创始人可预约 GPU" in text(page)
    token = csrf_token(client, f"/compute/offers/{offer.id}")
    refused = client.post(
        f"/compute/offers/{offer.id}/book",
        data=book_form(token, world["team"].id, 1, "2026-03-03T10:00", "2026-03-03T11:00"),
    )
    assert refused.status_code == 403
    assert client.get("/compute/offers/999999").status_code == 404


# --- the capacity chart ------------------------------------------------------------------------------------


def test_chart_and_table_show_the_booked_gpus(client, make, login, world):
    offer, team = world["offer"], world["team"]
    make.compute_booking(team, offer, cst(3, 10), cst(3, 12), gpus=3)
    make.compute_booking(team, offer, cst(3, 11), cst(3, 14), gpus=5)
    login(world["founder"])
    response = client.get(f"/compute/offers/{offer.id}")
    page = text(response)
    assert response.status_code == 200
    found = segments(page)
    # the week from the start of the current hour: free 8, then 5 (3 booked), 0 (3 + 5), 3, then 8 again
    assert found == [
        (8, 0, "2026-03-02T09:00", "2026-03-03T10:00"),
        (5, 3, "2026-03-03T10:00", "2026-03-03T11:00"),
        (0, 8, "2026-03-03T11:00", "2026-03-03T12:00"),
        (3, 5, "2026-03-03T12:00", "2026-03-03T14:00"),
        (8, 0, "2026-03-03T14:00", "2026-03-09T09:00"),
    ]
    assert '<svg class="c-capacity"' in page and "<script" not in page and 'style="' not in page
    assert "8 块中 5 块空闲" in page  # the chart's tooltips
    assert '<td class="c-free-count" data-label="空闲 GPU">5 / 8 块</td>' in page  # the table of free periods
    assert "任何时刻至少有 0 块 GPU 空闲" in page
    # the full hour has no "Book" link; a free one links to the form pre-filled with its times
    assert "starts=2026-03-03T12:00&amp;ends=2026-03-03T14:00" in page
    assert "starts=2026-03-03T11:00" not in page
    # a free period that has begun is offered from the next minute
    assert "starts=2026-03-02T09:21&amp;ends=2026-03-03T10:00" in page

    prefilled = text(client.get(f"/compute/offers/{offer.id}?starts=2026-03-03T12:00&ends=2026-03-03T14:00"))
    assert 'value="2026-03-03T12:00"' in prefilled and 'value="2026-03-03T14:00"' in prefilled

    later = text(client.get(f"/compute/offers/{offer.id}?from=2026-03-09"))
    assert segments(later) == [(8, 0, "2026-03-09T00:00", "2026-03-16T00:00")]
    assert f"/compute/offers/{offer.id}#capacity" in later  # back to this week
    # a day in the past or a malformed one shows the current week
    assert (
        segments(text(client.get(f"/compute/offers/{offer.id}?from=2020-01-01")))[0][2] == "2026-03-02T09:00"
    )
    assert segments(text(client.get(f"/compute/offers/{offer.id}?from=bogus")))[0][2] == "2026-03-02T09:00"


# --- booking GPUs ------------------------------------------------------------------------------------------


def test_booking_gpus_reviews_the_split_then_books(app, client, make, login, world):
    founder, team, offer = world["founder"], world["team"], world["offer"]
    make.voucher(team, make.program(rate_bp=3000), 100_000, at=NOW)
    make.voucher(team, make.program(level="district", rate_bp=2000), 100_000, at=NOW)
    login(founder)
    url = f"/compute/offers/{offer.id}"
    token = csrf_token(client, url)
    data = book_form(token, team.id, 2, "2026-03-03T10:00", "2026-03-03T13:00")

    review = client.post(f"{url}/book", data=data)
    page = text(review)
    assert review.status_code == 200 and booking_count(app) == 0
    # 2 GPUs × 3 h × ¥10.00 = ¥60.00: municipal 30 % (¥18.00), district 20 % (¥12.00), the team ¥30.00
    assert "¥60.00" in page and "−¥18.00" in page and "−¥12.00" in page and "¥30.00" in page
    assert 'name="confirmed" type="hidden" value="yes"' in page
    assert "确认预约" in page

    booked = client.post(f"{url}/book", data={**data, "confirmed": "yes"})
    assert booked.status_code == 302, text(booked)[:2000]
    with app.app_context():
        booking = db.session.scalars(select(Booking)).one()
        assert (booking.kind, booking.offer_id, booking.gpus) == ("compute", offer.id, 2)
        assert booking.starts_at == cst(3, 10) and booking.ends_at == cst(3, 13)
        quote = commitments.quote(booking)
    assert quote["total_fen"] == 6_000 and quote["team_pays_fen"] == 3_000
    assert sorted(s["amount_fen"] for s in quote["subsidies"]) == [1_200, 1_800]

    detail = text(client.get(booked.headers["Location"]))
    assert "A100 集群" in detail and "2 × A100-80G" in detail and "渝算云" in detail
    assert "¥30.00" in detail and "2026-03-03 周二 10:00" in detail
    mine = text(client.get("/bookings"))
    assert "A100 集群" in mine and "2 × A100-80G" in mine and "¥60.00" in mine
    # the same form sent again (a double click) books nothing more
    again = client.post(f"{url}/book", data={**data, "confirmed": "yes"})
    assert again.status_code == 302 and booking_count(app) == 1
    # and the chart shows the GPUs taken
    assert (6, 2, "2026-03-03T10:00", "2026-03-03T13:00") in segments(text(client.get(url)))


def test_capacity_exceeded_is_shown_next_to_the_gpus(app, client, make, login, world):
    founder, team, offer = world["founder"], world["team"], world["offer"]
    make.compute_booking(team, offer, cst(3, 10), cst(3, 12), gpus=6)
    login(founder)
    url = f"/compute/offers/{offer.id}"
    token = csrf_token(client, url)
    data = book_form(token, team.id, 3, "2026-03-03T11:00", "2026-03-03T13:00")
    message = "所选时段内空闲 GPU 不足"

    at_review = client.post(f"{url}/book", data=data)
    assert at_review.status_code == 409
    field = re.search(r'<div class="field invalid">\s*<label for="gpus".*?</div>', text(at_review), re.S)
    assert field and message in field.group(0)
    assert 'name="confirmed" type="hidden" value=""' in text(at_review)  # corrected: price shown again

    # someone took the GPUs between the review and the confirm: the booking says so, books nothing
    at_confirm = client.post(f"{url}/book", data={**data, "confirmed": "yes"})
    assert at_confirm.status_code == 409 and message in text(at_confirm)
    assert booking_count(app) == 1
    # 2 GPUs still fit
    fits = client.post(f"{url}/book", data={**data, "gpus": "2", "confirmed": "yes"})
    assert fits.status_code == 302 and booking_count(app) == 2


@pytest.mark.parametrize(
    ("starts", "ends", "gpus", "status", "field", "message"),
    [
        ("2026-03-02T08:00", "2026-03-02T10:00", 1, 422, "starts_at", "开始时间已过"),
        ("2026-06-30T10:00", "2026-06-30T11:00", 1, 422, "starts_at", "最多可提前 90 天预约"),
        ("2026-03-03T10:00", "2026-03-03T09:00", 1, 422, "ends_at", "结束时间必须晚于开始时间"),
        ("2026-03-03T10:00", "2026-03-03T11:00", 9, 422, "gpus", "此资源可预约 1 至 8 块 GPU"),
        ("2026-03-03T10:00", "2026-03-03T11:00", 0, 422, "gpus", None),
        ("not-a-time", "2026-03-03T11:00", 1, 422, "starts_at", None),
    ],
)
def test_refused_bookings_say_why_next_to_the_field(
    app, client, login, world, starts, ends, gpus, status, field, message
):
    login(world["founder"])
    url = f"/compute/offers/{world['offer'].id}"
    token = csrf_token(client, url)
    response = client.post(
        f"{url}/book", data=book_form(token, world["team"].id, gpus, starts, ends, confirmed="yes")
    )
    assert response.status_code == status
    match = re.search(rf'<div class="field invalid">\s*<label for="{field}".*?</div>', text(response), re.S)
    assert match, text(response)[-3000:]
    if message:
        assert message in match.group(0)
    assert booking_count(app) == 0


def test_unverified_team_cannot_book(client, make, login, world):
    founder = make.user("founder")
    make.team(owner=founder, verified=False)
    login(founder)
    page = text(client.get(f"/compute/offers/{world['offer'].id}"))
    assert "团队须经所在区县认证后才能预约" in page and 'name="gpus"' not in page
    token = csrf_token(client, "/compute")
    refused = client.post(
        f"/compute/offers/{world['offer'].id}/book",
        data=book_form(token, world["team"].id, 1, "2026-03-03T10:00", "2026-03-03T11:00", confirmed="yes"),
    )
    assert refused.status_code == 422  # not a team of theirs to choose


def test_withdrawn_offer_is_not_bookable(client, make, login, world):
    offer = make.offer(world["provider"], name="退役集群", active=False)
    login(world["founder"])
    assert client.get(f"/compute/offers/{offer.id}").status_code == 404


def test_pages_in_english(client, make, login, world):
    make.compute_booking(world["team"], world["offer"], cst(3, 10), cst(3, 12), gpus=3)
    login(world["founder"])
    client.get("/language/en")
    listing = text(client.get("/compute"))
    assert "GPU compute offers" in listing and "¥10.00 per GPU-hour" in listing
    page = text(client.get(f"/compute/offers/{world['offer'].id}"))
    assert "Free capacity by period" in page and "5 of 8" in page and "Book GPUs" in page
    assert "Number of GPUs" in page


@pytest.mark.usefixtures("payments_on")
def test_with_card_payments_the_confirm_step_takes_a_card(app, client, make, login, world):
    team, offer = world["team"], world["offer"]
    make.voucher(team, make.program(rate_bp=3000), 100_000, at=NOW)
    login(world["founder"])
    url = f"/compute/offers/{offer.id}"
    data = book_form(csrf_token(client, url), team.id, 1, "2026-03-03T10:00", "2026-03-03T12:00")
    review = text(client.post(f"{url}/book", data=data))
    # ¥20.00 for 1 GPU × 2 h; the municipal voucher pays 30 %: the team's ¥14.00 goes on a card
    assert "¥20.00" in review and "−¥6.00" in review and "¥14.00" in review
    assert 'name="payment_method"' in review
    missing = client.post(f"{url}/book", data={**data, "confirmed": "yes"})
    assert missing.status_code == 422 and booking_count(app) == 0
    field = re.search(
        r'<div class="field invalid">\s*<label for="payment_method".*?</div>', text(missing), re.S
    )
    assert field and "请填写银行卡" in field.group(0)
    assert "¥14.00" in text(missing)  # still on the confirm step
    booked = client.post(f"{url}/book", data={**data, "confirmed": "yes", "payment_method": "pm_card_visa"})
    assert booked.status_code == 302, text(booked)[-2000:]
    with app.app_context():
        booking = db.session.scalars(select(Booking)).one()
        assert booking.payment_status == "authorized" and booking.gpus == 1
