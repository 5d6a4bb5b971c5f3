"""Configuration from the environment.

The embedded default is a SQLite file in the instance folder, so a newcomer needs no services.
Production (``FLASK_ENV``/``APP_ENV`` = production) refuses to start with the development secret.
"""

import os
from datetime import timedelta

DEV_SECRET_KEY = "dev-only-not-secret"


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


class Config:
    ENV_NAME = "development"
    SECRET_KEY = DEV_SECRET_KEY
    SQLALCHEMY_DATABASE_URI: str | None = None  # filled in by create_app (instance folder)
    SQLALCHEMY_ENGINE_OPTIONS: dict = {}
    SQLALCHEMY_RECORD_QUERIES = False
    # How long a request may wait on the database before it gives up with 503 (booking/core/db.py,
    # engine_options): PostgreSQL's connect, statement, lock and idle-in-transaction timeouts,
    # SQLite's busy timeout (its lock wait). 0 turns one off.
    DATABASE_CONNECT_TIMEOUT_SECONDS = 5
    DATABASE_STATEMENT_TIMEOUT_MS = 30_000
    DATABASE_LOCK_TIMEOUT_MS = 15_000
    DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS = 120_000
    DATABASE_BUSY_TIMEOUT_MS = 30_000

    # API
    API_TITLE = "Compute-voucher and instrument booking API"
    API_VERSION = "v1"
    OPENAPI_VERSION = "3.0.3"
    OPENAPI_URL_PREFIX = "/api/v1"
    OPENAPI_JSON_PATH = "openapi.json"
    API_TOKEN_TTL = timedelta(days=30)
    PAGE_DEFAULT_LIMIT = 50
    PAGE_MAX_LIMIT = 500
    # Request bodies (JSON, forms): larger ones are 413 before they are read. An upload that needs
    # more declares it on its view (booking/core/body_limits.py).
    MAX_CONTENT_LENGTH = 2 * 1024 * 1024

    # HTML side
    BABEL_DEFAULT_LOCALE = "zh_CN"
    BABEL_DEFAULT_TIMEZONE = "Asia/Shanghai"
    LANGUAGES = {"zh_CN": "中文", "en": "English"}
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = False
    REMEMBER_COOKIE_HTTPONLY = True
    WTF_CSRF_TIME_LIMIT = None

    DEFAULT_TIMEZONE = "Asia/Shanghai"
    PASSWORD_HASH_PROFILE = "RFC_9106_LOW_MEMORY"  # argon2id, 64 MiB

    # Reconciliation: usage above the estimate by more than this is an exception for finance;
    # compute bookings count as finished this long after their end (late usage records first).
    USAGE_TOLERANCE_BP = 2000
    USAGE_GRACE_MINUTES = 60
    RECONCILE_BATCH_SIZE = 2000

    # Notifications: console (default), file (an mbox in the instance folder) or smtp
    MAIL_BACKEND = "console"
    MAIL_FROM = "noreply@localhost"
    REMINDER_HOURS = 24

    # Rate limits: per token (API) never below 600/minute; failed sign-ins per account.
    RATELIMIT_ENABLED = True
    RATELIMIT_STORAGE_URI = "memory://"
    RATELIMIT_DEFAULT = "1200 per minute"
    # Behind a reverse proxy: how many proxies in front of the app set X-Forwarded-For/-Proto/-Host
    # (0 = none: those headers are ignored, as anyone could forge them).
    TRUSTED_PROXIES = 0
    # a sliding window: no burst of twice the limit across a minute boundary (memory and Redis both)
    RATELIMIT_STRATEGY = "moving-window"
    RATELIMIT_HEADERS_ENABLED = True
    SIGN_IN_FAILURE_LIMIT = "10 per 15 minutes"
    # sign-ups per client address and verification mails asked again per user (both send mail)
    SIGN_UP_RATE_LIMIT = "20 per hour"
    VERIFICATION_RESEND_LIMIT = "10 per hour"
    # invitation mails one team owner may send (each mails an address someone typed)
    INVITATIONS_PER_OWNER = "30 per hour"
    # If the shared limit store (Redis) is down, serve requests unlimited (and log it) rather than fail.
    RATELIMIT_SWALLOW_ERRORS = True

    # Payments: a Stripe-compatible API (None = the team's share is invoiced outside the platform)
    PAYMENTS_API_BASE: str | None = None
    PAYMENTS_API_KEY: str | None = None
    PAYMENTS_WEBHOOK_SECRET: str | None = None
    PAYMENTS_TIMEOUT_SECONDS = (3.05, 10.0)  # connect, read
    PAYMENTS_MAX_RETRIES = 3
    PAYMENTS_BACKOFF_SECONDS = 0.5
    PAYMENTS_BACKOFF_CAP_SECONDS = 8.0
    PAYMENTS_CAPTURE_MAX_FAILURES = 5  # then finance sees a capture_failed exception
    # capture_payments also cancels card holds no booking keeps (booking/flow/payments/orphan_holds.py): those older
    # than this (never a request's still in flight), among this many pages of 100 recent intents
    PAYMENTS_ORPHAN_GRACE_SECONDS = 600
    PAYMENTS_ORPHAN_SCAN_PAGES = 5

    # Background statement exports (vouchers/reports/export_runs.py): who writes them — "thread" (a daemon thread
    # of the web process, the default outside tests) or "scheduler" (only the scheduler's exports job);
    # progress is committed every EXPORT_CHUNK_ROWS rows.
    EXPORTS_RUNNER: str | None = None
    EXPORT_CHUNK_ROWS = 500

    # File storage (booking/core/storage.py): "local" (a directory, default <instance>/files) or "s3" (any
    # S3-compatible store; credentials from boto3's environment variables, e.g. AWS_ACCESS_KEY_ID)
    STORAGE_BACKEND = "local"
    STORAGE_LOCAL_PATH: str | None = None
    STORAGE_S3_BUCKET: str | None = None
    STORAGE_S3_ENDPOINT_URL: str | None = None
    STORAGE_S3_REGION: str | None = None

    # Single sign-on with OpenID Connect (booking/core/single_sign_on.py): off unless OIDC_ISSUER is set. The
    # provider's discovery document is read from OIDC_ISSUER + "/.well-known/openid-configuration"; the button
    # on the sign-in page says OIDC_BUTTON_LABEL (None = "统一身份认证登录", translated).
    OIDC_ISSUER: str | None = None
    OIDC_CLIENT_ID: str | None = None
    OIDC_CLIENT_SECRET: str | None = None
    OIDC_BUTTON_LABEL: str | None = None
    OIDC_TIMEOUT_SECONDS = 10

    # The site's address (e.g. https://lab.example.cn) for links in mails queued outside a request (the
    # waitlist's "your time is free" mail sent from the no-show job); None: http://localhost
    PUBLIC_BASE_URL: str | None = None

    @classmethod
    def from_environ(cls) -> dict:
        """Settings that the environment overrides."""
        env = os.environ
        settings: dict = {}
        if env.get("DATABASE_URL"):
            settings["SQLALCHEMY_DATABASE_URI"] = normalise_database_url(env["DATABASE_URL"])
        if env.get("SECRET_KEY"):
            settings["SECRET_KEY"] = env["SECRET_KEY"]
        for name in (
            "DATABASE_CONNECT_TIMEOUT_SECONDS",
            "DATABASE_STATEMENT_TIMEOUT_MS",
            "DATABASE_LOCK_TIMEOUT_MS",
            "DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS",
            "DATABASE_BUSY_TIMEOUT_MS",
        ):
            if env.get(name):
                settings[name] = int(env[name])
        for name in (
            "USAGE_TOLERANCE_BP",
            "USAGE_GRACE_MINUTES",
            "RECONCILE_BATCH_SIZE",
            "MAX_CONTENT_LENGTH",
        ):
            if env.get(name):
                settings[name] = int(env[name])
        for name in ("PAYMENTS_API_BASE", "PAYMENTS_API_KEY", "PAYMENTS_WEBHOOK_SECRET"):
            if env.get(name):
                settings[name] = env[name]
        if env.get("TRUSTED_PROXIES"):
            settings["TRUSTED_PROXIES"] = int(env["TRUSTED_PROXIES"])
        if env.get("EXPORTS_RUNNER"):
            settings["EXPORTS_RUNNER"] = env["EXPORTS_RUNNER"]
        for name in (
            "STORAGE_BACKEND",
            "STORAGE_LOCAL_PATH",
            "STORAGE_S3_BUCKET",
            "STORAGE_S3_ENDPOINT_URL",
            "STORAGE_S3_REGION",
        ):
            if env.get(name):
                settings[name] = env[name]
        if env.get("PUBLIC_BASE_URL"):
            settings["PUBLIC_BASE_URL"] = env["PUBLIC_BASE_URL"]
        for name in ("OIDC_ISSUER", "OIDC_CLIENT_ID", "OIDC_CLIENT_SECRET", "OIDC_BUTTON_LABEL"):
            if env.get(name):
                settings[name] = env[name]
        for name in (
            "PAYMENTS_MAX_RETRIES",
            "PAYMENTS_CAPTURE_MAX_FAILURES",
            "PAYMENTS_ORPHAN_GRACE_SECONDS",
            "PAYMENTS_ORPHAN_SCAN_PAGES",
            "EXPORT_CHUNK_ROWS",
        ):
            if env.get(name):
                settings[name] = int(env[name])
        if env.get("API_TOKEN_TTL_DAYS"):
            settings["API_TOKEN_TTL"] = timedelta(days=int(env["API_TOKEN_TTL_DAYS"]))
        if env.get("RATELIMIT_ENABLED") is not None:
            settings["RATELIMIT_ENABLED"] = _env_bool("RATELIMIT_ENABLED", True)
        if env.get("RATELIMIT_STORAGE_URI"):
            settings["RATELIMIT_STORAGE_URI"] = env["RATELIMIT_STORAGE_URI"]
        for name in ("SIGN_UP_RATE_LIMIT", "VERIFICATION_RESEND_LIMIT", "INVITATIONS_PER_OWNER"):
            if env.get(name):
                settings[name] = env[name]
        for name in (
            "MAIL_BACKEND",
            "MAIL_FROM",
            "MAIL_FILE_PATH",
            "MAIL_SERVER",
            "MAIL_USERNAME",
            "MAIL_PASSWORD",
        ):
            if env.get(name):
                settings[name] = env[name]
        if env.get("MAIL_PORT"):
            settings["MAIL_PORT"] = int(env["MAIL_PORT"])
        for name in ("MAIL_USE_TLS", "MAIL_USE_SSL"):
            if env.get(name) is not None:
                settings[name] = _env_bool(name, False)
        settings["SESSION_COOKIE_SECURE"] = _env_bool("SESSION_COOKIE_SECURE", cls.SESSION_COOKIE_SECURE)
        return settings


class ProductionConfig(Config):
    ENV_NAME = "production"
    SESSION_COOKIE_SECURE = True
    REMEMBER_COOKIE_SECURE = True


class TestConfig(Config):
    ENV_NAME = "testing"
    TESTING = True
    WTF_CSRF_ENABLED = True
    PASSWORD_HASH_PROFILE = "CHEAPEST"  # argon2-cffi's test profile; never outside tests


def normalise_database_url(url: str) -> str:
    """Accept the common ``postgres://``/``postgresql://`` spellings and use psycopg 3."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def config_for_environment() -> type[Config]:
    name = (os.environ.get("APP_ENV") or os.environ.get("FLASK_ENV") or "development").lower()
    return ProductionConfig if name == "production" else Config
