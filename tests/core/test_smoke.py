def test_healthz_answers_when_database_is_up(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok"}


def test_factories_and_api_round_trip(api, make):
    founder = make.user("founder")
    team = make.team(owner=founder)
    response = api.as_(founder).get(f"/api/v1/teams/{team.id}")
    assert response.status_code == 200
    assert response.json["name"] == team.name


def test_each_test_starts_clean(api, make):
    admin = make.user("admin")
    response = api.as_(admin).get("/api/v1/teams")
    assert response.json["items"] == []
