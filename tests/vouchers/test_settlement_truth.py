"""What a settled booking says about money is true: the quote stays as quoted, the settlement is the
split on actual cost (in the order applied), a team that opted out is never subsidised, and usage
that arrives after settlement is an exception for finance, not silently dropped."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from booking.core.db import db
from tests.vouchers.test_reconciliation import AFTER, END, NOW, START, _run, booking_json, usage, wallet
from tests.vouchers.test_reconciliation import world as world  # the fixture
from vouchers.models import FinanceException


def amounts(split):
    return [(s["level"], s["amount_fen"]) for s in split["subsidies"]]


def test_the_quote_stays_as_quoted_when_the_actual_cost_is_higher(api, make, world, app):
    """A quote of 20,000 with a 6,000 municipal line settles 21,000: the quote still says 6,000 (the
    card hold's team share), the settlement 6,300."""
    make.voucher(world["team"], world["municipal"], 100_000)
    booking = make.compute_booking(world["team"], world["offer"], START, END)
    quoted = booking_json(api, world, booking)["quote"]
    assert amounts(quoted) == [("municipal", 6_000)] and quoted["team_pays_fen"] == 14_000
    usage(api, world, booking, (START, END, "2.1"))
    assert _run(app).settled == 1  # _run also asserts ledger verify passes
    after = booking_json(api, world, booking)
    assert after["quote"] == quoted
    assert after["settlement"]["total_fen"] == 21_000
    assert amounts(after["settlement"]) == [("municipal", 6_300)]
    assert after["settlement"]["team_pays_fen"] == 14_700
    listed = api.as_(world["owner"]).get(f"/api/v1/bookings?team_id={world['team'].id}").json["items"]
    assert listed[0]["quote"] == quoted and listed[0]["settlement"] == after["settlement"]
    held = wallet(api, world)["municipal"]
    assert (held["committed_fen"], held["spent_fen"], held["balance_fen"]) == (0, 6_300, 93_700)


def test_the_quote_stays_as_quoted_when_the_actual_cost_is_lower(api, make, world, app):
    make.voucher(world["team"], world["municipal"], 100_000)
    make.voucher(world["team"], world["district"], 100_000)
    booking = make.compute_booking(world["team"], world["offer"], START, END)
    quoted = booking_json(api, world, booking)["quote"]
    usage(api, world, booking, (START, END, "1"))
    _run(app)
    after = booking_json(api, world, booking)
    assert after["quote"] == quoted and amounts(quoted) == [("municipal", 6_000), ("district", 8_000)]
    assert amounts(after["settlement"]) == [("municipal", 3_000), ("district", 4_000)]


def test_a_municipal_voucher_that_only_pays_at_settlement_is_listed_first(api, make, world, app):
    """Booked with a district voucher only; a municipal voucher issued before settlement pays then.
    The settlement lists it first (the order applied); the quote does not gain a line."""
    make.voucher(world["team"], world["district"], 100_000)
    booking = make.compute_booking(world["team"], world["offer"], START, END)
    quoted = booking_json(api, world, booking)["quote"]
    assert amounts(quoted) == [("district", 10_000)]  # 50% of 20,000 (ceiling 70%)
    make.voucher(world["team"], world["municipal"], 100_000, at=NOW)
    usage(api, world, booking, (START, END, "2"))
    _run(app)
    after = booking_json(api, world, booking)
    assert after["quote"] == quoted
    # m = 6,000 first, then d = min(10,000, 14,000 − 6,000) = 8,000
    assert amounts(after["settlement"]) == [("municipal", 6_000), ("district", 8_000)]
    assert after["settlement"]["team_pays_fen"] == 6_000


def test_settlement_order_within_a_level_follows_expiry_too(api, make, world, app):
    """Two municipal vouchers: the one committed at booking expires later than one issued since, so
    at settlement the earlier-expiring one is drawn first and listed first."""
    make.voucher(world["team"], world["municipal"], 100_000, at=NOW - timedelta(days=1))
    late = make.voucher(world["team"], world["municipal"], 100_000, at=NOW)
    booking = make.compute_booking(world["team"], world["offer"], START, END)
    assert [s["voucher_id"] for s in booking_json(api, world, booking)["quote"]["subsidies"]] != [late.id]
    short = make.program(rate_bp=3000, voucher_validity_days=30)
    soon = make.voucher(world["team"], short, 1_000, at=NOW)
    usage(api, world, booking, (START, END, "2"))
    _run(app)
    settlement = booking_json(api, world, booking)["settlement"]
    assert settlement["subsidies"][0]["voucher_id"] == soon.id
    assert [s["amount_fen"] for s in settlement["subsidies"]] == [1_000, 5_000]


@pytest.mark.parametrize("kind", ["compute", "instrument"])
def test_a_team_that_opted_out_is_never_subsidised_at_settlement(api, make, world, app, kind):
    make.voucher(world["team"], world["municipal"], 100_000)
    make.voucher(world["team"], world["district"], 100_000)
    if kind == "compute":
        booking = make.compute_booking(world["team"], world["offer"], START, END, use_vouchers=False)
        usage(api, world, booking, (START, END, "1.5"))
    else:
        manager = make.user("lab_manager")
        lab = make.lab(manager=manager)
        instrument = make.instrument(lab, hours=tuple((d, 0, 1440) for d in range(7)), hourly_rate_fen=6_000)
        booking = make.booking(world["team"], instrument, START, END, use_vouchers=False)
        lab_api = api.as_(manager)
        lab_api.post(f"/api/v1/bookings/{booking.id}/check-in", json={"at": START.isoformat()})
        lab_api.post(f"/api/v1/bookings/{booking.id}/check-out", json={"at": END.isoformat()})
    before = wallet(api, world)
    quoted = booking_json(api, world, booking)
    assert quoted["use_vouchers"] is False and quoted["quote"]["subsidies"] == []
    assert _run(app).settled == 1
    settlement = booking_json(api, world, booking)["settlement"]
    assert settlement["subsidies"] == [] and settlement["team_pays_fen"] == settlement["total_fen"] > 0
    assert wallet(api, world) == before


def test_usage_after_settlement_is_accepted_and_an_exception_for_finance(api, make, world, app):
    make.voucher(world["team"], world["municipal"], 100_000)
    booking = make.compute_booking(world["team"], world["offer"], START, END)
    other = make.compute_booking(
        world["team"], world["offer"], END + timedelta(hours=1), END + timedelta(hours=2)
    )
    usage(api, world, booking, (START, END, "2"))
    _run(app)
    record = {
        "external_id": "late-1",
        "booking_id": booking.id,
        "started_at": START.isoformat(),
        "ended_at": END.isoformat(),
        "gpu_hours": "0.5",
    }
    pending = {  # a booking not settled yet: no exception
        **record,
        "external_id": "in-time-1",
        "booking_id": other.id,
        "started_at": other.starts_at.isoformat(),
        "ended_at": other.ends_at.isoformat(),
    }
    provider = api.as_(world["provider_user"])
    response = provider.post("/api/v1/usage-records", json={"records": [record, pending]})
    assert response.status_code == 200
    assert (response.json["accepted"], response.json["rejected"]) == (2, [])
    again = provider.post("/api/v1/usage-records", json={"records": [record]}).json
    assert (again["accepted"], again["duplicates"]) == (0, 1)
    with app.app_context():
        raised = db.session.scalars(
            select(FinanceException).where(FinanceException.kind == "after_settlement")
        ).all()
        assert [(e.booking_id, e.provider_id, e.blocking, e.status) for e in raised] == [
            (booking.id, world["offer"].provider_id, False, "open")
        ]
        assert raised[0].details["external_id"] == "late-1" and raised[0].details["gpu_hours"] == "0.5"
    finance = api.as_(make.finance(None))
    listed = finance.get("/api/v1/finance/exceptions").json
    items = listed["items"] if isinstance(listed, dict) else listed
    assert [e["booking_id"] for e in items if e["kind"] == "after_settlement"] == [booking.id]
    # the settlement is what it was: the late usage is finance's to decide, not silently billed
    assert booking_json(api, world, booking)["settlement"]["total_fen"] == 20_000
    assert _run(app, AFTER + timedelta(hours=2)).settled == 1  # only the other booking


def test_opting_out_in_one_batch_leaves_the_teams_vouchers_to_its_other_bookings(api, make, world, app):
    """The team's bookings settle in one batch against one working copy of its balances: the
    opted-out ones draw nothing, the others get the split they would get alone."""
    make.voucher(world["team"], world["municipal"], 100_000)
    booked = []
    for hour, use_vouchers in enumerate((False, True, False, True)):
        starts = START + timedelta(minutes=30 * hour)
        booking = make.compute_booking(
            world["team"], world["offer"], starts, starts + timedelta(minutes=30), use_vouchers=use_vouchers
        )
        usage(api, world, booking, (starts, starts + timedelta(minutes=30), "0.5"))
        booked.append((booking, use_vouchers))
    assert _run(app).settled == 4
    for booking, use_vouchers in booked:
        settlement = booking_json(api, world, booking)["settlement"]
        assert amounts(settlement) == ([("municipal", 1_500)] if use_vouchers else []), booking.id
    assert wallet(api, world)["municipal"]["spent_fen"] == 3_000
