"""Who may call which endpoint of the foundation: every role × every endpoint → expected status.

404 where the object belongs to someone else's team/district (never reveal it exists); 403 where the
role may not do this at all; 401 without a token.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import pytest

_n = itertools.count(1)


@dataclass
class World:
    users: dict
    team: object
    lab: object
    provider: object
    spare_founder: object
    spare_lab_manager: object


@pytest.fixture
def world(make) -> World:
    owner = make.user("founder")
    team = make.team(owner=owner, district_code="500106")
    lab_manager = make.user("lab_manager")
    lab = make.lab(manager=lab_manager)
    provider = make.provider()
    provider_user = make.user("provider", provider_id=provider.id)
    users = {
        "anonymous": None,
        "owner": owner,
        "other_founder": make.user("founder"),
        "lab_manager": lab_manager,
        "provider": provider_user,
        "finance_same_district": make.finance("500106"),
        "finance_other_district": make.finance("500103"),
        "finance_municipal": make.finance(None),
        "admin": make.user("admin"),
    }
    return World(users, team, lab, provider, make.user("founder"), make.user("lab_manager"))


def _new_user_body():
    return {"email": f"new{next(_n)}@example.cn", "password": "s3cret-pass", "name": "New", "role": "founder"}


ENDPOINTS = {
    "create_user": lambda w: ("post", "/api/v1/users", _new_user_body()),
    "list_users": lambda w: ("get", "/api/v1/users", None),
    "create_lab": lambda w: (
        "post",
        "/api/v1/labs",
        {"name": "L", "university": "重庆大学", "district_code": "500106", "organization": "重庆大学"},
    ),
    "add_lab_manager": lambda w: (
        "post",
        f"/api/v1/labs/{w.lab.id}/managers",
        {"user_id": w.spare_lab_manager.id},
    ),
    "create_provider": lambda w: ("post", "/api/v1/providers", {"name": "P", "organization": "P Co"}),
    "create_team": lambda w: (
        "post",
        "/api/v1/teams",
        {"name": "T", "university": "重庆大学", "district_code": "500106", "organization": "T Co"},
    ),
    "add_member": lambda w: ("post", f"/api/v1/teams/{w.team.id}/members", {"user_id": w.spare_founder.id}),
    "verify_team": lambda w: ("post", f"/api/v1/teams/{w.team.id}/verify", None),
    "get_team": lambda w: ("get", f"/api/v1/teams/{w.team.id}", None),
    "get_lab": lambda w: ("get", f"/api/v1/labs/{w.lab.id}", None),
    "get_provider": lambda w: ("get", f"/api/v1/providers/{w.provider.id}", None),
    "me": lambda w: ("get", "/api/v1/me", None),
}

ROLES = [
    "anonymous",
    "owner",
    "other_founder",
    "lab_manager",
    "provider",
    "finance_same_district",
    "finance_other_district",
    "finance_municipal",
    "admin",
]

# Expected status per endpoint, in the order of ROLES.
EXPECTED = {
    "create_user": [401, 403, 403, 403, 403, 403, 403, 403, 201],
    "list_users": [401, 403, 403, 403, 403, 403, 403, 403, 200],
    "create_lab": [401, 403, 403, 403, 403, 403, 403, 403, 201],
    "add_lab_manager": [401, 403, 403, 403, 403, 403, 403, 403, 204],
    "create_provider": [401, 403, 403, 403, 403, 403, 403, 403, 201],
    "create_team": [401, 201, 201, 403, 403, 403, 403, 403, 403],
    "add_member": [401, 204, 404, 403, 403, 403, 403, 403, 403],
    "verify_team": [401, 403, 403, 403, 403, 200, 404, 403, 200],
    "get_team": [401, 200, 404, 404, 404, 200, 404, 200, 200],
    "get_lab": [401, 200, 200, 200, 200, 200, 200, 200, 200],
    "get_provider": [401, 200, 200, 200, 200, 200, 200, 200, 200],
    "me": [401, 200, 200, 200, 200, 200, 200, 200, 200],
}

CASES = [
    pytest.param(endpoint, role, EXPECTED[endpoint][i], id=f"{endpoint}-{role}")
    for endpoint in EXPECTED
    for i, role in enumerate(ROLES)
]


@pytest.mark.parametrize(("endpoint", "role", "expected"), CASES)
def test_access_matrix(api, world, endpoint, role, expected):
    method, path, body = ENDPOINTS[endpoint](world)
    user = world.users[role]
    client = api.as_(user) if user is not None else api
    response = getattr(client, method)(path, json=body) if body is not None else getattr(client, method)(path)
    assert response.status_code == expected, response.get_data(as_text=True)
    if expected >= 400:
        assert set(response.json["error"]) == {"code", "message", "details"}


def test_matrix_covers_every_foundation_endpoint():
    assert set(EXPECTED) == set(ENDPOINTS)
    assert all(len(statuses) == len(ROLES) for statuses in EXPECTED.values())


def test_refused_write_changes_nothing(api, world, make):
    before = api.as_(world.users["admin"]).get(f"/api/v1/teams/{world.team.id}").json
    response = api.as_(world.users["other_founder"]).post(
        f"/api/v1/teams/{world.team.id}/members", json={"user_id": world.spare_founder.id}
    )
    assert response.status_code == 404
    after = api.as_(world.users["admin"]).get(f"/api/v1/teams/{world.team.id}").json
    assert after["members"] == before["members"]


def test_district_finance_lists_only_its_district(api, make):
    ours = make.team(district_code="500106")
    theirs = make.team(district_code="500103")
    listed = api.as_(make.finance("500106")).get("/api/v1/teams").json["items"]
    assert [t["id"] for t in listed] == [ours.id]
    municipal = api.as_(make.finance(None)).get("/api/v1/teams").json["items"]
    assert {t["id"] for t in municipal} == {ours.id, theirs.id}


def test_founder_lists_only_own_teams(api, make):
    founder = make.user("founder")
    mine = make.team(owner=founder)
    make.team()
    listed = api.as_(founder).get("/api/v1/teams").json["items"]
    assert [t["id"] for t in listed] == [mine.id]


def test_user_by_id_is_self_or_admin(api, make):
    a, b = make.user("founder"), make.user("founder")
    assert api.as_(a).get(f"/api/v1/users/{a.id}").status_code == 200
    assert api.as_(a).get(f"/api/v1/users/{b.id}").status_code == 404
    assert api.as_(make.user("admin")).get(f"/api/v1/users/{b.id}").status_code == 200
