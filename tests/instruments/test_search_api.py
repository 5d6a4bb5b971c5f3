"""GET /api/v1/instruments (filters, free_from/free_to, pagination), GET /api/v1/instruments/{id} and
GET /api/v1/instruments/{id}/availability: shapes, local offsets, 401/404/422."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from booking.core import clock
from tests.support.rows import (
    SPLIT_DAY,
    add_blackout,
    add_booking,
    add_instrument,
    every_day,
    hhmm,
)

CST = timezone(timedelta(hours=8))
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=CST)  # Sunday noon; the week of Monday 2 March follows


def cst(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=CST)


def get(api, user, path, now=NOW, **query):
    with clock.frozen_at(now):
        return api.as_(user).get(path, query_string=query)


def error_of(response, status):
    assert response.status_code == status, response.get_data(as_text=True)
    assert set(response.json) == {"error"}
    assert set(response.json["error"]) == {"code", "message", "details"}
    return response.json["error"]


@pytest.fixture
def founder(make):
    return make.user("founder")


@pytest.fixture
def catalogue(app, make):
    """Three labs in two districts and a handful of instruments."""
    physics = make.lab(district_code="500106", name="Physics Lab")
    chemistry = make.lab(district_code="500106", name="Chemistry Lab")
    materials = make.lab(district_code="500103", name="Materials Centre")
    return {
        "sem": add_instrument(
            app, physics, SPLIT_DAY, name="Scanning Electron Microscope", category="microscopy"
        ),
        "tem": add_instrument(
            app,
            materials,
            SPLIT_DAY,
            name="TEM 200kV",
            category="microscopy",
            description="Field EMISSION gun",
        ),
        "nmr": add_instrument(app, chemistry, SPLIT_DAY, name="NMR 600", category="spectroscopy"),
        "xrd": add_instrument(
            app,
            materials,
            every_day("13:30", "21:00"),
            name="X-ray 100%_diffractometer",
            category="diffraction",
        ),
        "old": add_instrument(
            app, physics, SPLIT_DAY, name="Old microscope", category="microscopy", active=False
        ),
    }


def ids_of(response) -> list[int]:
    assert response.status_code == 200, response.get_data(as_text=True)
    assert set(response.json) == {"items", "next_cursor"}
    return [item["id"] for item in response.json["items"]]


# --- GET /api/v1/instruments ----------------------------------------------------------------------------


def test_list_needs_a_token(api):
    error = error_of(api.get("/api/v1/instruments"), 401)
    assert error["code"] == "unauthorized"


@pytest.mark.parametrize("role", ["founder", "lab_manager", "provider", "finance", "admin"])
def test_every_signed_in_role_lists_active_instruments(api, make, catalogue, role):
    listed = ids_of(get(api, make.user(role), "/api/v1/instruments"))
    assert listed == sorted(i.id for k, i in catalogue.items() if k != "old")


def test_items_are_full_instruments(api, founder, catalogue):
    item = get(api, founder, "/api/v1/instruments", q="NMR").json["items"][0]
    assert item["id"] == catalogue["nmr"].id
    assert item["name"] == "NMR 600" and item["category"] == "spectroscopy"
    assert item["lab_name"] == "Chemistry Lab" and item["district_code"] == "500106"
    assert item["timezone"] == "Asia/Shanghai" and item["slot_minutes"] == 30
    assert item["opening_hours"][:2] == [
        {"weekday": 0, "opens": "08:00", "closes": "12:00"},
        {"weekday": 0, "opens": "13:30", "closes": "21:00"},
    ]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"category": "microscopy"}, ["sem", "tem"]),
        ({"category": "Microscopy"}, []),
        ({"district_code": "500103"}, ["tem", "xrd"]),
        ({"district_code": "500106", "category": "microscopy"}, ["sem"]),
        ({"q": "microscope"}, ["sem"]),
        ({"q": "MICROSCOPY"}, ["sem", "tem"]),  # category
        ({"q": "emission"}, ["tem"]),  # description, any case
        ({"q": "chemistry"}, ["nmr"]),  # lab name
        ({"q": "centre"}, ["tem", "xrd"]),
        ({"q": "100%_"}, ["xrd"]),  # LIKE wildcards are plain characters
        ({"q": "%"}, ["xrd"]),
        ({"q": "_"}, ["xrd"]),
        ({"q": "nothing like this"}, []),
        ({"q": "  "}, ["sem", "tem", "nmr", "xrd"]),
    ],
)
def test_filters(api, founder, catalogue, query, expected):
    listed = ids_of(get(api, founder, "/api/v1/instruments", **query))
    assert listed == sorted(catalogue[k].id for k in expected)


def test_pagination_walks_every_instrument_once(api, founder, catalogue):
    seen, cursor = [], None
    for _ in range(5):
        query = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        response = get(api, founder, "/api/v1/instruments", **query)
        seen += ids_of(response)
        cursor = response.json["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(i.id for k, i in catalogue.items() if k != "old")


@pytest.fixture
def week(app, make, catalogue):
    """Monday 10:00–12:00: sem free, tem booked, nmr has a cancelled booking, xrd closed in the morning."""
    team = make.team(verified=True)
    add_booking(app, team, catalogue["tem"], cst(2, 11), cst(2, 11, 30))
    add_booking(app, team, catalogue["nmr"], cst(2, 10), cst(2, 12), status="cancelled")
    add_blackout(app, catalogue["sem"], cst(2, 14), cst(2, 15))
    return catalogue


def test_free_from_to_keeps_only_instruments_free_for_the_whole_range(api, founder, week):
    def free(start, end, **extra):
        return ids_of(
            get(
                api,
                founder,
                "/api/v1/instruments",
                free_from=start.isoformat(),
                free_to=end.isoformat(),
                **extra,
            )
        )

    assert free(cst(2, 10), cst(2, 12)) == sorted([week["sem"].id, week["nmr"].id])
    assert free(cst(2, 10), cst(2, 11)) == sorted([week["sem"].id, week["tem"].id, week["nmr"].id])
    assert free(cst(2, 10), cst(2, 12), category="microscopy") == [week["sem"].id]
    assert free(cst(2, 10), cst(2, 12), district_code="500103") == []
    assert free(cst(2, 14), cst(2, 16)) == sorted([week["tem"].id, week["nmr"].id, week["xrd"].id])
    assert free(cst(2, 10, 15), cst(2, 11, 15)) == []  # off the grid
    assert free(cst(7, 10), cst(7, 12)) == []  # Saturday: only xrd opens, in the afternoon
    assert free(cst(2, 10), cst(2, 10, 30), q="nmr") == [week["nmr"].id]
    # the same instant written in UTC finds the same instruments
    assert free(cst(2, 10).astimezone(UTC), cst(2, 12).astimezone(UTC)) == sorted(
        [week["sem"].id, week["nmr"].id]
    )


def test_free_filter_pages_keep_the_list_shape(api, founder, week):
    query = {"free_from": cst(2, 10).isoformat(), "free_to": cst(2, 11).isoformat(), "limit": 2}
    first = get(api, founder, "/api/v1/instruments", **query)
    assert len(ids_of(first)) == 2 and first.json["next_cursor"]
    second = get(api, founder, "/api/v1/instruments", cursor=first.json["next_cursor"], **query)
    assert ids_of(second) == [week["nmr"].id] and second.json["next_cursor"] is None


def test_free_filter_accepts_an_unencoded_plus(api, founder, week):
    with clock.frozen_at(NOW):
        response = api.as_(founder).get(
            "/api/v1/instruments?free_from=2026-03-02T10:00:00+08:00&free_to=2026-03-02T12:00:00+08:00"
        )
    assert ids_of(response) == sorted([week["sem"].id, week["nmr"].id])


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"free_from": "2026-03-02T10:00:00+08:00"}, "free_to"),
        ({"free_to": "2026-03-02T10:00:00+08:00"}, "free_from"),
        ({"free_from": "2026-03-02T10:00:00+08:00", "free_to": "2026-03-02T10:00:00+08:00"}, "free_to"),
        ({"free_from": "2026-03-02T11:00:00+08:00", "free_to": "2026-03-02T10:00:00+08:00"}, "free_to"),
        ({"free_from": "2026-03-02T10:00:00", "free_to": "2026-03-02T11:00:00+08:00"}, "free_from"),
        ({"free_from": "tomorrow", "free_to": "2026-03-02T11:00:00+08:00"}, "free_from"),
        ({"district_code": "5001"}, "district_code"),
        ({"q": "x" * 201}, "q"),
        ({"limit": 0}, "limit"),
        ({"limit": 501}, "limit"),
        ({"cursor": "!!"}, "cursor"),
    ],
)
def test_bad_search_queries_are_422_naming_the_field(api, founder, query, field):
    error = error_of(get(api, founder, "/api/v1/instruments", **query), 422)
    assert field in error["details"], error


# --- GET /api/v1/instruments/{id} -----------------------------------------------------------------------------


def test_one_instrument(api, founder, catalogue):
    response = get(api, founder, f"/api/v1/instruments/{catalogue['tem'].id}")
    assert response.status_code == 200
    assert response.json["name"] == "TEM 200kV" and response.json["lab_name"] == "Materials Centre"


def test_unknown_or_withdrawn_instrument_is_404(api, founder, catalogue):
    assert error_of(get(api, founder, "/api/v1/instruments/999999"), 404)["code"] == "not_found"
    assert (
        error_of(get(api, founder, f"/api/v1/instruments/{catalogue['old'].id}"), 404)["code"] == "not_found"
    )
    assert error_of(api.get(f"/api/v1/instruments/{catalogue['tem'].id}"), 401)["code"] == "unauthorized"


# --- GET /api/v1/instruments/{id}/availability ----------------------------------------------------------------


def availability(api, user, instrument_id, start, end, now=NOW):
    return get(
        api, user, f"/api/v1/instruments/{instrument_id}/availability", now=now, **{"from": start, "to": end}
    )


def test_availability_in_the_instruments_offset(api, founder, week):
    response = availability(
        api, founder, week["tem"].id, "2026-03-02T00:00:00+08:00", "2026-03-03T00:00:00+08:00"
    )
    assert response.status_code == 200, response.json
    assert response.json == {
        "free": [
            {"starts_at": "2026-03-02T08:00:00+08:00", "ends_at": "2026-03-02T11:00:00+08:00"},
            {"starts_at": "2026-03-02T11:30:00+08:00", "ends_at": "2026-03-02T12:00:00+08:00"},
            {"starts_at": "2026-03-02T13:30:00+08:00", "ends_at": "2026-03-02T21:00:00+08:00"},
        ]
    }
    # asked in UTC, answered in the instrument's own offset
    utc = availability(api, founder, week["tem"].id, "2026-03-02T02:00:00Z", "2026-03-02T03:00:00Z")
    assert utc.json == {
        "free": [{"starts_at": "2026-03-02T10:00:00+08:00", "ends_at": "2026-03-02T11:00:00+08:00"}]
    }


def test_availability_across_new_york_dst(api, app, make, founder):
    instrument = add_instrument(
        app,
        make.lab(),
        [(6, 0, hhmm("03:00"))],
        timezone="America/New_York",
        slot_minutes=60,
        min_minutes=60,
        horizon_days=365,
    )
    now = datetime(2026, 2, 1, tzinfo=UTC)
    spring = availability(
        api, founder, instrument.id, "2026-03-08T00:00:00-05:00", "2026-03-09T00:00:00-04:00", now
    )
    assert spring.json == {
        "free": [{"starts_at": "2026-03-08T00:00:00-05:00", "ends_at": "2026-03-08T03:00:00-04:00"}]
    }
    autumn = availability(
        api, founder, instrument.id, "2026-11-01T00:00:00-04:00", "2026-11-02T00:00:00-05:00", now
    )
    assert autumn.json == {
        "free": [{"starts_at": "2026-11-01T00:00:00-04:00", "ends_at": "2026-11-01T03:00:00-05:00"}]
    }


def test_availability_takes_an_unencoded_plus(api, founder, week):
    with clock.frozen_at(NOW):
        response = api.as_(founder).get(
            f"/api/v1/instruments/{week['tem'].id}/availability"
            "?from=2026-03-02T10:00:00+08:00&to=2026-03-02T11:00:00+08:00"
        )
    assert response.status_code == 200, response.json
    assert response.json["free"] == [
        {"starts_at": "2026-03-02T10:00:00+08:00", "ends_at": "2026-03-02T11:00:00+08:00"}
    ]


def test_availability_of_exactly_100_days_is_fine(api, founder, week):
    response = availability(
        api, founder, week["tem"].id, "2026-03-02T00:00:00+08:00", "2026-06-10T00:00:00+08:00"
    )
    assert response.status_code == 200
    assert response.json["free"][-1]["ends_at"] <= "2026-05-30T12:00:00+08:00"  # the 90-day horizon


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({}, "from"),
        ({"from": "2026-03-02T00:00:00+08:00"}, "to"),
        ({"to": "2026-03-02T00:00:00+08:00"}, "from"),
        ({"from": "2026-03-02T00:00:00", "to": "2026-03-03T00:00:00+08:00"}, "from"),
        ({"from": "2026-03-02T00:00:00+08:00", "to": "2026-03-03T00:00:00"}, "to"),
        ({"from": "2026-03-03T00:00:00+08:00", "to": "2026-03-02T00:00:00+08:00"}, "to"),
        ({"from": "2026-03-02T00:00:00+08:00", "to": "2026-03-02T00:00:00+08:00"}, "to"),
        ({"from": "2026-03-02T00:00:00+08:00", "to": "2026-06-10T00:00:01+08:00"}, "to"),
        ({"from": "not a time", "to": "2026-03-02T00:00:00+08:00"}, "from"),
    ],
)
def test_bad_availability_queries_are_422_naming_the_field(api, founder, week, query, field):
    response = get(api, founder, f"/api/v1/instruments/{week['tem'].id}/availability", **query)
    error = error_of(response, 422)
    assert error["code"] == "validation_error"
    assert field in error["details"], error


def test_availability_of_an_unknown_or_withdrawn_instrument_is_404(api, founder, catalogue):
    for instrument_id in (999999, catalogue["old"].id):
        response = availability(
            api, founder, instrument_id, "2026-03-02T00:00:00+08:00", "2026-03-03T00:00:00+08:00"
        )
        assert error_of(response, 404)["code"] == "not_found"


def test_availability_needs_a_token(api, catalogue):
    response = api.get(
        f"/api/v1/instruments/{catalogue['tem'].id}/availability",
        query_string={"from": "2026-03-02T00:00:00+08:00", "to": "2026-03-03T00:00:00+08:00"},
    )
    assert error_of(response, 401)["code"] == "unauthorized"


def test_what_availability_offers_can_be_booked(api, app, make):
    """The calendar and booking agree: the shortest booking at the start of every free interval is
    accepted by POST /api/v1/bookings (and then no longer offered)."""
    owner = make.user("founder")
    team = make.team(owner=owner, verified=True)
    instrument = add_instrument(
        app,
        make.lab(),
        SPLIT_DAY + every_day("22:00", "24:00", [4]) + every_day("00:00", "02:00", [5]),
        min_minutes=60,
    )
    add_blackout(app, instrument, cst(2, 9, 10), cst(2, 9, 50))
    add_booking(app, team, instrument, cst(3, 14), cst(3, 15, 30))
    now = cst(2, 8, 20)
    week = availability(api, owner, instrument.id, cst(2, 0).isoformat(), cst(9, 0).isoformat(), now)
    free = week.json["free"]
    assert free[0] == {"starts_at": "2026-03-02T10:00:00+08:00", "ends_at": "2026-03-02T12:00:00+08:00"}
    assert {"starts_at": "2026-03-06T22:00:00+08:00", "ends_at": "2026-03-07T02:00:00+08:00"} in free
    for interval in free:
        starts_at = datetime.fromisoformat(interval["starts_at"])
        body = {
            "team_id": team.id,
            "instrument_id": instrument.id,
            "starts_at": interval["starts_at"],
            "ends_at": (starts_at + timedelta(minutes=60)).isoformat(),
            "use_vouchers": False,
        }
        with clock.frozen_at(now):
            response = api.as_(owner).post("/api/v1/bookings", json=body)
        assert response.status_code == 201, (interval, response.json)
    after = availability(api, owner, instrument.id, cst(2, 0).isoformat(), cst(9, 0).isoformat(), now).json[
        "free"
    ]
    assert all(i["starts_at"] != j["starts_at"] for i in after for j in free)


def test_openapi_documents_the_search_endpoints(client):
    paths = client.get("/api/v1/openapi.json").json["paths"]
    assert {"200", "401", "404"} <= set(paths["/api/v1/instruments/{instrument_id}"]["get"]["responses"])
    responses = paths["/api/v1/instruments/{instrument_id}/availability"]["get"]["responses"]
    assert {"200", "401", "404", "422"} <= set(responses)
    listing = paths["/api/v1/instruments"]["get"]
    assert {"200", "401", "422"} <= set(listing["responses"])
    names = {p["name"] for p in listing["parameters"]}
    assert {"category", "district_code", "q", "free_from", "free_to", "limit", "cursor"} <= names
    availability_params = {
        p["name"] for p in paths["/api/v1/instruments/{instrument_id}/availability"]["get"]["parameters"]
    }
    assert {"from", "to"} <= availability_params
    assert "patch" in paths["/api/v1/instruments/{instrument_id}"]  # the lab managers' side is kept
