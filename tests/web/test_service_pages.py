"""Testing services on the HTML side: the lab's editor (sample form rows, "add a question" without
JavaScript, problems beside their row, withdraw and publish again) and the teams' catalogue and detail."""

from __future__ import annotations

import re

import pytest

from booking.core.db import db
from instruments.models import Service
from tests.conftest import csrf_token, sign_in


def text(response) -> str:
    return response.get_data(as_text=True)


def fetch(app, service_id: int) -> Service:
    with app.app_context():
        service = db.session.get(Service, service_id)
        db.session.expunge(service)
        return service


@pytest.fixture
def manager_and_lab(make):
    manager = make.user("lab_manager")
    return manager, make.lab(manager=manager, name="分析测试中心")


def form_data(token: str, lab_id: int | None, **over) -> dict:
    data = {
        "name": "扫描电镜形貌",
        "category": "SEM",
        "description": "最高 10 万倍",
        "price_yuan": "300.50",
        "turnaround_days": "5",
        "max_samples": "12",
        "sample_fields-0-key": "material",
        "sample_fields-0-label": "材料",
        "sample_fields-0-type": "text",
        "sample_fields-0-required": "y",
        "sample_fields-1-key": "coating",
        "sample_fields-1-label": "镀膜",
        "sample_fields-1-type": "choice",
        "sample_fields-1-choices": "金，碳, 铂",
        "sample_fields-2-key": "",
        "sample_fields-2-label": "",
        "sample_fields-2-type": "text",
        "submit": "yes",
        "csrf_token": token,
        **over,
    }
    if lab_id is not None:
        data["lab_id"] = str(lab_id)
    return data


def test_a_lab_manager_publishes_a_service_with_its_sample_form(client, login, manager_and_lab, app):
    manager, lab = manager_and_lab
    login(manager)
    console = text(client.get("/lab"))
    assert "检测服务" in console and "/lab/services/new" in console
    page = text(client.get("/lab/services/new"))
    assert "发布检测服务" in page and 'name="sample_fields-0-key"' in page
    response = client.post(
        "/lab/services/new", data=form_data(csrf_token(client, "/lab/services/new"), lab.id)
    )
    assert response.status_code == 302, text(response)[:3000]
    service_id = int(response.headers["Location"].rsplit("/", 1)[1])
    service = fetch(app, service_id)
    assert service.lab_id == lab.id and service.price_per_sample_fen == 30050 and service.max_samples == 12
    assert service.sample_fields == [
        {"key": "material", "label": "材料", "type": "text", "required": True},
        {
            "key": "coating",
            "label": "镀膜",
            "type": "choice",
            "required": False,
            "choices": ["金", "碳", "铂"],
        },
    ]
    console = text(client.get("/lab"))
    assert "扫描电镜形貌" in console and "¥300.50" in console


def test_add_a_question_brings_an_empty_row_and_saves_nothing(client, login, manager_and_lab, app):
    manager, lab = manager_and_lab
    login(manager)
    token = csrf_token(client, "/lab/services/new")
    data = form_data(token, lab.id, add_row="yes")
    del data["submit"]
    response = client.post("/lab/services/new", data=data)
    assert response.status_code == 200
    page = text(response)
    assert 'name="sample_fields-3-key"' in page and 'value="coating"' in page
    with app.app_context():
        assert db.session.query(Service).filter_by(lab_id=lab.id).count() == 0


def test_a_bad_row_is_refused_beside_it(client, login, manager_and_lab, app):
    manager, lab = manager_and_lab
    login(manager)
    token = csrf_token(client, "/lab/services/new")
    response = client.post(
        "/lab/services/new", data=form_data(token, lab.id, **{"sample_fields-1-choices": ""})
    )
    assert response.status_code == 422
    page = text(response)
    assert "选择题需要列出选项" in page
    assert page.index("选择题需要列出选项") > page.index('name="sample_fields-1-choices"')
    response = client.post(
        "/lab/services/new", data=form_data(token, lab.id, **{"sample_fields-1-key": "material"})
    )
    assert response.status_code == 422 and "小写标识" in text(response)
    with app.app_context():
        assert db.session.query(Service).filter_by(lab_id=lab.id).count() == 0


def test_editing_withdrawing_and_publishing_again(client, login, make, manager_and_lab, app):
    manager, lab = manager_and_lab
    service = make.service(lab, name="XRD 物相")
    login(manager)
    page = text(client.get(f"/lab/services/{service.id}"))
    assert 'value="XRD 物相"' in page and 'value="金, 碳"' in page and 'name="sample_fields-2-key"' in page
    token = csrf_token(client, f"/lab/services/{service.id}")
    data = form_data(token, None, name="XRD 物相分析", **{"sample_fields-1-key": ""})
    data["sample_fields-1-label"] = ""
    response = client.post(f"/lab/services/{service.id}", data=data)
    assert response.status_code == 302, text(response)[:3000]
    saved = fetch(app, service.id)
    assert saved.name == "XRD 物相分析" and [f["key"] for f in saved.sample_fields] == ["material"]

    assert (
        client.post(f"/lab/services/{service.id}/deactivate", data={"csrf_token": token}).status_code == 302
    )
    assert fetch(app, service.id).active is False
    assert "重新上架" in text(client.get(f"/lab/services/{service.id}"))
    founder = make.user("founder")
    other = app.test_client()
    sign_in(other, founder)
    assert other.get(f"/services/{service.id}").status_code == 404
    assert "XRD 物相分析" not in text(other.get("/services"))
    assert (
        client.post(f"/lab/services/{service.id}/reactivate", data={"csrf_token": token}).status_code == 302
    )
    assert fetch(app, service.id).active is True
    assert other.get(f"/services/{service.id}").status_code == 200


def test_another_labs_manager_cannot_edit(client, login, make, manager_and_lab):
    _manager, lab = manager_and_lab
    service = make.service(lab)
    other = make.user("lab_manager")
    make.lab(manager=other)
    login(other)
    assert client.get(f"/lab/services/{service.id}").status_code == 404


def test_the_founders_catalogue_filters(client, login, make):
    shapingba = make.lab(district_code="500106", name="重大分析中心")
    beibei = make.lab(district_code="500109", name="西大生科院")
    make.service(
        shapingba, name="形貌观察", category="SEM", description="表面形貌", price_per_sample_fen=30050
    )
    make.service(shapingba, name="物相分析", category="XRD", description="晶体结构", turnaround_days=7)
    make.service(beibei, name="荧光成像", category="Confocal", description="活细胞")
    make.service(beibei, name="已下架服务", category="SEM", active=False)
    login(make.user("founder"))
    home = text(client.get("/"))
    assert 'href="/services"' in home and "检测服务" in home
    page = text(client.get("/services"))
    assert "形貌观察" in page and "物相分析" in page and "荧光成像" in page
    assert "已下架服务" not in page
    assert "¥300.50" in page and "7 天" in page and "重大分析中心" in page and "重庆大学" in page
    assert set(_cards(client, q="晶体")) == {"物相分析"}
    assert set(_cards(client, q="sem")) == {"形貌观察"}
    assert set(_cards(client, category="SEM")) == {"形貌观察"}
    assert set(_cards(client, district_code="500109")) == {"荧光成像"}
    assert set(_cards(client, lab_id=str(shapingba.id))) == {"形貌观察", "物相分析"}
    assert _cards(client, lab_id="99999999999999999999") is not None  # no 500 on a silly lab


def _cards(client, **args) -> list[str]:
    response = client.get("/services", query_string=args)
    assert response.status_code == 200
    return re.findall(r'<h2><a href="/services/\d+">([^<]+)</a></h2>', text(response))


def test_the_service_page_shows_the_lab_and_a_disabled_sample_form(client, login, make):
    manager = make.user("lab_manager", name="王老师")
    lab = make.lab(manager=manager, name="分析测试中心", district_code="500106")
    service = make.service(lab, name="形貌观察", turnaround_days=3)
    login(make.user("founder"))
    page = text(client.get(f"/services/{service.id}"))
    assert "形貌观察" in page and "分析测试中心" in page and "重庆大学" in page and "沙坪坝区" in page
    assert "王老师" in page and manager.email in page
    assert "<fieldset disabled>" in page and "材料" in page and "<option>金</option>" in page
    assert "3 天" in page
    assert "请先登记团队" in page  # said plainly: no order form without a verified team
    assert 'method="post"' not in page.split("<main", 1)[-1]
