"""Service orders on the HTML side: the order form built from the service's sample form (problems
beside the question they name, nothing ordered), the confirm step with the voucher split, "My orders",
the lab's queue and its steps through the HTML forms (CSRF and all), cancelling after a confirm
step, rating once, and nothing of an order for strangers."""

from __future__ import annotations

import io
import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from booking.core import clock
from booking.core.db import db
from instruments.models import ServiceOrder
from tests.conftest import csrf_token
from tests.flow.payments.conftest import localstripe, payments_on  # noqa: F401 - fixtures
from tests.support.service_orders import drive, order_world, submit


def text(response) -> str:
    return response.get_data(as_text=True)


def order_count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(ServiceOrder))


def fetch(app, order_id: int) -> ServiceOrder:
    with app.app_context():
        order = db.session.get(ServiceOrder, order_id)
        order.results, order.rating  # noqa: B018 - loaded before the session closes
        db.session.expunge_all()
        return order


def field_block(page: str, key: str) -> str:
    """The HTML of one question of the order form (its <div class="field"> by data-key)."""
    match = re.search(rf'<div class="field[^"]*" data-key="{key}">(.*?)</div>', page, re.S)
    assert match, f"no question {key}"
    return match.group(1)


@pytest.fixture
def world(make):
    return order_world(make, price=30_050, max_samples=12)


def order_data(token: str, world, **over) -> dict:
    return {
        "csrf_token": token,
        "request_key": over.pop("request_key", "k1"),
        "team_id": str(world.team.id),
        "answer_material": "硅片",
        "answer_coating": "金",
        "samples": "2",
        "use_vouchers": "y",
        "confirmed": "",
        **over,
    }


def post_order(client, world, **over):
    token = csrf_token(client, f"/services/{world.service.id}")
    return client.post(f"/services/{world.service.id}/order", data=order_data(token, world, **over))


def test_the_order_form_is_built_from_the_sample_form(client, make, login):
    lab = make.lab()
    service = make.service(
        lab,
        max_samples=7,
        sample_fields=[
            {"key": "material", "label": "材料", "type": "text", "required": True},
            {"key": "thickness", "label": "厚度 (nm)", "type": "number", "required": False},
            {"key": "coating", "label": "镀膜", "type": "choice", "required": True, "choices": ["金", "碳"]},
        ],
    )
    founder = make.user("founder")
    make.team(owner=founder, verified=True, name="光子团队")
    login(founder)
    page = text(client.get(f"/services/{service.id}"))
    material = field_block(page, "material")
    assert "材料" in material and 'name="answer_material"' in material and 'type="text"' in material
    assert "（必填）" in material and 'aria-required="true"' in material
    thickness = field_block(page, "thickness")
    assert 'type="number"' in thickness and "必填" not in thickness and "厚度 (nm)" in thickness
    coating = field_block(page, "coating")
    assert "<select" in coating and ">金</option>" in coating and ">碳</option>" in coating
    assert 'name="samples"' in page and 'max="7"' in page and "光子团队" in page
    assert 'name="use_vouchers"' in page and "查看价格" in page


def test_a_missing_required_answer_is_shown_beside_it_and_nothing_is_ordered(client, app, login, world):
    login(world.owner)
    for confirmed in ("", "yes"):  # at the review step, and when the confirm step is skipped
        response = post_order(
            client, world, answer_material="  ", confirmed=confirmed, request_key=f"k-{confirmed}"
        )
        assert response.status_code == 422
        page = text(response)
        assert "请回答此问题" in field_block(page, "material")
        assert "请回答此问题" not in field_block(page, "coating")
        assert 'class="card review"' not in page
    too_many = post_order(client, world, samples="13")
    assert too_many.status_code == 422 and "1 至 12" in text(too_many)
    assert order_count(app) == 0


def test_the_confirm_step_shows_the_split_then_the_order_is_made(client, app, make, login, world):
    municipal = make.program(level="municipal", rate_bp=3000, resource_kinds=["service"])
    district = make.program(level="district", rate_bp=2000, resource_kinds=["service"])
    make.voucher(world.team, municipal, 100_000)
    make.voucher(world.team, district, 100_000)
    login(world.owner)
    review = post_order(client, world)
    page = text(review)
    assert review.status_code == 200 and 'class="card review"' in page
    # 2 × ¥300.50 = ¥601.00; municipal 30% = ¥180.30, district 20% = ¥120.20, team ¥300.50
    for amount in ("¥601.00", "−¥180.30", "−¥120.20", "¥300.50"):
        assert amount in page, amount
    assert 'name="confirmed" type="hidden" value="yes"' in page and "确认下单" in page
    assert order_count(app) == 0
    done = post_order(client, world, confirmed="yes")
    assert done.status_code == 302, text(done)[:2000]
    order_id = int(done.headers["Location"].rsplit("/", 1)[1])
    again = post_order(client, world, confirmed="yes")  # a double click orders once
    assert again.status_code == 302 and again.headers["Location"] == done.headers["Location"]
    order = fetch(app, order_id)
    assert (order.samples, order.status, order.answers) == (
        2,
        "submitted",
        {"material": "硅片", "coating": "金"},
    )
    detail = text(client.get(f"/orders/{order_id}"))
    assert (
        "已提交，等待实验室处理" in detail
        and "硅片" in detail
        and "−" not in detail.split('id="cost"')[0][-5:]
    )
    assert "-¥180.30" in detail and "-¥120.20" in detail and "¥300.50" in detail


@pytest.mark.usefixtures("payments_on")
def test_with_card_payments_the_confirm_step_takes_a_card(client, app, login, world):
    login(world.owner)
    review = text(post_order(client, world))
    assert "¥601.00" in review and 'name="payment_method"' in review  # no voucher: all on a card
    missing = post_order(client, world, confirmed="yes")
    assert missing.status_code == 422 and order_count(app) == 0
    field = re.search(
        r'<div class="field invalid">\s*<label for="payment_method".*?</div>', text(missing), re.S
    )
    assert field and "请填写银行卡" in field.group(0)
    assert 'class="card review"' in text(missing)  # still on the confirm step
    ordered = post_order(client, world, confirmed="yes", payment_method="pm_card_visa")
    assert ordered.status_code == 302, text(ordered)[-2000:]
    order = fetch(app, int(ordered.headers["Location"].rsplit("/", 1)[1]))
    with app.app_context():
        assert db.session.get(ServiceOrder, order.id).booking.payment_status == "authorized"


def test_my_orders_lists_them_with_words_and_the_overdue_badge(client, api, app, login, world):
    first = submit(api, world, samples=2).json["id"]
    late = submit(api, world, samples=1).json["id"]
    with clock.frozen_at(clock.now() - timedelta(days=10)):
        drive(api, world, late, "in_progress")  # due five days after receipt: five days ago
    login(world.owner)
    page = text(client.get("/orders"))
    assert "我的订单" in page  # the nav entry and the heading
    assert f'id="order-{first}"' in page and f'id="order-{late}"' in page
    assert "已提交，等待实验室处理" in page and "已收样，检测中" in page
    late_row = page.split(f'id="order-{late}"')[1].split("</tr>")[0]
    assert "已逾期" in late_row and world.service.name in late_row and world.lab.name in late_row
    assert "已逾期" not in page.split(f'id="order-{first}"')[1].split("</tr>")[0]
    assert "in_progress" not in re.sub(r'(class|value|id)="[^"]*"', "", page)
    only = text(client.get("/orders?status=submitted"))
    assert f'id="order-{first}"' in only and f'id="order-{late}"' not in only


def test_the_lab_works_an_order_through_its_page(client, api, app, login, world):
    order_id = submit(api, world, samples=3).json["id"]
    other = submit(api, world, samples=1).json["id"]
    with clock.frozen_at(clock.now() - timedelta(days=10)):
        drive(api, world, other, "in_progress")
    login(world.manager)
    queue = text(client.get("/lab/orders"))
    assert "送样订单" in queue
    assert queue.index(f'id="order-{other}"') < queue.index(f'id="order-{order_id}"')  # overdue first
    token = csrf_token(client, f"/orders/{order_id}")
    page = text(client.get(f"/orders/{order_id}"))
    assert "接受订单" in page and "拒绝订单" in page
    answers = page.split('id="answers"')[1].split("</section>")[0]
    assert answers.index("材料") < answers.index("硅片") < answers.index("镀膜") < answers.index("金")
    assert client.post(f"/lab/orders/{order_id}/accept", data={"csrf_token": token}).status_code == 302
    assert fetch(app, order_id).status == "accepted"
    page = text(client.get(f"/orders/{order_id}"))
    due = (clock.now() + timedelta(hours=8)).date() + timedelta(days=5)
    assert f"结果应于 {due.isoformat()}" in page  # what receiving today promises
    received = client.post(
        f"/lab/orders/{order_id}/receive", data={"csrf_token": token}, follow_redirects=True
    )
    assert fetch(app, order_id).status == "in_progress" and due.isoformat() in text(received)
    # completing needs a result file
    refused = client.post(
        f"/lab/orders/{order_id}/complete",
        data={"csrf_token": token, "complete-samples_processed": "3"},
        follow_redirects=True,
    )
    assert "请先上传至少一个结果文件" in text(refused) and fetch(app, order_id).status == "in_progress"
    page = text(client.get(f"/orders/{order_id}"))
    assert 'enctype="multipart/form-data"' in page and "50 MB" in page and "multiple" in page
    uploaded = client.post(
        f"/lab/orders/{order_id}/results",
        data={
            "csrf_token": token,
            "results-files": [(io.BytesIO(b"a,b\n1,2\n"), "数据.csv"), (io.BytesIO(b"%PDF"), "report.pdf")],
        },
        content_type="multipart/form-data",
    )
    assert uploaded.status_code == 302
    assert [r.filename for r in fetch(app, order_id).results] == ["数据.csv", "report.pdf"]
    beyond = client.post(
        f"/lab/orders/{order_id}/complete", data={"csrf_token": token, "complete-samples_processed": "4"}
    )
    assert (
        beyond.status_code == 422 and "1 至" in text(beyond) and fetch(app, order_id).status == "in_progress"
    )
    done = client.post(
        f"/lab/orders/{order_id}/complete", data={"csrf_token": token, "complete-samples_processed": "2"}
    )
    assert done.status_code == 302
    order = fetch(app, order_id)
    assert (order.status, order.samples_processed) == ("completed", 2)


def test_rejecting_needs_a_reason_and_a_confirmation(client, api, app, login, world):
    order_id = submit(api, world).json["id"]
    login(world.manager)
    token = csrf_token(client, f"/orders/{order_id}")
    blank = client.post(f"/lab/orders/{order_id}/reject", data={"csrf_token": token, "reject-reason": " "})
    assert blank.status_code == 422 and "请告诉团队原因（必填）" in text(blank)
    asked = client.post(
        f"/lab/orders/{order_id}/reject", data={"csrf_token": token, "reject-reason": "设备维修"}
    )
    assert asked.status_code == 200 and "拒绝该订单？" in text(asked) and "设备维修" in text(asked)
    assert fetch(app, order_id).status == "submitted"
    done = client.post(
        f"/lab/orders/{order_id}/reject",
        data={"csrf_token": token, "reject-reason": "设备维修", "reject-confirmed": "yes"},
    )
    assert done.status_code == 302
    order = fetch(app, order_id)
    assert (order.status, order.reason) == ("rejected", "设备维修")
    again = client.post(f"/lab/orders/{order_id}/accept", data={"csrf_token": token}, follow_redirects=True)
    assert "该订单已被实验室拒绝，无法这样更改" in text(again)


def test_cancelling_asks_first_and_only_before_the_samples_arrive(client, api, app, login, world):
    order_id = submit(api, world).json["id"]
    login(world.owner)
    page = text(client.get(f"/orders/{order_id}"))
    assert "取消订单" in page
    token = csrf_token(client, f"/orders/{order_id}")
    asked = client.post(f"/orders/{order_id}/cancel", data={"csrf_token": token})
    assert asked.status_code == 200 and "取消该订单？" in text(asked)
    assert fetch(app, order_id).status == "submitted"
    done = client.post(f"/orders/{order_id}/cancel", data={"csrf_token": token, "confirmed": "yes"})
    assert done.status_code == 302 and fetch(app, order_id).status == "cancelled"
    received = submit(api, world).json["id"]
    drive(api, world, received, "in_progress")
    assert 'id="cancel"' not in text(client.get(f"/orders/{received}"))
    late = client.post(f"/orders/{received}/cancel", data={"csrf_token": token, "confirmed": "yes"})
    assert late.status_code == 302 and fetch(app, received).status == "in_progress"


def test_a_completed_order_is_rated_once_and_the_lab_sees_it(client, api, app, login, world):
    order_id = submit(api, world).json["id"]
    login(world.owner)
    assert "为本次服务评分" not in text(client.get(f"/orders/{order_id}"))
    drive(api, world, order_id, "completed")
    page = text(client.get(f"/orders/{order_id}"))
    assert "为本次服务评分" in page and "结果.pdf" in page
    token = csrf_token(client, f"/orders/{order_id}")
    rated = client.post(
        f"/orders/{order_id}/rating",
        data={"csrf_token": token, "rating-score": "4", "rating-comment": "出结果很快"},
    )
    assert rated.status_code == 302
    again = client.post(
        f"/orders/{order_id}/rating",
        data={"csrf_token": token, "rating-score": "1"},
        follow_redirects=True,
    )
    assert "该订单已评分" in text(again)
    order = fetch(app, order_id)
    assert (order.rating.score, order.rating.comment) == (4, "出结果很快")
    assert "为本次服务评分" not in text(again)
    login(world.manager)
    lab_page = text(client.get(f"/orders/{order_id}"))
    assert "4 / 5" in lab_page and "出结果很快" in lab_page


def test_a_result_file_downloads_for_the_team_and_the_lab(client, api, app, login, world):
    order_id = submit(api, world).json["id"]
    drive(api, world, order_id, "completed")
    result_id = fetch(app, order_id).results[0].id
    login(world.owner)
    download = client.get(f"/orders/{order_id}/results/{result_id}")
    assert download.status_code == 200 and download.data == b"%PDF-1.4 result"
    assert "attachment" in download.headers["Content-Disposition"]


def test_strangers_see_nothing_of_an_order(client, api, app, make, login, world):
    order_id = submit(api, world).json["id"]
    drive(api, world, order_id, "completed")
    result_id = fetch(app, order_id).results[0].id
    login(make.user("founder"))
    assert client.get(f"/orders/{order_id}").status_code == 404
    assert client.get(f"/orders/{order_id}/results/{result_id}").status_code == 404
    assert f'id="order-{order_id}"' not in text(client.get("/orders"))
    token = csrf_token(client, "/orders")
    assert client.post(f"/orders/{order_id}/cancel", data={"csrf_token": token}).status_code == 404
    other_manager = make.user("lab_manager")
    make.lab(manager=other_manager)
    login(other_manager)
    token = csrf_token(client, "/lab/orders")
    assert client.get(f"/orders/{order_id}").status_code == 404
    assert client.post(f"/lab/orders/{order_id}/accept", data={"csrf_token": token}).status_code == 404
    assert f'id="order-{order_id}"' not in text(client.get("/lab/orders"))


def test_a_settled_order_shows_its_settlement_beside_the_quote(client, api, app, make, login, world):
    municipal = make.program(level="municipal", rate_bp=3000, resource_kinds=["service"])
    make.voucher(world.team, municipal, 100_000)
    order_id = submit(api, world, samples=3).json["id"]  # 3 × ¥300.50 = ¥901.50
    drive(api, world, order_id, "completed", samples_processed=2)  # settled on 2 × ¥300.50 = ¥601.00
    assert api.as_(make.finance(None)).post("/api/v1/reconciliation/runs").json["settled"] == 1
    login(world.owner)
    page = text(client.get(f"/orders/{order_id}"))
    cost = page.split('id="cost"')[1].split("</section>")[0]
    assert "已结算" in page and "¥901.50" in cost and "¥601.00" in cost
    assert "-¥270.45" in cost and "-¥180.30" in cost  # 30% of each
    assert "按实际检测样品数结算" in cost
    listing = text(client.get("/orders"))
    assert "已结算" in listing.split(f'id="order-{order_id}"')[1].split("</tr>")[0]
