"""Lab testing services over the API: publishing, changing, searching; the sample form's rules."""

from __future__ import annotations

import pytest

SAMPLE_FIELDS = [
    {"key": "material", "label": "材料", "type": "text", "required": True},
    {"key": "count_per_tube", "label": "每管数量", "type": "number", "required": False},
    {"key": "coating", "label": "镀膜", "type": "choice", "required": True, "choices": ["金", "碳"]},
]


def body(**over):
    return {
        "name": "扫描电镜形貌观察",
        "category": "SEM",
        "description": "表面形貌，最高 10 万倍",
        "price_per_sample_fen": 30_000,
        "turnaround_days": 5,
        "max_samples": 20,
        "sample_fields": SAMPLE_FIELDS,
        **over,
    }


@pytest.fixture
def lab_and_manager(make):
    manager = make.user("lab_manager")
    return make.lab(manager=manager), manager


def test_the_labs_manager_publishes_a_service(api, lab_and_manager):
    lab, manager = lab_and_manager
    response = api.as_(manager).post(f"/api/v1/labs/{lab.id}/services", json=body())
    assert response.status_code == 201, response.json
    service = response.json
    assert service["lab_id"] == lab.id and service["active"] is True and service["id"] > 0
    for name, value in body().items():
        assert service[name] == value, name
    assert api.as_(manager).get(f"/api/v1/services/{service['id']}").json["name"] == "扫描电镜形貌观察"


def test_another_labs_manager_gets_404_and_other_roles_403(api, make, lab_and_manager):
    lab, _manager = lab_and_manager
    other_manager = make.user("lab_manager")
    make.lab(manager=other_manager)
    assert api.as_(other_manager).post(f"/api/v1/labs/{lab.id}/services", json=body()).status_code == 404
    for role in ("founder", "finance", "provider"):
        user = make.finance() if role == "finance" else make.user(role)
        response = api.as_(user).post(f"/api/v1/labs/{lab.id}/services", json=body())
        assert response.status_code == 403, role


def test_patch_changes_only_what_it_names_and_can_withdraw(api, make, lab_and_manager):
    lab, manager = lab_and_manager
    service = make.service(lab, name="XRD 物相分析", category="XRD")
    other_manager = make.user("lab_manager")
    make.lab(manager=other_manager)
    assert (
        api.as_(other_manager).patch(f"/api/v1/services/{service.id}", json={"name": "x"}).status_code == 404
    )
    assert (
        api.as_(make.user("founder")).patch(f"/api/v1/services/{service.id}", json={"name": "x"}).status_code
        == 403
    )

    response = api.as_(manager).patch(f"/api/v1/services/{service.id}", json={"price_per_sample_fen": 0})
    assert response.status_code == 200, response.json
    assert response.json["price_per_sample_fen"] == 0
    assert response.json["name"] == "XRD 物相分析" and response.json["turnaround_days"] == 5
    assert len(response.json["sample_fields"]) == 2

    response = api.as_(manager).patch(f"/api/v1/services/{service.id}", json={"active": False})
    assert response.status_code == 200 and response.json["active"] is False
    founder = make.user("founder")
    assert api.as_(founder).get(f"/api/v1/services/{service.id}").status_code == 404
    assert api.as_(manager).get(f"/api/v1/services/{service.id}").status_code == 200
    response = api.as_(manager).patch(f"/api/v1/services/{service.id}", json={"active": True})
    assert response.json["active"] is True
    assert api.as_(founder).get(f"/api/v1/services/{service.id}").status_code == 200


@pytest.mark.parametrize(
    ("fields", "path"),
    [
        ("not a list", "sample_fields"),
        ([{"key": "a", "label": "A", "type": "text", "required": True}] * 31, "sample_fields"),
        (["material"], "sample_fields.0"),
        ([{"key": "Material", "label": "A", "type": "text", "required": True}], "sample_fields.0.key"),
        ([{"key": "1st", "label": "A", "type": "text", "required": True}], "sample_fields.0.key"),
        ([{"key": "a" * 41, "label": "A", "type": "text", "required": True}], "sample_fields.0.key"),
        (
            [
                {"key": "a", "label": "A", "type": "text", "required": True},
                {"key": "a", "label": "B", "type": "text", "required": True},
            ],
            "sample_fields.1.key",
        ),
        ([{"key": "a", "label": " ", "type": "text", "required": True}], "sample_fields.0.label"),
        ([{"key": "a", "label": "L" * 101, "type": "text", "required": True}], "sample_fields.0.label"),
        ([{"key": "a", "label": "A", "type": "date", "required": True}], "sample_fields.0.type"),
        ([{"key": "a", "label": "A", "type": "text", "required": "yes"}], "sample_fields.0.required"),
        ([{"key": "a", "label": "A", "type": "text"}], "sample_fields.0.required"),
        ([{"key": "a", "label": "A", "type": "choice", "required": True}], "sample_fields.0.choices"),
        (
            [{"key": "a", "label": "A", "type": "choice", "required": True, "choices": []}],
            "sample_fields.0.choices",
        ),
        (
            [{"key": "a", "label": "A", "type": "choice", "required": True, "choices": ["x", "x"]}],
            "sample_fields.0.choices",
        ),
        (
            [{"key": "a", "label": "A", "type": "choice", "required": True, "choices": ["x", ""]}],
            "sample_fields.0.choices",
        ),
        (
            [{"key": "a", "label": "A", "type": "text", "required": True, "choices": ["x"]}],
            "sample_fields.0.choices",
        ),
        (
            [
                {"key": "a", "label": "A", "type": "text", "required": True},
                {"key": "b", "label": "B", "type": "choice", "required": True, "choices": "x,y"},
            ],
            "sample_fields.1.choices",
        ),
        ([{"key": "a", "label": "A\x00", "type": "text", "required": True}], "sample_fields.0.label"),
        ([{"key": "a", "label": "A", "type": "text", "required": True, "hint": "?"}], "sample_fields.0"),
    ],
)
def test_each_sample_form_problem_is_422_invalid_naming_its_path(api, lab_and_manager, fields, path):
    lab, manager = lab_and_manager
    response = api.as_(manager).post(f"/api/v1/labs/{lab.id}/services", json=body(sample_fields=fields))
    assert response.status_code == 422, response.json
    assert response.json["error"]["code"] == "invalid"
    assert path in response.json["error"]["details"], response.json
    service = api.as_(manager).post(f"/api/v1/labs/{lab.id}/services", json=body()).json
    response = api.as_(manager).patch(f"/api/v1/services/{service['id']}", json={"sample_fields": fields})
    assert response.status_code == 422 and path in response.json["error"]["details"]


@pytest.mark.parametrize(
    ("over", "field"),
    [
        ({"price_per_sample_fen": -1}, "price_per_sample_fen"),
        ({"turnaround_days": 0}, "turnaround_days"),
        ({"max_samples": 0}, "max_samples"),
        ({"name": "x" * 201}, "name"),
        ({"category": "c" * 51}, "category"),
    ],
)
def test_numbers_and_names_are_bounded(api, lab_and_manager, over, field):
    lab, manager = lab_and_manager
    response = api.as_(manager).post(f"/api/v1/labs/{lab.id}/services", json=body(**over))
    assert response.status_code == 422 and field in response.json["error"]["details"]


def _names(response) -> set[str]:
    assert response.status_code == 200, response.json
    return {s["name"] for s in response.json["items"]}


def test_search_filters(api, make):
    manager = make.user("lab_manager")
    shapingba = make.lab(manager=manager, district_code="500106")
    beibei = make.lab(district_code="500109")
    make.service(shapingba, name="形貌观察", category="SEM", description="表面")
    make.service(shapingba, name="物相分析", category="XRD", description="晶体结构")
    make.service(beibei, name="荧光成像", category="Confocal", description="活细胞 SEM 样品不收")
    make.service(beibei, name="细胞计数", category="SEM-like", description="")
    founder = make.user("founder")
    search = api.as_(founder)
    assert {"形貌观察", "物相分析", "荧光成像", "细胞计数"} <= _names(search.get("/api/v1/services"))
    # q: name, category and description, case-insensitive
    assert _names(search.get("/api/v1/services", query_string={"q": "物相"})) == {"物相分析"}
    assert _names(search.get("/api/v1/services", query_string={"q": "xrd"})) == {"物相分析"}
    assert _names(search.get("/api/v1/services", query_string={"q": "活细胞"})) == {"荧光成像"}
    assert _names(search.get("/api/v1/services", query_string={"q": "sem", "lab_id": beibei.id})) == {
        "荧光成像",
        "细胞计数",
    }
    # category is exact
    assert _names(search.get("/api/v1/services", query_string={"category": "SEM"})) >= {"形貌观察"}
    assert "细胞计数" not in _names(search.get("/api/v1/services", query_string={"category": "SEM"}))
    assert _names(search.get("/api/v1/services", query_string={"category": "sem"})) == set()
    # the lab's district; one lab
    assert _names(
        search.get("/api/v1/services", query_string={"district_code": "500109", "lab_id": beibei.id})
    ) == {"荧光成像", "细胞计数"}
    assert "荧光成像" not in _names(search.get("/api/v1/services", query_string={"district_code": "500106"}))
    assert _names(search.get("/api/v1/services", query_string={"lab_id": shapingba.id})) == {
        "形貌观察",
        "物相分析",
    }
    assert search.get("/api/v1/services", query_string={"district_code": "x"}).status_code == 422


def test_inactive_services_are_listed_only_to_their_labs_managers(api, make):
    manager = make.user("lab_manager")
    lab = make.lab(manager=manager)
    make.service(lab, name="在售")
    make.service(lab, name="已下架", active=False)
    other_manager = make.user("lab_manager")
    make.lab(manager=other_manager)
    query = {"lab_id": lab.id}
    assert _names(api.as_(make.user("founder")).get("/api/v1/services", query_string=query)) == {"在售"}
    assert _names(api.as_(other_manager).get("/api/v1/services", query_string=query)) == {"在售"}
    assert _names(api.as_(manager).get("/api/v1/services", query_string=query)) == {"在售", "已下架"}
    assert _names(api.as_(make.user("admin")).get("/api/v1/services", query_string=query)) == {
        "在售",
        "已下架",
    }


def test_the_list_pages_with_a_cursor(api, make):
    lab = make.lab()
    for n in range(3):
        make.service(lab, name=f"S{n}")
    founder = api.as_(make.user("founder"))
    first = founder.get("/api/v1/services", query_string={"lab_id": lab.id, "limit": 2}).json
    assert len(first["items"]) == 2 and first["next_cursor"]
    rest = founder.get(
        "/api/v1/services", query_string={"lab_id": lab.id, "limit": 2, "cursor": first["next_cursor"]}
    ).json
    assert [s["name"] for s in rest["items"]] == ["S2"] and rest["next_cursor"] is None


def test_signed_out_is_401(client):
    assert client.get("/api/v1/services").status_code == 401
