"""Private iCal feeds: create, list and revoke them (API), and the feed itself (a secret URL).

The feed lives at ``/ical/<secret>.ics``, outside ``/api/v1`` (calendar apps subscribe to it with no
token), on the plain Flask blueprint ``feeds_blp``, registered along with ``blp``. It only answers GET,
so CSRF is moot.
"""

from __future__ import annotations

import marshmallow as ma
from flask import Blueprint as FlaskBlueprint
from flask import Response, current_app, request, url_for
from flask.views import MethodView

from booking.api.common import (
    Blueprint,
    BodySchema,
    Id,
    api_auth,
    current_actor,
    documents,
    paginate,
    public,
)
from booking.flow import calendar
from booking.models import CalendarFeed

blp = Blueprint("calendar", __name__, url_prefix="/api/v1", description="Calendar feeds")
feeds_blp = FlaskBlueprint("calendar_feeds", __name__)


@blp.record_once
def _register_feed_route(state) -> None:
    # The feed URL is outside the API's prefix; registering it with the API keeps the two together.
    state.app.register_blueprint(feeds_blp)


class FeedCreateSchema(BodySchema):
    scope = ma.fields.String(required=True, validate=ma.validate.OneOf(calendar.SCOPES))
    instrument_id = Id(load_default=None, allow_none=True)


class FeedSchema(ma.Schema):
    id = ma.fields.Integer(required=True)
    scope = ma.fields.String(required=True)
    instrument_id = ma.fields.Integer(allow_none=True, required=True)
    created_at = ma.fields.DateTime(required=True)


class FeedCreatedSchema(FeedSchema):
    url = ma.fields.String(
        required=True, metadata={"description": "the private feed URL; shown only now, keep it secret"}
    )


@blp.route("/calendar-feeds")
class CalendarFeeds(MethodView):
    @blp.response(201, FeedCreatedSchema)
    @documents(404)
    @api_auth()
    @blp.arguments(FeedCreateSchema)
    def post(self, body):
        """Create a private iCal feed: scope "user" (your teams' bookings) or "instrument" (its lab's
        managers). The URL is returned only here; only a hash of its secret is kept."""
        feed, secret = calendar.create_feed(current_actor(), body["scope"], body["instrument_id"])
        return {
            "id": feed.id,
            "scope": feed.scope,
            "instrument_id": feed.instrument_id,
            "created_at": feed.created_at,
            "url": url_for("calendar_feeds.feed", secret=secret, _external=True),
        }

    @blp.paged_list(FeedSchema)
    def get(self, args):
        """Your active feeds (without their URLs, which are shown only at creation)."""
        return paginate(calendar.feeds_of(current_actor()), CalendarFeed.id, args)


@blp.route("/calendar-feeds/<int:feed_id>")
class CalendarFeedById(MethodView):
    @blp.response(204)
    @documents(404)
    @api_auth()
    def delete(self, feed_id):
        """Revoke one of your feeds: its URL answers 404 from now on."""
        calendar.revoke_feed(current_actor(), feed_id)


@feeds_blp.get("/ical/<secret>.ics")
@public
def feed(secret: str):
    """The feed itself, for calendar apps: the secret in the URL is the credential."""
    found = calendar.feed_for_secret(secret)
    if found is None:
        return Response("Not found\n", status=404, mimetype="text/plain")
    domain = current_app.config.get("CALENDAR_UID_DOMAIN") or request.host.partition(":")[0]
    response = Response(calendar.render_feed(found, domain), mimetype="text/calendar")
    response.headers["Content-Disposition"] = 'inline; filename="bookings.ics"'
    response.headers["Cache-Control"] = "private, max-age=300"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Robots-Tag"] = "noindex"
    return response
