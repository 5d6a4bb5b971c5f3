"""A programme's rules at booking and again at settlement: eligible payees, a rate per resource kind
and the annual cap per team, through real bookings, usage and reconciliation; the ledger verifies."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from booking.core import clock
from booking.core.db import db
from vouchers.reconciliation import reconcile
from vouchers.verify import ledger_breaches

NOW = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)
START = NOW + timedelta(hours=1)
END = START + timedelta(hours=2)  # 2 GPU-hours at ¥100: C = 20,000 fen
AFTER = END + timedelta(hours=2)


@pytest.fixture
def world(make):
    eligible, other = make.provider(), make.provider()
    owner = make.user("founder")
    return {
        "owner": owner,
        "team": make.team(owner=owner, verified=True, district_code="500106"),
        "eligible": eligible,
        "eligible_user": make.user("provider", provider_id=eligible.id),
        "other": other,
        "other_user": make.user("provider", provider_id=other.id),
        "eligible_offer": make.offer(eligible, gpus_total=8, price_per_gpu_hour_fen=10_000),
        "other_offer": make.offer(other, gpus_total=8, price_per_gpu_hour_fen=10_000),
    }


def _subsidies(split) -> list[tuple[str, int]]:
    return [(s["level"], s["amount_fen"]) for s in split["subsidies"]]


def _booking(api, world, booking):
    return api.as_(world["owner"]).get(f"/api/v1/bookings/{booking.id}").json


def _usage(api, user, booking, gpu_hours: str):
    body = {
        "records": [
            {
                "external_id": f"u-{booking.id}",
                "booking_id": booking.id,
                "started_at": booking.starts_at.isoformat(),
                "ended_at": booking.ends_at.isoformat(),
                "gpu_hours": gpu_hours,
            }
        ]
    }
    response = api.as_(user).post("/api/v1/usage-records", json=body)
    assert response.status_code == 200 and not response.json["rejected"], response.json


def _reconcile(app, now=AFTER):
    with app.app_context(), clock.frozen_at(now):
        result = reconcile(now)
        db.session.commit()
        assert ledger_breaches() == []
        return result


def test_an_ineligible_payee_gets_no_subsidy_from_that_programme_but_from_an_eligible_one(
    api, make, world, app
):
    restricted = make.program(
        rate_bp=3000, eligible_payees=[{"kind": "provider", "id": world["eligible"].id}]
    )
    anyone = make.program(level="district", district_code="500106", rate_bp=2000)
    make.voucher(world["team"], restricted, 100_000)
    make.voucher(world["team"], anyone, 100_000)
    at_other = make.compute_booking(world["team"], world["other_offer"], START, END)
    at_eligible = make.compute_booking(world["team"], world["eligible_offer"], START, END)
    other_quote = _booking(api, world, at_other)["quote"]
    assert _subsidies(other_quote) == [("district", 4_000)]  # booked, not refused: the team pays the rest
    assert other_quote["team_pays_fen"] == 16_000
    assert _subsidies(_booking(api, world, at_eligible)["quote"]) == [
        ("municipal", 6_000),
        ("district", 4_000),
    ]
    _usage(api, world["other_user"], at_other, "1.5")
    _usage(api, world["eligible_user"], at_eligible, "1.5")
    assert _reconcile(app).settled == 2
    # settlement applies the rules again, on the actual cost of 15,000
    assert _subsidies(_booking(api, world, at_other)["settlement"]) == [("district", 3_000)]
    assert _subsidies(_booking(api, world, at_eligible)["settlement"]) == [
        ("municipal", 4_500),
        ("district", 3_000),
    ]


def test_rules_changed_after_booking_apply_at_settlement(api, make, world, app):
    officer = make.finance(None)
    program = make.program(officer=officer, rate_bp=3000)
    make.voucher(world["team"], program, 100_000)
    excluded = make.compute_booking(world["team"], world["other_offer"], START, END)
    rated = make.compute_booking(world["team"], world["eligible_offer"], START, END)
    assert _subsidies(_booking(api, world, excluded)["quote"]) == [("municipal", 6_000)]
    change = {
        "eligible_payees": [{"kind": "provider", "id": world["eligible"].id}],
        "rate_bp_by_kind": {"compute": 5000},
    }
    assert api.as_(officer).patch(f"/api/v1/programs/{program.id}", json=change).status_code == 200
    _usage(api, world["other_user"], excluded, "2")
    _usage(api, world["eligible_user"], rated, "2")
    _reconcile(app)
    excluded_now = _booking(api, world, excluded)
    assert (
        excluded_now["settlement"]["subsidies"] == []
        and excluded_now["settlement"]["team_pays_fen"] == 20_000
    )
    assert _subsidies(excluded_now["quote"]) == [("municipal", 6_000)]  # the quote never changes
    assert _subsidies(_booking(api, world, rated)["settlement"]) == [("municipal", 10_000)]  # 50% for compute
    vouchers = api.as_(world["owner"]).get(f"/api/v1/teams/{world['team'].id}/vouchers").json
    assert (vouchers[0]["committed_fen"], vouchers[0]["spent_fen"]) == (0, 10_000)  # the 6,000 held came back


def test_the_annual_cap_per_team_binds_by_the_start_date_in_chongqing(api, make, world, app):
    program = make.program(rate_bp=3000, annual_team_cap_fen=10_000)
    make.voucher(world["team"], program, 100_000)
    offer = world["eligible_offer"]
    first = make.compute_booking(world["team"], offer, START, END)
    second = make.compute_booking(world["team"], offer, START + timedelta(hours=3), END + timedelta(hours=3))
    third = make.compute_booking(world["team"], offer, START + timedelta(hours=6), END + timedelta(hours=6))
    quotes = [_booking(api, world, b)["quote"] for b in (first, second, third)]
    assert [_subsidies(q) for q in quotes] == [[("municipal", 6_000)], [("municipal", 4_000)], []]
    # 2026-12-31 17:00 UTC is 2027-01-01 01:00 in Chongqing: another year, a fresh cap
    new_year = datetime(2026, 12, 31, 17, 0, tzinfo=UTC)
    next_year = make.compute_booking(world["team"], offer, new_year, new_year + timedelta(hours=2), now=START)
    assert _subsidies(_booking(api, world, next_year)["quote"]) == [("municipal", 6_000)]
    # settling the first below its estimate frees room: the second, settled after it, may then draw more
    _usage(api, world["eligible_user"], first, "1")  # 10,000: 3,000
    _usage(api, world["eligible_user"], second, "2.2")  # 22,000: wants 6,600, room 10,000 − 3,000
    _reconcile(app, now=END + timedelta(hours=6))
    assert _subsidies(_booking(api, world, first)["settlement"]) == [("municipal", 3_000)]
    assert _subsidies(_booking(api, world, second)["settlement"]) == [("municipal", 6_600)]
    later = make.compute_booking(world["team"], offer, START + timedelta(days=2), END + timedelta(days=2))
    assert _subsidies(_booking(api, world, later)["quote"]) == [("municipal", 400)]  # 10,000 − 9,600
