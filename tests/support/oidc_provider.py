"""A real OpenID Connect provider on loopback for the single sign-on tests: ``oidc-provider-mock`` (a
Flask app built on Authlib's server) served by werkzeug on 127.0.0.1 in a thread of this process.

Any client id and secret are accepted. Before a sign-in the test says who the person is with
``provider.person(sub, email=..., email_verified=...)`` (its ``PUT /users/{sub}``); the provider's
authorize page is a form where the person types that ``sub`` and presses "Authorize" (``provider.authorize``
does it with ``requests``; the browser test fills the form). Nonces are required, so a client that
forgot one would fail here.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import oidc_provider_mock
import requests
from werkzeug.serving import make_server

from booking.core.config import TestConfig
from booking.factory import create_app

CLIENT_ID = "voucher-platform"
CLIENT_SECRET = "test-client-secret"


@dataclass
class Provider:
    issuer: str

    def person(self, sub: str, **claims) -> None:
        """The claims the provider gives for ``sub`` from now on (``email``, ``email_verified``, ``name``...)."""
        response = requests.put(f"{self.issuer}/users/{sub}", json=claims, timeout=10)
        assert response.status_code == 204, response.text

    def authorize(self, authorize_url: str, sub: str | None = None, deny: bool = False) -> str:
        """Submit the provider's authorize form as ``sub`` (or press "Deny"); the redirect back to the app."""
        assert authorize_url.startswith(self.issuer + "/oauth2/authorize"), authorize_url
        data = {"action": "deny"} if deny else {"sub": sub}
        response = requests.post(authorize_url, data=data, allow_redirects=False, timeout=10)
        assert response.status_code == 302, response.text
        return response.headers["Location"]


@contextmanager
def serve_provider() -> Iterator[Provider]:
    provider_app = oidc_provider_mock.app(require_nonce=True)
    server = make_server("127.0.0.1", 0, provider_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="oidc-provider", daemon=True)
    thread.start()
    try:
        yield Provider(f"http://127.0.0.1:{server.server_port}")
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


def single_sign_on_app(app, issuer: str, **config):
    """An app like the session's ``app`` (same database and instance folder) with single sign-on on."""
    sso_app = create_app(
        {
            **{k: getattr(TestConfig, k) for k in dir(TestConfig) if k.isupper()},
            "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
            "SECRET_KEY": "test-secret",
            "OIDC_ISSUER": issuer,
            "OIDC_CLIENT_ID": CLIENT_ID,
            "OIDC_CLIENT_SECRET": CLIENT_SECRET,
            **config,
        }
    )
    sso_app.instance_path = app.instance_path
    return sso_app
