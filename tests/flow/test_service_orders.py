"""The service order operations themselves (what the pages call too): the preview quote equals what
ordering commits, ratings' rules, the overdue rule, and the result file name kept as uploaded."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from booking.core.db import db, write_intent
from booking.core.errors import Conflict, Forbidden, Invalid
from booking.flow import service_orders, service_ratings, service_results
from booking.models import Team, User
from instruments.models import Service, ServiceOrder, ServiceOrderStatus
from tests.support.service_orders import ANSWERS, drive, order_world, submit
from vouchers import commitments


def test_the_preview_quote_is_what_ordering_commits(api, make, app):
    world = order_world(make, price=12_345)
    program = make.program(resource_kinds=["service"], rate_bp=3333)
    make.voucher(world.team, program, 30_000)
    with app.app_context(), write_intent():
        team, service = db.session.get(Team, world.team.id), db.session.get(Service, world.service.id)
        preview = service_orders.quote_order(team, service, 7)
        assert service_orders.quote_order(team, service, 7, use_vouchers=False).subsidy_fen == 0
        order = service_orders.submit_order(
            db.session.get(User, world.owner.id),
            team_id=team.id,
            service_id=service.id,
            samples=7,
            answers=ANSWERS,
        )
        quote = commitments.quote(order.booking)
        assert preview.total_fen == quote["total_fen"] == 86_415
        assert (
            preview.subsidy_fen == sum(s["amount_fen"] for s in quote["subsidies"]) == 28_802
        )  # floor(86,415 × 33.33 %)
        assert preview.team_pays_fen == quote["team_pays_fen"]
        assert order.status == ServiceOrderStatus.SUBMITTED and order.booking.kind == "service"
        assert order.booking.ends_at - order.booking.starts_at == timedelta(days=5)
        db.session.rollback()


def test_rating_rules(api, make, app):
    world = order_world(make)
    order_id = submit(api, world).json["id"]
    with app.app_context(), write_intent():
        order = db.session.get(ServiceOrder, order_id)
        owner = db.session.get(User, world.owner.id)
        with pytest.raises(Conflict) as early:
            service_ratings.rate(owner, order, 4)
        assert early.value.code == "invalid_status"
        db.session.rollback()
    drive(api, world, order_id, "completed")
    with app.app_context(), write_intent():
        order = db.session.get(ServiceOrder, order_id)
        owner = db.session.get(User, world.owner.id)
        with pytest.raises(Forbidden):
            service_ratings.rate(db.session.get(User, world.manager.id), order, 4)
        for bad in (0, 6, True, "5"):
            with pytest.raises(Invalid):
                service_ratings.rate(owner, order, bad)
        with pytest.raises(Invalid):
            service_ratings.rate(owner, order, 4, "bad\x00comment")
        rating = service_ratings.rate(owner, order, 4, "  很专业  ")
        assert (rating.score, rating.comment) == (4, "很专业")
        with pytest.raises(Conflict) as twice:
            service_ratings.rate(owner, order, 5)
        assert twice.value.code == "already_rated"
        db.session.rollback()


def test_overdue_is_in_progress_past_the_due_date():
    order = ServiceOrder(status=ServiceOrderStatus.IN_PROGRESS, due_on=date(2026, 12, 10))
    assert not service_orders.is_overdue(order, date(2026, 12, 10))
    assert service_orders.is_overdue(order, date(2026, 12, 11))
    order.status = ServiceOrderStatus.COMPLETED
    assert not service_orders.is_overdue(order, date(2026, 12, 11))


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("结果.pdf", "结果.pdf"),
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\实验\\谱图.csv", "谱图.csv"),
        ("bad\r\nname.txt", "badname.txt"),
        ("", "result"),
        (None, "result"),
        ("a" * 300 + ".xlsx", "a" * 250 + ".xlsx"),
    ],
)
def test_result_file_names_are_kept_as_uploaded_but_safe(given, kept):
    assert service_results.clean_filename(given) == kept
