"""Reconciliation settles completed service orders exactly like bookings: the split on
samples_processed × the frozen price, municipal before district under the stack ceiling, the
over-commitment released, the order marked settled (and the team told), nothing settled twice,
and the ledger sound."""

from __future__ import annotations

from booking.core.db import db
from instruments.models import ServiceOrder
from tests.support.mailed_links import mails_to
from tests.support.service_orders import drive, order_world, submit
from vouchers.verify import ledger_breaches


def _balances(api, world) -> dict[str, int]:
    vouchers = api.as_(world.owner).get(f"/api/v1/teams/{world.team.id}/vouchers").json
    return {v["level"]: v["balance_fen"] for v in vouchers}


def _vouchers(make, world):
    municipal = make.program(resource_kinds=["service"], rate_bp=3000, name="M")
    district = make.program(
        level="district",
        district_code="500106",
        resource_kinds=["service"],
        rate_bp=5000,
        stack_ceiling_bp=7000,
    )
    make.voucher(world.team, municipal, 100_000)
    make.voucher(world.team, district, 100_000)


def test_settlement_to_the_fen_with_stacking_and_partial_samples(api, make, app):
    world = order_world(make, price=33_333)
    _vouchers(make, world)
    order = submit(api, world, samples=4).json
    # 4 × 33,333 = 133,332: municipal floor(30%) = 39,999; district min(50%, 70% − municipal) = 53,333
    assert order["quote"]["total_fen"] == 133_332
    assert [(s["level"], s["amount_fen"]) for s in order["quote"]["subsidies"]] == [
        ("municipal", 39_999),
        ("district", 53_333),
    ]
    assert order["quote"]["team_pays_fen"] == 40_000
    assert _balances(api, world) == {"municipal": 60_001, "district": 46_667}

    drive(api, world, order["id"], "completed", samples_processed=3)
    finance = make.finance(None)
    run = api.as_(finance).post("/api/v1/reconciliation/runs")
    assert run.status_code == 201 and run.json["settled"] == 1, run.json

    settled = api.as_(world.owner).get(f"/api/v1/service-orders/{order['id']}").json
    assert settled["status"] == "settled"
    # 3 × 33,333 = 99,999: municipal 29,999; district min(49,999, 69,999 − 29,999) = 40,000
    settlement = settled["settlement"]
    assert settlement["total_fen"] == 99_999
    assert [(s["level"], s["amount_fen"]) for s in settlement["subsidies"]] == [
        ("municipal", 29_999),
        ("district", 40_000),
    ]
    assert settlement["team_pays_fen"] == 30_000 and settlement["fee_fen"] == 0
    assert settled["quote"] == order["quote"]  # the quote never changes
    # the over-commitment went back: each voucher lost exactly what it settled
    assert _balances(api, world) == {"municipal": 70_001, "district": 60_000}

    again = api.as_(finance).post("/api/v1/reconciliation/runs")
    assert again.json["settled"] == 0
    assert _balances(api, world) == {"municipal": 70_001, "district": 60_000}
    assert [m.kind for m in mails_to(app, world.owner.email)][-1] == "service_order_settled"
    with app.app_context():
        assert ledger_breaches() == []
        order_row = db.session.get(ServiceOrder, order["id"])
        assert order_row.booking.status == "settled"


def test_only_completed_orders_are_settled_and_the_payee_is_the_lab(api, make, app):
    world = order_world(make, price=10_000)
    _vouchers(make, world)
    waiting = submit(api, world, samples=1).json["id"]
    in_progress = submit(api, world, samples=1).json["id"]
    drive(api, world, in_progress, "in_progress")
    done = submit(api, world, samples=2).json["id"]
    drive(api, world, done, "completed")
    cancelled = submit(api, world, samples=1).json["id"]
    api.as_(world.owner).post(f"/api/v1/service-orders/{cancelled}/cancel")
    finance = make.finance(None)
    assert api.as_(finance).post("/api/v1/reconciliation/runs").json["settled"] == 1
    statuses = {
        i: api.as_(world.owner).get(f"/api/v1/service-orders/{i}").json["status"]
        for i in (waiting, in_progress, done, cancelled)
    }
    assert statuses == {
        waiting: "submitted",
        in_progress: "in_progress",
        done: "settled",
        cancelled: "cancelled",
    }
    with app.app_context():
        from vouchers.models import Settlement

        booking_id = db.session.get(ServiceOrder, done).booking_id
        row = db.session.query(Settlement).filter_by(booking_id=booking_id).one()
        assert (row.payee_kind, row.payee_id, row.actual_cost_fen) == ("lab", world.lab.id, 20_000)
        assert ledger_breaches() == []


def test_an_order_without_vouchers_is_never_subsidised(api, make, app):
    world = order_world(make, price=10_000)
    _vouchers(make, world)
    order_id = submit(api, world, samples=2, use_vouchers=False).json["id"]
    drive(api, world, order_id, "completed")
    api.as_(make.finance(None)).post("/api/v1/reconciliation/runs")
    order = api.as_(world.owner).get(f"/api/v1/service-orders/{order_id}").json
    assert order["quote"]["subsidies"] == [] and order["settlement"]["subsidies"] == []
    assert order["settlement"]["team_pays_fen"] == 20_000


def test_statement_lines_name_the_service(api, make, app):
    world = order_world(make, price=10_000)
    order_id = submit(api, world, samples=1).json["id"]
    drive(api, world, order_id, "completed")
    api.as_(make.finance(None)).post("/api/v1/reconciliation/runs")
    with app.app_context():
        from booking.models import User
        from vouchers.reports import statement_lines
        from vouchers.settling import Settlement

        settled = db.session.query(Settlement).one()
        officer = db.session.query(User).filter_by(role="finance").first()
        rows = list(statement_lines.line_rows(officer, settled.period))
        assert [(r[4], r[5]) for r in rows] == [("service", world.service.name)]
