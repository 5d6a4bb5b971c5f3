"""``create_app``: the one place that wires the floors together (see README "Where things are").

Everything below imports only its own floor and the floors under it; what a lower floor must let a
higher one do at run time is connected here: the request's unit of work tells the payments floor
when it ends (card holds of a failed request are released), settlement tells payments which
bookings now owe their final share, the API, the HTML pages and the jobs' commands are registered.
"""

from __future__ import annotations

import os
from pathlib import Path

from flask import session
from flask_login import user_logged_in, user_logged_out
from werkzeug.middleware.proxy_fix import ProxyFix

import instruments.models  # noqa: F401 - every table must be on the metadata (Alembic, drift test)
import vouchers.models  # noqa: F401
from booking.api import init_api
from booking.core.app import PlatformFlask
from booking.core.body_limits import init_body_limits
from booking.core.config import DEV_SECRET_KEY, Config, config_for_environment
from booking.core.db import db, engine_options, install_sqlite_transactions, merged_engine_options
from booking.core.extensions import babel, csrf, login_manager, migrate
from booking.core.health import healthz
from booking.core.i18n import init_i18n
from booking.core.outage import init_outage_handling
from booking.core.ratelimit import limiter
from booking.core.security import init_security_headers
from booking.core.single_sign_on import init_single_sign_on
from booking.core.storage import storage
from booking.flow import service_orders
from booking.flow.payments import capture, orphan_holds
from booking.jobs.cli import register_cli
from booking.people import browser_sessions
from booking.web import blp as web_blp
from vouchers import settling

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


class InsecureConfiguration(RuntimeError):
    pass


def create_app(config: type[Config] | dict | None = None) -> PlatformFlask:
    """Build the app. ``config`` is a Config class or a dict of overrides (tests); the environment
    fills in the rest."""
    app = PlatformFlask("booking", instance_relative_config=True)
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

    db.init_app(app)
    with app.app_context():
        install_sqlite_transactions(db.engine, app.config["DATABASE_BUSY_TIMEOUT_MS"])
    migrate.init_app(app, db, directory=str(MIGRATIONS), render_as_batch=True, compare_type=True)
    _init_login(app)
    init_body_limits(app)  # first: before CSRF reads a form
    csrf.init_app(app)
    limiter.init_app(app)
    storage.init_app(app)
    init_single_sign_on(app)

    init_i18n(app, babel)
    init_api(app)
    # The JSON API authenticates with bearer tokens, never cookies, so CSRF does not apply to it.
    for name in list(app.blueprints):
        if name not in ("web",):
            csrf.exempt(app.blueprints[name])

    app.register_blueprint(web_blp)
    app.add_url_rule("/healthz", "healthz", healthz)

    init_outage_handling(app)
    init_security_headers(app)
    register_cli(app)

    # card holds a failed request placed are released when its unit of work ends
    app.unit_watchers.append(orphan_holds)
    # settled bookings owe their final team share: payments captures it (blinker keeps one connection)
    settling.bookings_settled.connect(capture.on_bookings_settled)
    # settled service orders: the team hears of it
    settling.bookings_settled.connect(service_orders.orders_settled)
    return app


def _refuse_insecure(app: PlatformFlask) -> None:
    if app.config.get("ENV_NAME") == "production" and app.config["SECRET_KEY"] in (DEV_SECRET_KEY, "", None):
        raise InsecureConfiguration("Set SECRET_KEY: the development key is refused in production.")


def _init_login(app: PlatformFlask) -> None:
    login_manager.init_app(app)
    login_manager.login_view = "web.sign_in"
    login_manager.session_protection = "strong"

    @login_manager.user_loader
    def load_user(user_id: str):
        return browser_sessions.signed_in_user(user_id, session.get(browser_sessions.SESSION_KEY))

    # every sign-in gets its server-side session, every sign-out ends it (see booking.people.browser_sessions)
    @user_logged_in.connect_via(app)
    def _start_browser_session(sender, user, **extra) -> None:
        session[browser_sessions.SESSION_KEY] = browser_sessions.start_browser_session(user)

    @user_logged_out.connect_via(app)
    def _end_browser_session(sender, user, **extra) -> None:
        browser_sessions.end_browser_session(session.pop(browser_sessions.SESSION_KEY, None))
