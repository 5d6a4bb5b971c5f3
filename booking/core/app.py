"""The Flask subclass that owns the unit of work: one commit per successful request."""

from __future__ import annotations

from typing import Any, Protocol

from flask import Flask, request

from booking.core.db import db, reset_write_intent, set_write_intent

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


ICON_MAX_AGE = 7 * 24 * 3600  # icons rarely change and browsers ask for them on every page


class UnitWatcher(Protocol):
    """Something that must see each unit of work begin and end (the factory registers them): e.g. the
    card holds a request placed are released when its unit of work fails."""

    def begin_unit(self) -> Any: ...

    def end_unit(self, token: Any, *, failed: bool) -> None: ...


class PlatformFlask(Flask):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.unit_watchers: list[UnitWatcher] = []

    def get_send_file_max_age(self, filename: str | None) -> int | None:
        if filename and filename.rsplit("/", 1)[-1].startswith("favicon."):
            return ICON_MAX_AGE
        return super().get_send_file_max_age(filename)

    def dispatch_request(self):
        """Run the view, then commit once if it succeeded; roll back on any error.

        Operations below only flush. Committing here (and not in an after-request hook) lets a
        constraint violation at commit time reach the error handlers like any other error.
        A request that will write declares write intent first, so SQLite begins it IMMEDIATE.
        """
        token = set_write_intent(request.method not in SAFE_METHODS)
        tokens = [(watcher, watcher.begin_unit()) for watcher in self.unit_watchers]
        failed = True
        try:
            rv = super().dispatch_request()
            response = self.make_response(rv)
            if response.status_code < 400:
                db.session.commit()
                failed = False
            else:
                db.session.rollback()
            return response
        except BaseException:
            db.session.rollback()
            raise
        finally:
            reset_write_intent(token)
            for watcher, watch_token in reversed(tokens):
                watcher.end_unit(watch_token, failed=failed)
