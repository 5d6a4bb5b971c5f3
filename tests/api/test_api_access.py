"""Access rules of the foundation beyond the role × endpoint matrix (tests/web/test_access_matrix.py):
refused writes change nothing, lists are scoped to what the caller may see."""

from __future__ import annotations

from dataclasses import dataclass

import pytest


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
