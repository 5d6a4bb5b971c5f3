"""Who may open an HTML page: ``@page()`` (any signed-in user), ``@page("finance", "admin")`` (those
roles; others get 403) or ``@public_page`` (no sign-in). Like ``api_auth`` for the JSON side, each
sets ``_access_roles`` on the view, which the access-matrix test reads from the URL map: a new view
without one of these fails the suite. Finer rules (whose team, which district) stay in the domain
layer, which raises ``NotFound``/``Forbidden`` as for the API."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from flask import abort
from flask_login import current_user, login_required


def page(*roles: str) -> Callable:
    def decorator(func: Callable) -> Callable:
        @wraps(func)
        def wrapper(*args, **kwargs):
            if roles and current_user.role not in roles:
                abort(403)
            return func(*args, **kwargs)

        guarded = login_required(wrapper)
        guarded._access_roles = roles or ("*",)
        return guarded

    return decorator


def public_page(func: Callable) -> Callable:
    func._access_roles = ("public",)
    return func
