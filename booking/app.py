"""The Flask subclass that owns the unit of work: one commit per successful request."""

from flask import Flask, request

from booking.db import db, reset_write_intent, set_write_intent
from booking.payments import orphan_holds

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


ICON_MAX_AGE = 7 * 24 * 3600  # icons rarely change and browsers ask for them on every page


class PlatformFlask(Flask):
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
        unit_holds = orphan_holds.begin_unit()
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
            # card holds this request placed but no committed booking keeps are released
            orphan_holds.end_unit(unit_holds, failed=failed)
