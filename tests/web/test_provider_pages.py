"""The provider console: GPU offers (publish, edit, withdraw), upcoming bookings, usage upload as a
CSV file (per-row results, idempotent, whole-file refusals that change nothing) and usage history.

Pages are asserted in Chinese (the default UI language) unless a test switches to English. Times are
Beijing time (Asia/Shanghai, UTC+8).
"""

from __future__ import annotations

import io
import re
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from booking.core import clock
from booking.core.db import db
from booking.models import ComputeOffer, UsageRecord
from tests.conftest import csrf_token
from vouchers.models import FinanceException

CST = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=CST)
HEADER = "external_id,booking_id,started_at,ended_at,gpu_hours\n"


def cst(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=CST)


def text(response) -> str:
    return response.get_data(as_text=True)


def usage_count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(UsageRecord))


def offers_of(app, provider_id: int) -> list[ComputeOffer]:
    with app.app_context():
        return list(
            db.session.scalars(
                select(ComputeOffer).where(ComputeOffer.provider_id == provider_id).order_by(ComputeOffer.id)
            )
        )


def outcomes(page: str) -> dict[int, str]:
    """The upload result table: line number -> accepted / duplicate / rejected."""
    return {
        int(line): outcome for line, outcome in re.findall(r'data-line="(\d+)" data-outcome="(\w+)"', page)
    }


@pytest.fixture(autouse=True)
def frozen_now():
    with clock.frozen_at(NOW):
        yield


@pytest.fixture
def world(make):
    provider = make.provider(name="渝算云")
    provider_user = make.user("provider", provider_id=provider.id)
    founder = make.user("founder")
    team = make.team(owner=founder, verified=True, name="星火团队")
    offer = make.offer(
        provider, name="A100 集群", gpu_model="A100-80G", gpus_total=8, price_per_gpu_hour_fen=1_234
    )
    booking = make.compute_booking(team, offer, cst(3, 10), cst(3, 12), gpus=2, now=NOW)
    return {
        "provider": provider,
        "user": provider_user,
        "founder": founder,
        "team": team,
        "offer": offer,
        "booking": booking,
    }


def upload(client, content: bytes | str, filename: str = "usage.csv"):
    token = csrf_token(client, "/provider")
    data = content.encode() if isinstance(content, str) else content
    return client.post(
        "/provider/usage/upload",
        data={"csrf_token": token, "file": (io.BytesIO(data), filename)},
        content_type="multipart/form-data",
    )


def row(
    external_id: str, booking_id: int, hours: str = "1.5", start="2026-03-03T10:00:00+08:00", end=None
) -> str:
    return f"{external_id},{booking_id},{start},{end or '2026-03-03T11:30:00+08:00'},{hours}\n"


# --- who sees the console ---------------------------------------------------------------------------------


def test_console_is_for_providers_and_admins(client, make, login, world):
    assert client.get("/provider").status_code == 302  # sign in first
    login(world["user"])
    page = text(client.get("/provider"))
    assert "算力服务商控制台" in page and "渝算云" in page
    assert "A100 集群" in page and "¥12.34" in page  # the offer, its price per GPU-hour
    assert "星火团队" in page and f'data-booking-id="{world["booking"].id}"' in page  # upcoming booking
    assert 'enctype="multipart/form-data"' in page and 'name="file"' in page
    detail = text(client.get(f"/bookings/{world['booking'].id}"))  # the provider sees its bookings
    assert "2 × A100-80G" in detail and "星火团队" in detail
    other = make.provider(name="别家云")
    assert client.get(f"/provider?provider_id={other.id}").status_code == 404
    assert client.get("/provider/usage").status_code == 200

    for role in ("founder", "lab_manager", "finance"):
        client.post("/sign-out", data={"csrf_token": csrf_token(client, "/")})
        login(make.user(role))
        assert client.get("/provider").status_code == 403, role
        assert client.get("/provider/usage").status_code == 403, role
        assert client.get("/provider/usage/template.csv").status_code == 403, role


def test_admin_views_any_provider_but_does_not_upload(client, make, login, world):
    other = make.provider(name="别家云")
    make.offer(other, name="H800 池", gpu_model="H800")
    login(make.user("admin"))
    page = text(client.get(f"/provider?provider_id={other.id}"))
    assert "别家云" in page and "H800 池" in page and "A100 集群" not in page
    page = text(client.get(f"/provider?provider_id={world['provider'].id}"))
    assert "A100 集群" in page and 'name="file"' not in page
    assert "仅算力服务商本身的用户可上传用量" in page
    refused = upload(client, HEADER + row("job-1", world["booking"].id))
    assert refused.status_code == 403


# --- offers ------------------------------------------------------------------------------------------------


def test_provider_publishes_edits_and_withdraws_an_offer(app, client, make, login, world):
    login(world["user"])
    token = csrf_token(client, "/provider")
    body = {
        "csrf_token": token,
        "name": "H800 池",
        "gpu_model": "H800",
        "gpus_total": "16",
        "price_per_gpu_hour_yuan": "25.50",
        "active": "y",
    }
    bad = client.post(
        "/provider/offers", data={**body, "gpus_total": "0", "price_per_gpu_hour_yuan": "1.234"}
    )
    assert bad.status_code == 422
    assert "最多两位小数" in text(bad) and len(offers_of(app, world["provider"].id)) == 1
    created = client.post("/provider/offers", data=body)
    assert created.status_code == 302
    offer = offers_of(app, world["provider"].id)[-1]
    assert (offer.name, offer.gpu_model, offer.gpus_total, offer.price_per_gpu_hour_fen, offer.active) == (
        "H800 池",
        "H800",
        16,
        2_550,
        True,
    )

    edit_url = f"/provider/offers/{offer.id}/edit"
    form = text(client.get(edit_url))
    assert 'value="25.50"' in form and 'value="16"' in form
    shrink = client.post(edit_url, data={**body, "gpus_total": "8"})
    assert shrink.status_code == 422 and "容量只能增加" in text(shrink)
    grown = client.post(edit_url, data={**body, "gpus_total": "24", "price_per_gpu_hour_yuan": "30"})
    assert grown.status_code == 302
    assert offers_of(app, world["provider"].id)[-1].gpus_total == 24
    assert offers_of(app, world["provider"].id)[-1].price_per_gpu_hour_fen == 3_000

    assert (
        client.post(f"/provider/offers/{offer.id}/deactivate", data={"csrf_token": token}).status_code == 302
    )
    assert offers_of(app, world["provider"].id)[-1].active is False
    assert "已下架" in text(client.get("/provider"))
    # founders no longer find it
    other = app.test_client()
    from tests.conftest import sign_in

    sign_in(other, world["founder"])
    assert "H800 池" not in text(other.get("/compute"))
    assert client.post(f"/provider/offers/{offer.id}/activate", data={"csrf_token": token}).status_code == 302
    assert offers_of(app, world["provider"].id)[-1].active is True
    assert "H800 池" in text(other.get("/compute"))


def test_another_providers_offer_cannot_be_changed(client, make, login, world):
    stranger = make.user("provider")
    login(stranger)
    token = csrf_token(client, "/provider")
    offer_id = world["offer"].id
    assert client.get(f"/provider/offers/{offer_id}/edit").status_code == 403
    assert (
        client.post(f"/provider/offers/{offer_id}/deactivate", data={"csrf_token": token}).status_code == 403
    )


# --- usage upload --------------------------------------------------------------------------------------------


def test_csv_upload_ingests_and_reports_each_row(app, client, login, world):
    booking_id = world["booking"].id
    login(world["user"])
    content = (
        HEADER
        + row("job-1", booking_id, "1.5")
        + row(
            "job-2",
            booking_id,
            "0.250000",
            start="2026-03-03T11:30:00+08:00",
            end="2026-03-03T12:00:00+08:00",
        )
        + "\n"  # blank lines are skipped
        + row("job-3", 999_999, "2")  # no such booking: rejected, shown to finance
        + row("job-1", booking_id, "1.5")  # repeated in the file
    )
    response = upload(client, "\ufeff" + content)  # Excel's byte order mark is fine
    page = text(response)
    assert response.status_code == 200, page[-2000:]
    assert outcomes(page) == {2: "accepted", 3: "accepted", 5: "rejected", 6: "duplicate"}
    assert "已接收：2" in page and "重复：1" in page and "已拒绝：1" in page
    assert "您没有此 booking_id 对应的算力预约" in page and "在本文件中重复" in page
    with app.app_context():
        records = {r.external_id: r for r in db.session.scalars(select(UsageRecord))}
        assert set(records) == {"job-1", "job-2"}
        assert records["job-1"].gpu_hours == Decimal("1.5") and records["job-2"].gpu_hours == Decimal("0.25")
        assert records["job-1"].started_at == cst(3, 10)
        unknown = db.session.scalars(
            select(FinanceException).where(FinanceException.kind == "unknown_booking")
        )
        assert [e.details["external_id"] for e in unknown] == ["job-3"]

    again = upload(client, content)
    page = text(again)
    assert again.status_code == 200
    assert outcomes(page) == {2: "duplicate", 3: "duplicate", 5: "rejected", 6: "duplicate"}
    assert "此前已接收" in page and "已接收：0" in page and "重复：3" in page
    assert usage_count(app) == 2


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            "external_id,booking_id,started_at,gpu_hours\njob-1,{b},2026-03-03T10:00:00+08:00,1\n",
            "缺少列：ended_at",
        ),
        (
            HEADER
            + "job-1,{b},2026-03-03T10:00:00+08:00,2026-03-03T11:00:00+08:00,1.5\n"
            + 'job-2,{b},2026-03-03T10:00:00+08:00,2026-03-03T11:00:00+08:00,"1,5"\n',
            "第 3 行：gpu_hours 须为",
        ),
        (HEADER + "job-1,{b},2026-03-03T10:00:00+08:00,2026-03-03T11:00:00+08:00,1e3\n", "gpu_hours 须为"),
        (HEADER + "job-1,{b},2026-03-03T10:00:00+08:00,2026-03-03T11:00:00+08:00,-1\n", "gpu_hours 须为"),
        (
            HEADER + "job-1,{b},2026-03-03 10:00,2026-03-03T11:00:00+08:00,1\n",
            "started_at 须为带 UTC 偏移的时间",
        ),
        (
            HEADER + "job-1,{b},2026-03-03T12:00:00+08:00,2026-03-03T11:00:00+08:00,1\n",
            "ended_at 早于 started_at",
        ),
        (
            HEADER + "job-1,abc,2026-03-03T10:00:00+08:00,2026-03-03T11:00:00+08:00,1\n",
            "booking_id 须为预约编号",
        ),
        (
            HEADER + ",{b},2026-03-03T10:00:00+08:00,2026-03-03T11:00:00+08:00,1\n",
            "external_id 须为 1 至 200 个字符",
        ),
        (HEADER, "文件只有列名，没有记录"),
        ("", "文件为空"),
        ("作业编号,booking_id\n".encode("gbk"), "文件不是 UTF-8 文本"),
        (b"\x00\x01\x02binary", "文件不是 CSV 文本文件"),
        (HEADER + 'job-1,{b},"2026-03-03T10:00:00+08:00\n', "不是有效的 CSV"),
    ],
)
def test_bad_csv_is_refused_whole_and_changes_nothing(app, client, login, world, content, message):
    login(world["user"])
    if isinstance(content, str):
        content = content.replace("{b}", str(world["booking"].id))
    response = upload(client, content)
    page = text(response)
    assert response.status_code == 422
    errors = re.search(r'<ul class="errors" id="file-errors" role="alert">(.*?)</ul>', page, re.S)
    assert errors and message in errors.group(1), page[-3000:]
    assert usage_count(app) == 0
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(FinanceException)) == 0


def test_too_many_rows_are_refused(app, client, login, world):
    login(world["user"])
    booking_id = world["booking"].id
    rows = "".join(row(f"job-{n}", booking_id, "0.001") for n in range(10_001))
    response = upload(client, HEADER + rows)
    assert response.status_code == 422 and "文件超过 10,000 行" in text(response)
    assert usage_count(app) == 0
    exactly = upload(client, HEADER + "".join(row(f"job-{n}", booking_id, "0.001") for n in range(10_000)))
    assert exactly.status_code == 200 and "已接收：10000" in text(exactly)
    assert usage_count(app) == 10_000


def test_upload_without_a_file_says_so(client, login, world):
    login(world["user"])
    token = csrf_token(client, "/provider")
    response = client.post(
        "/provider/usage/upload", data={"csrf_token": token}, content_type="multipart/form-data"
    )
    assert response.status_code == 422 and "请选择 CSV 文件" in text(response)


def test_template_downloads_and_uploads_cleanly(app, client, login, world):
    login(world["user"])
    template = client.get("/provider/usage/template.csv")
    assert template.status_code == 200 and template.mimetype == "text/csv"
    assert "attachment" in template.headers["Content-Disposition"]
    body = template.get_data(as_text=True)
    assert body.startswith("external_id,booking_id,started_at,ended_at,gpu_hours\r\n")
    assert f",{world['booking'].id},2026-03-03T10:00:00+08:00," in body
    page = text(upload(client, template.get_data()))
    assert outcomes(page) == {2: "accepted", 3: "accepted"}
    assert usage_count(app) == 2


# --- usage history ------------------------------------------------------------------------------------------


def test_usage_history_pages_newest_first_with_cost_and_exceptions(app, client, make, login, world):
    booking_id = world["booking"].id
    login(world["user"])
    rows = "".join(row(f"job-{n:03d}", booking_id, "0.5") for n in range(60))
    assert upload(client, HEADER + rows + row("lost-1", 999_999)).status_code == 200
    with app.app_context():
        db.session.add(
            FinanceException(
                kind="over_tolerance",
                booking_id=booking_id,
                provider_id=world["provider"].id,
                district_code="500106",
                details={},
                blocking=True,
                status="open",
                unique_key=f"over_tolerance:booking:{booking_id}",
            )
        )
        db.session.commit()

    page = text(client.get("/provider/usage"))
    ids = re.findall(r'<td data-label="external_id">(job-\d+)</td>', page)
    assert len(ids) == 50 and ids[0] == "job-059" and ids[-1] == "job-010"
    assert "¥6.17" in page  # 0.5 GPU-hour × ¥12.34, half up
    assert "用量超出预估 20% 以上 (待处理)" in page
    assert "被拒绝的记录：未知预约" in page and "lost-1" in page
    older = re.search(r'href="([^"]*before=\d+)"', page)
    assert older
    page = text(client.get(older.group(1).replace("&amp;", "&")))
    ids = re.findall(r'<td data-label="external_id">(job-\d+)</td>', page)
    assert ids == [f"job-{n:03d}" for n in range(9, -1, -1)]
    assert "lost-1" not in page  # the refused records are on the first page


def test_console_and_history_in_english(client, login, world):
    login(world["user"])
    client.get("/language/en")
    page = text(client.get("/provider"))
    assert "Provider console" in page and "Usage upload" in page and "Upcoming bookings" in page
    assert "Download a CSV template with examples" in page
    refused = upload(client, "external_id,booking_id\n1,2\n")
    assert refused.status_code == 422 and "Missing column(s): started_at, ended_at, gpu_hours" in text(
        refused
    )
    assert "Usage history" in text(client.get("/provider/usage"))


# --- hostile files ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cells", "message"),
    [
        (
            "job-1,{b},0001-01-01T00:00:00+14:00,2026-03-03T11:00:00+08:00,1",
            "started_at 须在 1900 年至 2199 年之间",
        ),
        (
            "job-1,{b},2026-03-03T10:00:00+08:00,9999-12-31T23:00:00-14:00,1",
            "ended_at 须在 1900 年至 2199 年之间",
        ),
        ("job-1,{b},2026-03-03T10:00:00+08:00,2026-03-03T11:00:00+08:00,١٢", "gpu_hours 须为"),
        ("job-1,{b},2026-03-03T10:00:00+08:00,2026-03-03T11:00:00+08:00,１２", "gpu_hours 须为"),
        (
            "job-1,{b},２０２６-03-03T10:00:00+08:00,2026-03-03T11:00:00+08:00,1",
            "started_at 须为带 UTC 偏移的时间",
        ),
    ],
    ids=[
        "start-overflows",
        "end-overflows",
        "arabic-digits",
        "fullwidth-digits",
        "fullwidth-date",
    ],
)
def test_hostile_values_are_refused_with_the_reason_never_a_500(app, client, login, world, cells, message):
    login(world["user"])
    response = upload(client, HEADER + cells.replace("{b}", str(world["booking"].id)) + "\n")
    page = text(response)
    assert response.status_code == 422, page[-2000:]
    assert message in page
    assert usage_count(app) == 0


def test_a_file_larger_than_the_json_limit_is_read_by_the_upload(client, login, world):
    """The upload has its own body limit (the file's 8 MB and the form around it), above the 2 MB of
    other requests: a 3 MB file is read (and refused for its row count), not cut off."""
    login(world["user"])
    booking_id = world["booking"].id
    rows = "".join(row(f"job-{n:06d}-{'x' * 60}", booking_id, "0.001") for n in range(30_000))
    assert 3 * 1024 * 1024 < len(rows) < 8 * 1024 * 1024
    response = upload(client, HEADER + rows)
    assert response.status_code == 422 and "文件超过 10,000 行" in text(response)


def test_a_body_beyond_the_uploads_limit_is_413_with_a_page(client, login, world):
    login(world["user"])
    response = upload(client, HEADER + "x" * (10 * 1024 * 1024))
    assert response.status_code == 413
    assert "提交的内容过大" in text(response)
