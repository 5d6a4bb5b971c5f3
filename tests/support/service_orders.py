"""A small world for service order tests: a lab with its manager and a testing service, a verified
team, and helpers that drive an order through the API."""

from __future__ import annotations

from dataclasses import dataclass

ANSWERS = {"material": "硅片", "coating": "金"}


@dataclass
class OrderWorld:
    manager: object
    lab: object
    service: object
    owner: object
    team: object


def order_world(make, *, price: int = 20_000, max_samples: int = 10, turnaround_days: int = 5, **team_kw):
    manager = make.user("lab_manager")
    lab = make.lab(manager=manager, organization="重庆大学")
    service = make.service(
        lab, price_per_sample_fen=price, max_samples=max_samples, turnaround_days=turnaround_days
    )
    owner = make.user("founder")
    team = make.team(owner=owner, verified=True, **team_kw)
    return OrderWorld(manager, lab, service, owner, team)


def submit(api, world: OrderWorld, samples: int = 3, **over):
    body = {"team_id": world.team.id, "service_id": world.service.id, "samples": samples, "answers": ANSWERS}
    return api.as_(over.pop("by", world.owner)).post("/api/v1/service-orders", json={**body, **over})


def upload(api, world: OrderWorld, order_id: int, data: bytes = b"%PDF-1.4 result", name: str = "结果.pdf"):
    import io

    return api.as_(world.manager).post(
        f"/api/v1/service-orders/{order_id}/results",
        data={"file": (io.BytesIO(data), name, "application/pdf")},
        content_type="multipart/form-data",
    )


def drive(api, world: OrderWorld, order_id: int, to: str, samples_processed: int | None = None) -> dict:
    """Move an order through the lab's steps up to ``to`` (accepted, in_progress, completed)."""
    manager = api.as_(world.manager)
    steps = ["accepted", "in_progress", "completed"]
    answer = None
    for step in steps[: steps.index(to) + 1]:
        if step == "accepted":
            answer = manager.post(f"/api/v1/service-orders/{order_id}/accept")
        elif step == "in_progress":
            answer = manager.post(f"/api/v1/service-orders/{order_id}/receive")
        else:
            assert upload(api, world, order_id).status_code == 201
            order = manager.get(f"/api/v1/service-orders/{order_id}").json
            answer = manager.post(
                f"/api/v1/service-orders/{order_id}/complete",
                json={"samples_processed": samples_processed or order["samples"]},
            )
        assert answer.status_code == 200, (step, answer.json)
    return answer.json
