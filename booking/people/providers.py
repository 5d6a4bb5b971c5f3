"""Compute providers (算力服务商) as resource owners; offers and usage come later."""

from __future__ import annotations

from sqlalchemy import Select, select

from booking.core.db import db
from booking.core.errors import NotFound
from booking.models import Provider, User
from booking.people.accounts import organization_named


def create_provider(*, name: str, organization: str) -> Provider:
    provider = Provider(name=name.strip(), organization=organization_named(organization))
    db.session.add(provider)
    db.session.flush()
    return provider


def visible_providers(user: User) -> Select[tuple[Provider]]:
    """Providers are public catalogue entries: every signed-in user sees them."""
    return select(Provider)


def provider_for(user: User, provider_id: int) -> Provider:
    provider = db.session.scalar(visible_providers(user).where(Provider.id == provider_id))
    if provider is None:
        raise NotFound("No such provider.")
    return provider
