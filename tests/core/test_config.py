"""Configuration from the environment; production refuses the development secret."""

import pytest

from booking.core.config import ProductionConfig, normalise_database_url
from booking.factory import InsecureConfiguration, create_app


def test_production_refuses_the_development_secret(monkeypatch, tmp_path):
    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/p.sqlite3")
    with pytest.raises(InsecureConfiguration):
        create_app()


def test_production_starts_with_a_real_secret_and_secure_cookies(monkeypatch, tmp_path):
    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "a-long-random-production-secret")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/p.sqlite3")
    app = create_app()
    assert app.config["SECRET_KEY"] == "a-long-random-production-secret"
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["SESSION_COOKIE_HTTPONLY"] is True
    assert app.config["SESSION_COOKIE_SAMESITE"] == "Lax"
    assert app.config["SQLALCHEMY_DATABASE_URI"].endswith("p.sqlite3")


def test_embedded_default_is_sqlite_in_the_instance_folder(monkeypatch):
    for name in ("APP_ENV", "FLASK_ENV", "DATABASE_URL", "SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)
    app = create_app()
    assert app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite:///")
    assert app.instance_path in app.config["SQLALCHEMY_DATABASE_URI"]
    assert ProductionConfig.SESSION_COOKIE_SECURE is True


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgres://u@h/db", "postgresql+psycopg://u@h/db"),
        ("postgresql://u@h/db", "postgresql+psycopg://u@h/db"),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db"),
        ("sqlite:///x.db", "sqlite:///x.db"),
    ],
)
def test_database_url_spellings(given, expected):
    assert normalise_database_url(given) == expected


def test_ratelimit_switch_from_environment(monkeypatch):
    monkeypatch.setenv("RATELIMIT_ENABLED", "false")
    assert create_app().config["RATELIMIT_ENABLED"] is False
