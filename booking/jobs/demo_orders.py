"""The demo world's testing-service orders, a weekly booking series and a lab's redemption claim
(called by ``booking.jobs.demo.load_world``), built through the operations like the rest of it."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import select

from booking.core import clock
from booking.core.db import db
from booking.flow import series, service_orders, service_ratings, service_results
from booking.models import User
from instruments.models import Service
from vouchers import claims

SEM_RESULT = "样品编号,放大倍数,图像文件\nZM-01,5000,ZM-01_5k.tif\nZM-02,20000,ZM-02_20k.tif\nZM-03,50000,ZM-03_50k.tif\n"


def _service(name: str) -> Service:
    return db.session.scalars(select(Service).where(Service.name == name)).one()


def _order(world, team_key: str, service_name: str, samples: int, answers: dict):
    team = world.teams[team_key]
    return service_orders.submit_order(
        db.session.get(User, team.owner_id),
        team_id=team.id,
        service_id=_service(service_name).id,
        samples=samples,
        answers=answers,
    )


def past_month_orders(world, at, days: list[date]) -> None:
    """Last month: 智眸 sent three samples for SEM; the lab received, imaged, uploaded and completed
    them, and the team rated the service (reconciliation then settles the order with the month)."""
    lab = world.users["lab.cqu"]
    with clock.frozen_at(at(days[2], 10)):
        order = _order(
            world, "zhimou", "扫描电镜形貌观察", 3, {"sample_name": "氧化锌纳米线", "form": "粉末"}
        )
        service_orders.accept(lab, order)
    with clock.frozen_at(at(days[3], 9)):
        service_orders.receive(lab, order)
    with clock.frozen_at(at(days[5], 16)):
        service_results.add_result(
            lab, order, filename="SEM形貌结果.csv", stream=SEM_RESULT.encode(), content_type="text/csv"
        )
        service_orders.complete(lab, order, 3)
    with clock.frozen_at(at(days[6], 9)):
        owner = db.session.get(User, world.teams["zhimou"].owner_id)
        service_ratings.rate(owner, order, 5, "图像清晰，三天就出结果。")


def orders_and_series_ahead(world, now: datetime, at, days: list[date]) -> None:
    """This week: an XRD order being processed, a flow-cytometry order waiting for the lab, and a
    weekly series on the cytometer (four Thursdays)."""
    with clock.frozen_at(now - timedelta(days=1)):
        xrd = _order(world, "weina", "粉末 XRD 物相分析", 2, {"sample_name": "锂电正极材料", "form": "粉末"})
        service_orders.accept(world.users["lab.cqu"], xrd)
    with clock.frozen_at(now):
        service_orders.receive(world.users["lab.cqu"], xrd)
        _order(world, "jinyun", "细胞周期流式检测", 4, {"sample_name": "HeLa 细胞", "form": "液体"})
        team = world.teams["jinyun"]
        cytometer = world.instruments[3]
        series.create_series(
            db.session.get(User, team.owner_id),
            team_id=team.id,
            instrument_id=cytometer.id,
            starts_at=at(days[3], 14),
            ends_at=at(days[3], 16),
            every="week",
            count=4,
            on_conflict="skip",
        )


def claim_of_last_month(world, period: str) -> None:
    """The CQU lab claims what last month's vouchers owe it (the month is closed), with its invoice."""
    lab_id = _service("扫描电镜形貌观察").lab_id
    claims.file_claim(
        world.users["lab.cqu"],
        payee_kind="lab",
        payee_id=lab_id,
        period=period,
        invoice_number="50022600012345678",
    )
