"""One page of a catalogue (instruments, GPU offers, testing services) with links to its neighbours."""

from __future__ import annotations

from dataclasses import dataclass

from flask import request, url_for
from sqlalchemy import Select

from booking.core.db import db

CATALOGUE_PAGE_SIZE = 24


@dataclass(frozen=True)
class CataloguePage:
    items: list
    previous_url: str | None
    next_url: str | None


def catalogue_page(query: Select | None, endpoint: str, size: int = CATALOGUE_PAGE_SIZE) -> CataloguePage:
    """The request's ``?page=`` of an ordered ``query`` (None: nothing found, e.g. refused filters);
    the links keep the request's other arguments."""
    number = max(request.args.get("page", 1, type=int), 1)
    found = (
        list(db.session.scalars(query.offset((number - 1) * size).limit(size + 1)))
        if query is not None
        else []
    )
    args = {k: v for k, v in request.args.items() if k != "page"}
    return CataloguePage(
        items=found[:size],
        previous_url=url_for(endpoint, **args, page=number - 1) if number > 1 else None,
        next_url=url_for(endpoint, **args, page=number + 1) if len(found) > size else None,
    )
