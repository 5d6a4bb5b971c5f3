"""Teams, members, verification, labs and their managers through the API."""

from sqlalchemy import func, select

from booking.core.db import db
from booking.models import Organization


def test_team_registration_makes_owner_a_member(api, make):
    founder = make.user("founder")
    body = {
        "name": " 山城 AI ",
        "university": "重庆大学",
        "district_code": "500106",
        "organization": "山城智能科技有限公司",
    }
    response = api.as_(founder).post("/api/v1/teams", json=body)
    assert response.status_code == 201
    team = response.json
    assert team["verified"] is False
    assert team["name"] == "山城 AI"
    assert team["owner_id"] == founder.id
    assert team["members"] == [{"user_id": founder.id, "role": "owner"}]
    assert team["university"] == "重庆大学" and team["district_code"] == "500106"


def test_organisations_are_shared_entities(api, make, app):
    founder = make.user("founder")
    for name in ("A", "B"):
        body = {"name": name, "university": "重庆大学", "district_code": "500106", "organization": "重庆大学"}
        assert api.as_(founder).post("/api/v1/teams", json=body).status_code == 201
    with app.app_context():
        count = db.session.scalar(
            select(func.count()).select_from(Organization).where(Organization.name == "重庆大学")
        )
    assert count == 1


def test_adding_a_member_twice_is_204_and_one_membership(api, make):
    owner = make.user("founder")
    team = make.team(owner=owner)
    member = make.user("founder")
    for _ in range(2):
        assert (
            api.as_(owner).post(f"/api/v1/teams/{team.id}/members", json={"user_id": member.id}).status_code
            == 204
        )
    members = api.as_(owner).get(f"/api/v1/teams/{team.id}").json["members"]
    assert members == [{"user_id": owner.id, "role": "owner"}, {"user_id": member.id, "role": "member"}]
    # the new member now sees the team, and may not add members (not the owner)
    assert api.as_(member).get(f"/api/v1/teams/{team.id}").status_code == 200
    third = make.user("founder")
    assert (
        api.as_(member).post(f"/api/v1/teams/{team.id}/members", json={"user_id": third.id}).status_code
        == 403
    )


def test_members_must_be_existing_founders(api, make):
    owner = make.user("founder")
    team = make.team(owner=owner)
    unknown = api.as_(owner).post(f"/api/v1/teams/{team.id}/members", json={"user_id": 999999})
    assert unknown.status_code == 422 and "user_id" in unknown.json["error"]["details"]
    finance = make.finance()
    not_founder = api.as_(owner).post(f"/api/v1/teams/{team.id}/members", json={"user_id": finance.id})
    assert not_founder.status_code == 422 and not_founder.json["error"]["code"] == "not_a_founder"


def test_verification_by_district_finance_is_recorded_and_idempotent(api, make):
    team = make.team(district_code="500112")
    officer = make.finance("500112")
    first = api.as_(officer).post(f"/api/v1/teams/{team.id}/verify")
    assert first.status_code == 200 and first.json["verified"] is True
    again = api.as_(officer).post(f"/api/v1/teams/{team.id}/verify")
    assert again.status_code == 200 and again.json["verified_at"] == first.json["verified_at"]
    assert api.as_(make.user("admin")).get(f"/api/v1/teams/{team.id}").json["verified"] is True


def test_lab_managers_are_idempotent_and_must_be_lab_managers(api, make):
    admin = make.user("admin")
    lab = make.lab()
    manager = make.user("lab_manager")
    for _ in range(2):
        assert (
            api.as_(admin).post(f"/api/v1/labs/{lab.id}/managers", json={"user_id": manager.id}).status_code
            == 204
        )
    assert api.as_(admin).get(f"/api/v1/labs/{lab.id}").json["manager_ids"] == [manager.id]
    founder = make.user("founder")
    wrong = api.as_(admin).post(f"/api/v1/labs/{lab.id}/managers", json={"user_id": founder.id})
    assert wrong.status_code == 422 and wrong.json["error"]["code"] == "not_a_lab_manager"
    assert (
        api.as_(admin).post("/api/v1/labs/999999/managers", json={"user_id": manager.id}).status_code == 404
    )
    assert api.as_(manager).get("/api/v1/me").json["lab_ids"] == [lab.id]


def test_provider_users_belong_to_their_provider(api, make):
    admin = make.user("admin")
    provider = api.as_(admin).post(
        "/api/v1/providers", json={"name": "渝算云", "organization": "渝算云计算有限公司"}
    )
    assert provider.status_code == 201
    body = {
        "email": "ops@yusuan.cn",
        "password": "long enough",
        "name": "Ops",
        "role": "provider",
        "provider_id": provider.json["id"],
    }
    user = api.as_(admin).post("/api/v1/users", json=body)
    assert user.status_code == 201 and user.json["provider_id"] == provider.json["id"]


def test_districts_reference_data(api, make):
    districts = api.as_(make.user("founder")).get("/api/v1/districts").json
    assert len(districts) == 38
    shapingba = next(d for d in districts if d["code"] == "500106")
    assert shapingba == {"code": "500106", "name_zh": "沙坪坝区", "name_en": "Shapingba", "kind": "district"}
