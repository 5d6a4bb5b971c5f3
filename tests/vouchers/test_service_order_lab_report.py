"""The lab report shows, beside the instruments' hours, each testing service's orders completed and
settled, samples processed, ratings and their average, and income — in JSON, CSV and on the page."""

from __future__ import annotations

import csv
import io

from booking.flow.service_orders import lab_today
from tests.support.service_orders import drive, order_world, submit


def _world_with_orders(api, make):
    world = order_world(make, price=10_000)
    first = submit(api, world, samples=3).json["id"]
    drive(api, world, first, "completed", samples_processed=2)
    finance = make.finance(None)
    assert api.as_(finance).post("/api/v1/reconciliation/runs").json["settled"] == 1
    second = submit(api, world, samples=3).json["id"]
    drive(api, world, second, "completed", samples_processed=3)
    api.as_(world.owner).post(f"/api/v1/service-orders/{first}/rating", json={"score": 5})
    api.as_(world.owner).post(f"/api/v1/service-orders/{second}/rating", json={"score": 4, "comment": "快"})
    make.service(world.lab, name="无订单的服务")
    return world, finance


def test_the_lab_report_counts_orders_samples_ratings_and_income(api, make, client, login):
    world, finance = _world_with_orders(api, make)
    period = lab_today().strftime("%Y-%m")
    report = api.as_(finance).get(f"/api/v1/finance/lab-report?period={period}").json
    rows = {r["service_name"]: r for r in report["services"] if r["lab_id"] == world.lab.id}
    assert rows[world.service.name] == {
        "lab_id": world.lab.id,
        "lab_name": world.lab.name,
        "service_id": world.service.id,
        "service_name": world.service.name,
        "orders_completed": 2,
        "orders_settled": 1,
        "samples_processed": 5,
        "ratings": 2,
        "average_score": "4.50",
        "income_fen": 20_000,
    }
    idle = rows["无订单的服务"]
    assert (idle["orders_completed"], idle["ratings"], idle["average_score"], idle["income_fen"]) == (
        0,
        0,
        None,
        0,
    )
    other_month = api.as_(finance).get("/api/v1/finance/lab-report?period=2020-01").json["services"]
    assert all(r["orders_completed"] == 0 and r["ratings"] == 0 for r in other_month)

    csv_file = api.as_(finance).get(f"/api/v1/finance/lab-report?period={period}&format=csv&part=services")
    assert csv_file.status_code == 200
    lines = list(csv.DictReader(io.StringIO(csv_file.get_data(as_text=True).lstrip("\ufeff"))))
    mine = next(line for line in lines if line["service_name"] == world.service.name)
    assert (mine["samples_processed"], mine["average_score"], mine["income_fen"]) == ("5", "4.50", "20000")

    login(finance)
    page = client.get(f"/finance/lab-report?period={period}").get_data(as_text=True)
    assert world.service.name in page and "4.50" in page and "平均评分" in page
    download = client.get(f"/finance/lab-report/download?period={period}&part=services")
    assert download.status_code == 200 and "检测样品数" in download.get_data(as_text=True)
