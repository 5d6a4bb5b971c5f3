"""Service orders over the API: the whole flow, every validation error, every refused transition,
who sees and does what, and what the order says about money (quote, settlement)."""

from __future__ import annotations

from datetime import timedelta

from booking.core import clock
from booking.core.db import db
from booking.flow.service_orders import lab_today
from tests.support.mailed_links import mails_to
from tests.support.service_orders import ANSWERS, drive, order_world, submit, upload


def _wallet(api, owner, team) -> dict[int, int]:
    vouchers = api.as_(owner).get(f"/api/v1/teams/{team.id}/vouchers").json
    return {v["id"]: v["balance_fen"] for v in vouchers}


def test_the_whole_flow_through_the_api(api, make, app):
    world = order_world(make)
    program = make.program(resource_kinds=["service"], rate_bp=4000)
    make.voucher(world.team, program, 500_000)
    response = submit(api, world, samples=3)
    assert response.status_code == 201, response.json
    order = response.json
    assert order["status"] == "submitted" and order["samples"] == 3 and order["answers"] == ANSWERS
    assert order["team_id"] == world.team.id and order["service_id"] == world.service.id
    assert order["lab_id"] == world.lab.id and order["price_per_sample_fen"] == 20_000
    assert order["quote"]["total_fen"] == 60_000
    assert [s["amount_fen"] for s in order["quote"]["subsidies"]] == [24_000]
    assert order["quote"]["subsidies"][0]["level"] == "municipal"
    assert order["quote"]["team_pays_fen"] == 36_000
    assert order["settlement"] is None and order["due_on"] is None and order["overdue"] is False
    assert order["results"] == [] and order["rating"] is None and order["samples_processed"] is None
    assert order["payment"]["status"] == "invoice"

    order_id = order["id"]
    manager = api.as_(world.manager)
    assert manager.post(f"/api/v1/service-orders/{order_id}/accept").json["status"] == "accepted"
    received = manager.post(f"/api/v1/service-orders/{order_id}/receive").json
    assert received["status"] == "in_progress"
    assert received["due_on"] == (lab_today() + timedelta(days=5)).isoformat()
    uploaded = upload(api, world, order_id, b"spectrum", "结果.pdf")
    assert uploaded.status_code == 201, uploaded.json
    assert uploaded.json["filename"] == "结果.pdf" and uploaded.json["size"] == 8
    assert len(uploaded.json["sha256"]) == 64
    done = manager.post(f"/api/v1/service-orders/{order_id}/complete", json={"samples_processed": 2})
    assert done.status_code == 200, done.json
    assert done.json["status"] == "completed" and done.json["samples_processed"] == 2
    assert [r["filename"] for r in done.json["results"]] == ["结果.pdf"]

    rated = api.as_(world.owner).post(f"/api/v1/service-orders/{order_id}/rating", json={"score": 5})
    assert rated.status_code == 201 and rated.json["score"] == 5
    again = api.as_(world.owner).post(f"/api/v1/service-orders/{order_id}/rating", json={"score": 4})
    assert again.status_code == 409 and again.json["error"]["code"] == "already_rated"
    assert api.as_(world.owner).get(f"/api/v1/service-orders/{order_id}").json["rating"]["score"] == 5


def test_each_validation_error(api, make):
    world = order_world(make, max_samples=4)
    too_many = submit(api, world, samples=5)
    assert too_many.status_code == 422 and too_many.json["error"]["code"] == "too_many_samples"
    assert "samples" in too_many.json["error"]["details"]
    assert submit(api, world, samples=0).status_code == 422
    missing = submit(api, world, answers={"coating": "金"})
    assert missing.status_code == 422 and missing.json["error"]["code"] == "invalid"
    assert set(missing.json["error"]["details"]) == {"material"}
    wrong = submit(api, world, answers={"material": "铝", "coating": "银", "extra": 1})
    assert wrong.status_code == 422 and set(wrong.json["error"]["details"]) == {"coating", "extra"}
    not_object = submit(api, world, answers=["material"])
    assert not_object.status_code == 422 and "answers" in not_object.json["error"]["details"]
    unknown = submit(api, world, service_id=world.service.id + 1000)
    assert unknown.status_code == 422 and unknown.json["error"]["code"] == "unknown_reference"
    inactive = make.service(world.lab, active=False)
    assert submit(api, world, service_id=inactive.id).status_code == 422

    unverified = make.team(owner=world.owner, verified=False)
    refused = submit(api, world, team_id=unverified.id)
    assert refused.status_code == 422 and refused.json["error"]["code"] == "team_not_verified"
    stranger = make.user("founder")
    assert submit(api, world, by=stranger).status_code == 404
    unconfirmed = make.user("founder", email_verified=False)
    make.team(owner=unconfirmed, verified=True)
    refused = submit(api, world, by=unconfirmed)
    assert refused.status_code == 403 and refused.json["error"]["code"] == "email_not_verified"
    assert api.as_(world.owner).get("/api/v1/service-orders").json["items"] == []


def test_each_refused_transition_is_409_invalid_status(api, make):
    world = order_world(make)
    order_id = submit(api, world).json["id"]
    manager = api.as_(world.manager)

    def refused(path, user=world.manager, **kw):
        answer = api.as_(user).post(f"/api/v1/service-orders/{order_id}/{path}", **kw)
        assert answer.status_code == 409, (path, answer.json)
        assert answer.json["error"]["code"] == "invalid_status"

    refused("receive")
    refused("complete", json={"samples_processed": 1})
    refused(
        "results",
        data={"file": (__import__("io").BytesIO(b"x"), "a.txt")},
        content_type="multipart/form-data",
    )
    refused("rating", user=world.owner, json={"score": 3})
    assert manager.post(f"/api/v1/service-orders/{order_id}/accept").status_code == 200
    refused("accept")
    assert manager.post(f"/api/v1/service-orders/{order_id}/receive").status_code == 200
    refused("accept")
    refused("reject", json={"reason": "late"})
    refused("cancel", user=world.owner)
    no_results = manager.post(f"/api/v1/service-orders/{order_id}/complete", json={"samples_processed": 1})
    assert no_results.status_code == 422 and no_results.json["error"]["code"] == "no_results"
    assert upload(api, world, order_id).status_code == 201
    for bad in (0, 4):
        answer = manager.post(f"/api/v1/service-orders/{order_id}/complete", json={"samples_processed": bad})
        assert answer.status_code == 422 and "samples_processed" in answer.json["error"]["details"]
    assert (
        manager.post(f"/api/v1/service-orders/{order_id}/complete", json={"samples_processed": 3}).status_code
        == 200
    )
    refused("complete", json={"samples_processed": 3})
    refused("cancel", user=world.owner)
    refused("receive")
    bad_score = api.as_(world.owner).post(f"/api/v1/service-orders/{order_id}/rating", json={"score": 6})
    assert bad_score.status_code == 422


def test_who_does_what(api, make):
    world = order_world(make)
    order_id = submit(api, world).json["id"]
    other_manager = make.user("lab_manager")
    make.lab(manager=other_manager)
    stranger = make.user("founder")
    district_finance = make.finance("500106")
    other_finance = make.finance("500103")
    admin = make.user("admin")
    path = f"/api/v1/service-orders/{order_id}"
    assert api.as_(other_manager).post(f"{path}/accept").status_code == 404
    assert api.as_(stranger).post(f"{path}/cancel").status_code == 404
    assert api.as_(world.owner).post(f"{path}/accept").status_code == 403
    assert api.as_(district_finance).post(f"{path}/accept").status_code == 403
    assert api.as_(world.manager).post(f"{path}/cancel").status_code == 403
    for user, status in (
        (world.owner, 200),
        (world.manager, 200),
        (district_finance, 200),
        (make.finance(None), 200),
        (admin, 200),
        (other_manager, 404),
        (stranger, 404),
        (other_finance, 404),
    ):
        assert api.as_(user).get(path).status_code == status, user.email
        listed = api.as_(user).get("/api/v1/service-orders").json["items"]
        assert [o["id"] for o in listed] == ([order_id] if status == 200 else []), user.email
    assert api.as_(admin).post(f"{path}/accept").status_code == 200


def test_list_filters_and_paging(api, make):
    world = order_world(make)
    ids = [submit(api, world, samples=1).json["id"] for _ in range(3)]
    api.as_(world.manager).post(f"/api/v1/service-orders/{ids[0]}/accept")
    lister = api.as_(world.manager)
    assert [o["id"] for o in lister.get("/api/v1/service-orders?status=accepted").json["items"]] == [ids[0]]
    assert len(lister.get(f"/api/v1/service-orders?lab_id={world.lab.id}").json["items"]) == 3
    assert lister.get(f"/api/v1/service-orders?lab_id={world.lab.id + 99}").json["items"] == []
    assert len(lister.get(f"/api/v1/service-orders?team_id={world.team.id}").json["items"]) == 3
    page = lister.get("/api/v1/service-orders?limit=2").json
    assert len(page["items"]) == 2 and page["next_cursor"]
    rest = lister.get(f"/api/v1/service-orders?limit=2&cursor={page['next_cursor']}").json
    assert [o["id"] for o in rest["items"]] == [ids[2]] and rest["next_cursor"] is None
    assert lister.get("/api/v1/service-orders?status=lost").status_code == 422


def test_overdue_orders_are_marked_and_filtered(api, make, app):
    world = order_world(make, turnaround_days=2)
    late_id = submit(api, world).json["id"]
    on_time_id = submit(api, world).json["id"]
    drive(api, world, late_id, "in_progress")
    drive(api, world, on_time_id, "in_progress")
    with app.app_context():
        from instruments.models import ServiceOrder

        db.session.get(ServiceOrder, late_id).due_on = lab_today() - timedelta(days=1)
        db.session.commit()
    manager = api.as_(world.manager)
    assert manager.get(f"/api/v1/service-orders/{late_id}").json["overdue"] is True
    assert manager.get(f"/api/v1/service-orders/{on_time_id}").json["overdue"] is False
    assert [o["id"] for o in manager.get("/api/v1/service-orders?overdue=true").json["items"]] == [late_id]
    assert [o["id"] for o in manager.get("/api/v1/service-orders?overdue=false").json["items"]] == [
        on_time_id
    ]


def test_cancel_and_reject_give_the_commitment_back(api, make):
    world = order_world(make)
    program = make.program(resource_kinds=["service"], rate_bp=5000)
    make.voucher(world.team, program, 100_000)
    before = _wallet(api, world.owner, world.team)
    cancelled_id = submit(api, world, samples=2).json["id"]
    assert sum(_wallet(api, world.owner, world.team).values()) == sum(before.values()) - 20_000
    api.as_(world.manager).post(f"/api/v1/service-orders/{cancelled_id}/accept")
    cancelled = api.as_(world.owner).post(f"/api/v1/service-orders/{cancelled_id}/cancel")
    assert cancelled.status_code == 200 and cancelled.json["status"] == "cancelled"
    assert _wallet(api, world.owner, world.team) == before

    rejected_id = submit(api, world, samples=3).json["id"]
    assert sum(_wallet(api, world.owner, world.team).values()) == sum(before.values()) - 30_000
    rejected = api.as_(world.manager).post(
        f"/api/v1/service-orders/{rejected_id}/reject", json={"reason": "样品不适合"}
    )
    assert rejected.status_code == 200 and rejected.json["status"] == "rejected"
    assert rejected.json["reason"] == "样品不适合"
    assert _wallet(api, world.owner, world.team) == before


def test_the_price_is_frozen_at_ordering(api, make):
    world = order_world(make, price=10_000)
    order_id = submit(api, world, samples=2).json["id"]
    api.as_(world.manager).patch(
        f"/api/v1/services/{world.service.id}", json={"price_per_sample_fen": 99_000}
    )
    order = api.as_(world.owner).get(f"/api/v1/service-orders/{order_id}").json
    assert order["price_per_sample_fen"] == 10_000 and order["quote"]["total_fen"] == 20_000


def test_idempotency_key_replays_the_first_order(api, make):
    world = order_world(make)
    headers = {"Idempotency-Key": "order-1"}
    body = {"team_id": world.team.id, "service_id": world.service.id, "samples": 2, "answers": ANSWERS}
    first = api.as_(world.owner).post("/api/v1/service-orders", json=body, headers=headers)
    again = api.as_(world.owner).post("/api/v1/service-orders", json=body, headers=headers)
    assert first.status_code == 201 and again.status_code == 201 and again.json["id"] == first.json["id"]
    other = api.as_(world.owner).post("/api/v1/service-orders", json={**body, "samples": 3}, headers=headers)
    assert other.status_code == 422 and other.json["error"]["code"] == "idempotency_key_reused"
    assert len(api.as_(world.owner).get("/api/v1/service-orders").json["items"]) == 1


def test_a_mail_for_every_transition(api, make, app):
    world = order_world(make)
    member = make.user("founder")
    api.as_(world.owner).post(f"/api/v1/teams/{world.team.id}/members", json={"user_id": member.id})
    order_id = submit(api, world).json["id"]
    drive(api, world, order_id, "completed", samples_processed=2)
    cancelled_id = submit(api, world).json["id"]
    api.as_(world.owner).post(f"/api/v1/service-orders/{cancelled_id}/cancel")
    rejected_id = submit(api, world).json["id"]
    api.as_(world.manager).post(f"/api/v1/service-orders/{rejected_id}/reject", json={"reason": "设备检修"})
    for user in (world.owner, member):
        kinds = [m.kind for m in mails_to(app, user.email)]
        assert kinds == [
            "service_order_submitted",
            "service_order_accepted",
            "service_order_received",
            "service_order_result_uploaded",
            "service_order_completed",
            "service_order_submitted",
            "service_order_cancelled",
            "service_order_submitted",
            "service_order_rejected",
        ]
    mails = mails_to(app, world.owner.email)
    received = next(m for m in mails if m.kind == "service_order_received")
    assert (lab_today() + timedelta(days=5)).isoformat() in received.body
    rejected = next(m for m in mails if m.kind == "service_order_rejected")
    assert "设备检修" in rejected.body and "Reason: 设备检修" in rejected.body
    assert mails_to(app, world.manager.email) == []


def test_a_free_service_needs_no_vouchers_and_no_payment(api, make):
    world = order_world(make, price=0)
    order = submit(api, world).json
    assert order["quote"] == {"total_fen": 0, "subsidies": [], "team_pays_fen": 0}
    assert order["payment"]["status"] == "none"


def test_orders_at_a_frozen_instant_take_that_days_due_date(api, make):
    world = order_world(make, turnaround_days=3)
    order_id = submit(api, world).json["id"]
    api.as_(world.manager).post(f"/api/v1/service-orders/{order_id}/accept")
    # 2026-12-06 17:00 UTC is already 2026-12-07 in Chongqing
    from datetime import UTC, datetime

    with clock.frozen_at(datetime(2026, 12, 6, 17, 0, tzinfo=UTC)):
        received = api.as_(world.manager).post(f"/api/v1/service-orders/{order_id}/receive").json
    assert received["due_on"] == "2026-12-10"
