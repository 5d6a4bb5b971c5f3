"""Password rules, one function for every place a password is set: the API, the admin form and the CLI.
At least 10 characters, not all one character class, not the e-mail (nor its local part), not a common
password, no control characters → 422 ``weak_password`` with a message saying what is wrong."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from booking.core.db import db
from booking.models import User
from booking.people.passwords import COMMON_PASSWORDS_FILE, common_passwords, password_problems
from tests.conftest import PASSWORD, csrf_token

EMAIL = "Zhang.Wei@example.cn"

WEAK = [
    ("short-1", "too_short"),  # 7 characters
    ("abcdefghijkl", "one_class"),
    ("ABCDEFGHIJKL", "one_class"),
    ("123456789012", "one_class"),
    ("!@#$%^&*()-+", "one_class"),
    ("zhang.wei@example.cn", "is_email"),
    ("ZHANG.WEI@EXAMPLE.CN", "is_email"),
    ("zhang.wei2026", "is_email"),  # the local part with a year stuck on
    ("password123", "common"),
    ("Password123", "common"),  # case does not rescue a common password
    ("woaini1314520", "common"),
    ("qwerty123456", "common"),
    ("line\nbreak-pass", "control"),
    ("tab\there-pass1", "control"),
    ("nul\x00inside-pass", "control"),
    ("lone\ud800surrogate-1", "control"),
]


def _count_users(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(User))


@pytest.mark.parametrize("password, problem", WEAK)
def test_each_weakness_is_named(password, problem):
    assert problem in password_problems(password, EMAIL)


@pytest.mark.parametrize(
    "password",
    [PASSWORD, "long enough", "s3cret-pass", "Jiefangbei-88", "重庆大学实验室 2026", "bench-password"],
)
def test_good_passwords_pass(password):
    assert password_problems(password, EMAIL) == []


def test_the_common_password_list_ships_as_package_data():
    assert COMMON_PASSWORDS_FILE.is_file()
    listed = common_passwords()
    assert len(listed) >= 200 and "password123" in listed and "1qaz2wsx3edc" in listed


@pytest.mark.parametrize("password, problem", WEAK)
def test_the_api_refuses_a_weak_password_with_weak_password(api, make, app, password, problem):
    admin = make.user("admin")
    before = _count_users(app)
    body = {"email": EMAIL, "password": password, "name": "Zhang Wei", "role": "founder"}
    response = api.as_(admin).post("/api/v1/users", json=body)
    assert response.status_code == 422, response.json
    error = response.json["error"]
    assert set(error) == {"code", "message", "details"}
    assert error["code"] == "weak_password"
    assert error["details"]["password"] and error["message"]
    assert _count_users(app) == before


def test_the_api_message_says_what_is_wrong(api, make):
    admin = make.user("admin")
    body = {"email": EMAIL, "password": "abcdefghijkl", "name": "Zhang Wei", "role": "founder"}
    error = api.as_(admin).post("/api/v1/users", json=body).json["error"]
    assert "character" in error["message"] and "digit" in " ".join(error["details"]["password"])
    body["password"] = "short"
    error = api.as_(admin).post("/api/v1/users", json=body).json["error"]
    assert error["code"] == "weak_password" and "10 characters" in error["message"]


def test_the_admin_form_refuses_a_weak_password_in_chinese(client, make, login, app):
    login(make.user("admin"))
    before = _count_users(app)
    token = csrf_token(client, "/admin/users")
    data = {
        "csrf_token": token,
        "email": EMAIL,
        "name": "Zhang Wei",
        "role": "founder",
        "password": "password123",
        "district_code": "",
        "provider_id": "",
        "lab_id": "",
    }
    response = client.post("/admin/users", data=data)
    assert response.status_code == 422
    assert "太常见" in response.get_data(as_text=True)
    data["password"] = "zhang.wei@example.cn"
    response = client.post("/admin/users", data=data)
    assert response.status_code == 422 and "邮箱" in response.get_data(as_text=True)
    assert _count_users(app) == before
    data["password"] = "Jiefangbei-88"
    assert client.post("/admin/users", data=data).status_code == 302
    assert _count_users(app) == before + 1


@pytest.mark.parametrize("password, problem", [("short-1", "10 characters"), ("password123", "common")])
def test_the_cli_refuses_a_weak_password(app, password, problem):
    before = _count_users(app)
    result = app.test_cli_runner().invoke(
        args=["users", "create", "root2@example.cn", "--password", password, "--role", "admin"]
    )
    assert result.exit_code != 0 and problem in result.output
    assert _count_users(app) == before
