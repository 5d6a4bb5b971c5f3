"""``/healthz``: whether the app can reach its database (for load balancers and monitoring)."""

from __future__ import annotations

from sqlalchemy import text

from booking.core.db import db
from booking.core.ratelimit import limiter


@limiter.exempt
def healthz():
    try:
        db.session.execute(text("SELECT 1"))
    except Exception as error:  # any database failure means "not healthy", never a 500
        db.session.rollback()
        return {"status": "unavailable", "database": type(error).__name__}, 503
    return {"status": "ok"}, 200


healthz._access_roles = ("public",)  # read by the access-matrix test
