"""The platform core: app factory, configuration, database, accounts and teams, the booking flow."""

from __future__ import annotations

import os
from pathlib import Path

from flask import session
from flask_babel import Babel
from flask_login import LoginManager, user_logged_in, user_logged_out
from flask_migrate import Migrate
from flask_wtf import CSRFProtect
from sqlalchemy import text
from werkzeug.middleware.proxy_fix import ProxyFix

from booking.app import PlatformFlask
from booking.body_limits import init_body_limits
from booking.config import DEV_SECRET_KEY, Config, config_for_environment
from booking.db import db, engine_options, install_sqlite_transactions, merged_engine_options
from booking.ratelimit import limiter
from booking.storage import storage

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"

migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
babel = Babel()


class InsecureConfiguration(RuntimeError):
    pass


def create_app(config: type[Config] | dict | None = None) -> PlatformFlask:
    """Build the app. ``config`` is a Config class or a dict of overrides (tests); the environment
    fills in the rest."""
    app = PlatformFlask(__name__, instance_relative_config=True)
    base = config if isinstance(config, type) else config_for_environment()
    app.config.from_object(base)
    app.config.update(base.from_environ())
    if isinstance(config, dict):
        app.config.update(config)
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    if not app.config.get("SQLALCHEMY_DATABASE_URI"):
        app.config["SQLALCHEMY_DATABASE_URI"] = "sqlite:///" + os.path.join(
            app.instance_path, "booking.sqlite3"
        )
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = merged_engine_options(
        engine_options(app.config), app.config.get("SQLALCHEMY_ENGINE_OPTIONS", {})
    )
    _refuse_insecure(app)
    if hops := app.config.get("TRUSTED_PROXIES", 0):
        # client address, scheme and host as the trusted proxies saw them (rate limits, absolute links)
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)

    import instruments.models  # noqa: F401 - every table must be on the metadata (Alembic, drift test)
    import vouchers.models  # noqa: F401

    db.init_app(app)
    with app.app_context():
        install_sqlite_transactions(db.engine, app.config["DATABASE_BUSY_TIMEOUT_MS"])
    migrate.init_app(app, db, directory=str(MIGRATIONS), render_as_batch=True, compare_type=True)
    _init_login(app)
    init_body_limits(app)  # first: before CSRF reads a form
    csrf.init_app(app)
    limiter.init_app(app)
    storage.init_app(app)

    from booking.i18n import init_i18n

    init_i18n(app, babel)

    from booking.api import init_api

    init_api(app)
    # The JSON API authenticates with bearer tokens, never cookies, so CSRF does not apply to it.
    for name in list(app.blueprints):
        if name not in ("web",):
            csrf.exempt(app.blueprints[name])

    from booking.web import blp as web_blp

    app.register_blueprint(web_blp)
    app.add_url_rule("/healthz", "healthz", healthz)

    from booking.outage import init_outage_handling
    from booking.security import init_security_headers

    init_outage_handling(app)

    init_security_headers(app)

    from booking.cli import register_cli

    register_cli(app)
    return app


def _refuse_insecure(app: PlatformFlask) -> None:
    if app.config.get("ENV_NAME") == "production" and app.config["SECRET_KEY"] in (DEV_SECRET_KEY, "", None):
        raise InsecureConfiguration("Set SECRET_KEY: the development key is refused in production.")


def _init_login(app: PlatformFlask) -> None:
    login_manager.init_app(app)
    login_manager.login_view = "web.sign_in"
    login_manager.session_protection = "strong"

    from booking import browser_sessions

    @login_manager.user_loader
    def load_user(user_id: str):
        return browser_sessions.signed_in_user(user_id, session.get(browser_sessions.SESSION_KEY))

    # every sign-in gets its server-side session, every sign-out ends it (see booking.browser_sessions)
    @user_logged_in.connect_via(app)
    def _start_browser_session(sender, user, **extra) -> None:
        session[browser_sessions.SESSION_KEY] = browser_sessions.start_browser_session(user)

    @user_logged_out.connect_via(app)
    def _end_browser_session(sender, user, **extra) -> None:
        browser_sessions.end_browser_session(session.pop(browser_sessions.SESSION_KEY, None))


@limiter.exempt
def healthz():
    try:
        db.session.execute(text("SELECT 1"))
    except Exception as error:  # any database failure means "not healthy", never a 500
        db.session.rollback()
        return {"status": "unavailable", "database": type(error).__name__}, 503
    return {"status": "ok"}, 200


healthz._access_roles = ("public",)  # read by the access-matrix test
