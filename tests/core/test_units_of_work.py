"""The commit rule: the request boundary decides from the outcome, and only the modules listed in
``booking.core.app.SELF_COMMITTING`` commit or roll back by themselves."""

from __future__ import annotations

import ast

import pytest
from flask import flash, redirect
from sqlalchemy import select

from booking.core.app import SELF_COMMITTING
from booking.core.config import TestConfig
from booking.core.db import db
from booking.factory import create_app
from booking.models import Organization
from tests.support import layers


def _transaction_calls(path) -> list[tuple[int, str]]:
    """``<anything>.commit()`` / ``.rollback()`` calls in a module (sessions, connections)."""
    return [
        (node.lineno, node.func.attr)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in ("commit", "rollback")
    ]


def test_only_the_declared_modules_commit_or_roll_back():
    stray = [
        f"{layers.module_name(path)} line {line}: {call}()"
        for path in layers.product_files()
        if layers.module_name(path) not in SELF_COMMITTING
        for line, call in _transaction_calls(path)
    ]
    assert not stray, (
        "leave commits and rollbacks to the boundary, or declare the module in SELF_COMMITTING:\n"
        + "\n".join(stray)
    )


def test_every_declared_module_still_commits_or_rolls_back():
    modules = {layers.module_name(path): path for path in layers.product_files()}
    stale = [name for name in SELF_COMMITTING if name not in modules or not _transaction_calls(modules[name])]
    assert not stale, f"SELF_COMMITTING names modules that no longer commit: {stale}"


@pytest.fixture(scope="module")
def outcome_app(tmp_path_factory):
    """An app of its own (routes can only be added before its first request) on a SQLite file."""
    path = tmp_path_factory.mktemp("units") / "units.sqlite3"
    app = create_app(
        {
            **{k: getattr(TestConfig, k) for k in dir(TestConfig) if k.isupper()},
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}",
            "SECRET_KEY": "test-secret",
        }
    )

    def writer(name: str, outcome):
        def view():
            db.session.add(Organization(name=name))
            db.session.flush()
            return outcome()

        view.__name__ = f"write_{name}"
        view._access_roles = ("public",)
        app.add_url_rule(f"/units/{name}", view.__name__, view)

    def flashed(category):
        def outcome():
            flash("told", category)
            return redirect("/")

        return outcome

    writer("refused-flash", flashed("error"))
    writer("kept-flash", flashed("success"))
    writer("refused-page", lambda: ("the form again, with the refusal", 422))
    writer("kept-page", lambda: ("done", 200))
    with app.app_context():
        db.create_all()
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.mark.parametrize(
    ("name", "status", "kept"),
    [
        ("kept-page", 200, True),
        ("kept-flash", 302, True),
        ("refused-page", 422, False),  # a page re-rendered with the refusal's status
        ("refused-flash", 302, False),  # a redirect that tells the person it failed
    ],
)
def test_the_boundary_commits_only_a_success_that_told_of_no_failure(outcome_app, name, status, kept):
    response = outcome_app.test_client().get(f"/units/{name}")
    assert response.status_code == status
    with outcome_app.app_context():
        saved = db.session.scalar(select(Organization).where(Organization.name == name))
    assert (saved is not None) is kept
