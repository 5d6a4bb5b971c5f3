"""Single sign-on's line to the OpenID Connect provider: Authlib's Flask client, one per app.

Authlib's ``OAuth`` registry binds the one Flask app it was given and caches its clients, so every app
``create_app`` builds gets its own (kept in ``app.extensions`` by Authlib), registered from the issuer's
discovery document when ``OIDC_ISSUER`` is set. The document (endpoints, signing keys) is read on the
first sign-in, not at start-up: an unreachable provider never keeps the platform from starting.

The client asks for ``openid email profile`` with PKCE (S256); Authlib keeps the state, nonce and code
verifier in the session and checks the state and the ID token's signature, issuer, audience and nonce
in ``authorize_access_token``.
"""

from __future__ import annotations

from authlib.integrations.flask_client import OAuth
from flask import Flask, current_app

PROVIDER = "oidc"
SCOPE = "openid email profile"
_EXTENSION = "authlib.integrations.flask_client"  # where Authlib's OAuth keeps itself on the app


def init_single_sign_on(app: Flask) -> None:
    issuer = (app.config.get("OIDC_ISSUER") or "").rstrip("/")
    if not issuer:
        return
    oauth = OAuth(app)
    oauth.register(
        PROVIDER,
        client_id=app.config.get("OIDC_CLIENT_ID"),
        client_secret=app.config.get("OIDC_CLIENT_SECRET"),
        server_metadata_url=issuer + "/.well-known/openid-configuration",
        client_kwargs={
            "scope": SCOPE,
            "code_challenge_method": "S256",
            "default_timeout": app.config.get("OIDC_TIMEOUT_SECONDS", 10),
        },
    )


def identity_provider():
    """This app's Authlib client for the provider (a ``FlaskOAuth2App``); None when not configured."""
    oauth = current_app.extensions.get(_EXTENSION)
    return oauth.create_client(PROVIDER) if oauth is not None else None
