"""The Flask subclass that owns the unit of work: one commit per successful request.

The rule, decided here from the request's outcome and nowhere else: a request commits once, after
its view, when its response is a success (status below 400) and it told the person nothing failed
(no message flashed as an ``"error"``); otherwise everything it flushed is rolled back. So a page
that catches an operation's refusal and shows it (re-rendered with the refusal's status, or
redirected with the refusal flashed) never needs a rollback of its own. Jobs have the same rule in
``booking.jobs.run_job``, commands in ``booking.jobs.cli``.

The few places that commit by themselves, for reasons of their own, are listed in
``SELF_COMMITTING`` below; the suite (``tests/core/test_units_of_work.py``) refuses a commit or a
rollback anywhere else.
"""

from __future__ import annotations

from typing import Any, Protocol

from flask import Flask, g, message_flashed, request

from booking.core.db import db, reset_write_intent, set_write_intent

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

# module -> why it commits (or rolls back) by itself instead of leaving it to its boundary
SELF_COMMITTING: dict[str, str] = {
    "booking.core.app": "the request boundary",
    "booking.jobs": "the job boundary (run_job)",
    "booking.jobs.cli": "the command boundary",
    "booking.core.health": "a failed health probe ends its read",
    "booking.core.outage": "the database went away: end the broken transaction before answering 503",
    "booking.flow.mail": "one transaction per message, so a failing message never holds back the others",
    "booking.flow.payments.capture": "no transaction is held while the payments API is called; one per booking",
    "booking.flow.payments.orphan_holds": "no transaction is held while the payments API is called",
    "booking.people.sign_in_limit": "a failed sign-in is counted even though its request fails",
    "vouchers.reconciliation": "one transaction per batch: a crash loses at most one batch, redone on rerun",
    "vouchers.reports.export_runs": "one transaction per chunk, so the progress page shows rows written so far",
}


ICON_MAX_AGE = 7 * 24 * 3600  # icons rarely change and browsers ask for them on every page


class UnitWatcher(Protocol):
    """Something that must see each unit of work begin and end (the factory registers them): e.g. the
    card holds a request placed are released when its unit of work fails."""

    def begin_unit(self) -> Any: ...

    def end_unit(self, token: Any, *, failed: bool) -> None: ...


def _note_refusal(sender, message, category, **extra) -> None:
    """A request that tells the person something failed does not commit; what it flushed is rolled
    back at once, so the page shown after the flash reads the database as it was."""
    if category == "error":
        g.unit_refused = True
        db.session.rollback()


class PlatformFlask(Flask):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.unit_watchers: list[UnitWatcher] = []
        message_flashed.connect(_note_refusal, self)

    def get_send_file_max_age(self, filename: str | None) -> int | None:
        if filename and filename.rsplit("/", 1)[-1].startswith("favicon."):
            return ICON_MAX_AGE
        return super().get_send_file_max_age(filename)

    def dispatch_request(self):
        """Run the view, then commit once if it succeeded (see the module's rule); roll back otherwise.

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
            if response.status_code < 400 and not g.get("unit_refused"):
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
