"""Reconciliation: actual cost, the same split, caps that bind, exceptions, idempotence, periods."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from booking.core import clock
from booking.core.db import db
from vouchers.models import AccountingPeriod, FinanceException, JournalTransaction, Posting, Settlement
from vouchers.reconciliation import reconcile
from vouchers.verify import ledger_breaches

NOW = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)
START = NOW + timedelta(hours=1)
END = START + timedelta(hours=2)
AFTER = END + timedelta(hours=2)  # past the 60-minute grace


@pytest.fixture
def world(make):
    provider = make.provider()
    provider_user = make.user("provider", provider_id=provider.id)
    owner = make.user("founder")
    team = make.team(owner=owner, verified=True, district_code="500106")
    offer = make.offer(provider, gpus_total=8, price_per_gpu_hour_fen=10_000)
    municipal = make.program(rate_bp=3000)
    district = make.program(level="district", district_code="500106", rate_bp=5000, stack_ceiling_bp=7000)
    return {
        "provider_user": provider_user,
        "owner": owner,
        "team": team,
        "offer": offer,
        "municipal": municipal,
        "district": district,
    }


def usage(api, world, booking, *records):
    body = {
        "records": [
            {
                "external_id": f"{booking.id}-{i}",
                "booking_id": booking.id,
                "started_at": s.isoformat(),
                "ended_at": e.isoformat(),
                "gpu_hours": h,
            }
            for i, (s, e, h) in enumerate(records)
        ]
    }
    response = api.as_(world["provider_user"]).post("/api/v1/usage-records", json=body)
    assert response.status_code == 200 and not response.json["rejected"], response.json
    return response


def _run(app, now=AFTER):
    with app.app_context(), clock.frozen_at(now):
        result = reconcile(now)
        db.session.commit()
        assert ledger_breaches() == []
        return result


def wallet(api, world):
    return {
        v["level"]: v for v in api.as_(world["owner"]).get(f"/api/v1/teams/{world['team'].id}/vouchers").json
    }


def booking_json(api, world, booking):
    return api.as_(world["owner"]).get(f"/api/v1/bookings/{booking.id}").json


def test_usage_below_estimate_releases_the_excess(api, make, world, app):
    make.voucher(world["team"], world["municipal"], 100_000)
    make.voucher(world["team"], world["district"], 100_000)
    booking = make.compute_booking(world["team"], world["offer"], START, END)
    quote = booking_json(api, world, booking)["quote"]
    assert [s["amount_fen"] for s in quote["subsidies"]] == [6_000, 8_000]  # C=20,000: 30%; min(50%, 70% − m)
    usage(
        api,
        world,
        booking,
        (START, START + timedelta(hours=1), "1.000000"),
        (START + timedelta(hours=1), END, "0.5"),
    )
    assert _run(app).settled == 1
    settled = booking_json(api, world, booking)
    assert settled["status"] == "settled"
    # actual 15,000: m = 4,500; d = min(7,500, 10,500 − 4,500) = 6,000; team 4,500
    assert settled["settlement"]["total_fen"] == 15_000
    assert [s["amount_fen"] for s in settled["settlement"]["subsidies"]] == [4_500, 6_000]
    assert settled["settlement"]["team_pays_fen"] == 4_500
    held = wallet(api, world)
    assert (
        held["municipal"]["committed_fen"],
        held["municipal"]["spent_fen"],
        held["municipal"]["balance_fen"],
    ) == (0, 4_500, 95_500)
    assert (
        held["district"]["committed_fen"],
        held["district"]["spent_fen"],
        held["district"]["balance_fen"],
    ) == (0, 6_000, 94_000)


def test_usage_above_estimate_within_tolerance_is_billed_and_caps_bind(api, make, world, app):
    make.voucher(world["team"], world["municipal"], 6_500)  # 6,000 committed at booking, 500 left
    make.voucher(world["team"], world["district"], 100_000)
    booking = make.compute_booking(world["team"], world["offer"], START, END)
    usage(api, world, booking, (START, END, "2.3"))  # 23,000 ≤ 20,000 × 1.2
    _run(app)
    settlement = booking_json(api, world, booking)["settlement"]
    # m wants 6,900 but the voucher holds 6,500 in all; d = min(11,500, 16,100 − 6,500) = 9,600
    assert [s["amount_fen"] for s in settlement["subsidies"]] == [6_500, 9_600]
    assert settlement["team_pays_fen"] == 23_000 - 6_500 - 9_600
    assert wallet(api, world)["municipal"]["balance_fen"] == 0


def test_over_tolerance_is_an_exception_until_finance_resolves_it(api, make, world, app):
    make.voucher(world["team"], world["municipal"], 100_000)
    booking = make.compute_booking(world["team"], world["offer"], START, END)
    usage(api, world, booking, (START, END, "2.4001"))  # 24,001 fen: more than 20% above 20,000
    first = _run(app)
    assert (first.settled, first.exceptions) == (0, 1)
    assert booking_json(api, world, booking)["status"] == "confirmed"
    assert (_run(app).settled, _run(app).exceptions) == (0, 0)  # raised once, still blocking
    with app.app_context():
        exception = db.session.scalars(
            select(FinanceException).where(FinanceException.booking_id == booking.id)
        ).one()
        assert exception.kind == "over_tolerance" and exception.blocking
        exception.status = "resolved"
        db.session.commit()
    assert _run(app).settled == 1
    assert booking_json(api, world, booking)["settlement"]["total_fen"] == 24_001


def test_usage_exactly_at_tolerance_is_billed(api, make, world, app):
    booking = make.compute_booking(world["team"], world["offer"], START, END)
    usage(api, world, booking, (START, END, "2.4"))
    assert _run(app).settled == 1


def test_bulk_written_rows_store_times_as_the_orm_does(api, make, world, app):
    """The batch writes settlements and journal transactions in bulk; their times must compare equal
    to the same instant queried through the ORM (on SQLite: the same text, microseconds included)."""
    make.voucher(world["team"], world["municipal"], 100_000)
    booking = make.compute_booking(world["team"], world["offer"], START, END)
    usage(api, world, booking, (START, END, "1"))
    assert _run(app).settled == 1
    with app.app_context():
        assert db.session.scalar(select(func.count()).where(Settlement.settled_at == AFTER)) == 1
        assert (
            db.session.scalar(
                select(func.count()).where(
                    JournalTransaction.booking_id == booking.id, JournalTransaction.occurred_at == AFTER
                )
            )
            == 1
        )


def test_usage_is_summed_exactly_to_the_micro_gpu_hour(api, make, world, app):
    """Eighteen significant digits survive storage and the sum (a REAL on SQLite would not), and
    a sum beyond a 64-bit integer of micro-GPU-hours does not break the run."""
    precise = make.compute_booking(world["team"], world["offer"], START, END)
    usage(
        api,
        world,
        precise,
        (START, END, "123456789012.345678"),
        (START, END, "0.000001"),
        (START, END, "0.000001"),
    )
    huge = make.compute_booking(world["team"], world["offer"], START, END)
    usage(api, world, huge, *[(START, END, "999999999999.999999")] * 10)
    result = _run(app)
    assert (result.settled, result.exceptions) == (0, 2)
    with app.app_context():
        details = {
            e.booking_id: e.details
            for e in db.session.scalars(
                select(FinanceException).where(FinanceException.kind == "over_tolerance")
            )
        }
    assert details[precise.id]["gpu_hours"] == "123456789012.345680"
    # 10,000 fen per GPU-hour, half up: 123456789012.345680 × 10,000 = 1,234,567,890,123,456.8
    assert details[precise.id]["actual_cost_fen"] == 1_234_567_890_123_457
    assert details[huge.id]["gpu_hours"] == "9999999999999.999990"
    # 9,999,999,999,999.999990 × 10,000 = 99,999,999,999,999,999.9, half up
    assert details[huge.id]["actual_cost_fen"] == 100_000_000_000_000_000


def test_usage_outside_the_booking_window_is_an_exception(api, make, world, app):
    booking = make.compute_booking(world["team"], world["offer"], START, END)
    usage(api, world, booking, (START - timedelta(minutes=5), END, "1"))
    result = _run(app)
    assert (result.settled, result.exceptions) == (0, 1)
    with app.app_context():
        kinds = db.session.scalars(
            select(FinanceException.kind).where(FinanceException.booking_id == booking.id)
        ).all()
    assert kinds == ["usage_outside_window"]


def test_compute_waits_for_the_grace_period(api, make, world, app):
    booking = make.compute_booking(world["team"], world["offer"], START, END)
    usage(api, world, booking, (START, END, "1"))
    assert _run(app, END + timedelta(minutes=59)).settled == 0
    assert _run(app, END + timedelta(minutes=60)).settled == 1


def test_no_usage_settles_at_zero_and_releases_everything(api, make, world, app):
    make.voucher(world["team"], world["municipal"], 100_000)
    booking = make.compute_booking(world["team"], world["offer"], START, END)
    _run(app)
    settlement = booking_json(api, world, booking)["settlement"]
    assert settlement == {**settlement, "total_fen": 0, "subsidies": [], "team_pays_fen": 0}
    assert wallet(api, world)["municipal"]["balance_fen"] == 100_000


def test_voucher_expiring_after_use_but_before_settlement_still_pays(api, make, world, app):
    short = make.program(rate_bp=3000, voucher_validity_days=1)
    make.voucher(world["team"], short, 100_000, at=NOW)  # expires NOW + 1 day
    booking = make.compute_booking(world["team"], world["offer"], START, END)
    usage(api, world, booking, (START, END, "2"))
    app.test_cli_runner().invoke(
        args=["jobs", "run", "expire_vouchers", "--now", (NOW + timedelta(days=2)).isoformat()]
    )
    _run(app, NOW + timedelta(days=2))
    settlement = booking_json(api, world, booking)["settlement"]
    assert [s["amount_fen"] for s in settlement["subsidies"]] == [6_000]


def test_usage_after_voucher_expiry_gets_no_subsidy_and_is_flagged(api, make, world, app):
    """A voucher valid for the booked window, but the (accepted) usage ran on past its expiry."""
    short = make.program(rate_bp=3000, voucher_validity_days=1)
    voucher = make.voucher(world["team"], short, 100_000, at=END - timedelta(days=1) + timedelta(minutes=30))
    booking = make.compute_booking(world["team"], world["offer"], START, END)
    assert [s["voucher_id"] for s in booking_json(api, world, booking)["quote"]["subsidies"]] == [voucher.id]
    usage(api, world, booking, (START, END + timedelta(hours=1), "2"))  # ran an hour past the booking
    first = _run(app, AFTER + timedelta(hours=1))
    assert (first.settled, first.exceptions) == (0, 1)  # usage outside the window blocks settlement
    with app.app_context():
        blocked = db.session.scalars(
            select(FinanceException).where(FinanceException.booking_id == booking.id)
        ).one()
        assert blocked.kind == "usage_outside_window"
        blocked.status = "resolved"  # finance accepts the usage
        db.session.commit()
    assert _run(app, AFTER + timedelta(hours=1)).settled == 1
    settlement = booking_json(api, world, booking)["settlement"]
    assert settlement["total_fen"] == 20_000
    assert settlement["subsidies"] == []  # the voucher had expired before the usage ended
    assert settlement["team_pays_fen"] == 20_000
    with app.app_context():
        kinds = set(
            db.session.scalars(select(FinanceException.kind).where(FinanceException.booking_id == booking.id))
        )
    assert kinds == {"usage_outside_window", "after_expiry"}
    held = wallet(api, world)["municipal"]
    assert held["committed_fen"] == 0 and held["spent_fen"] == 0


def test_instrument_bookings_settle_on_billed_time_and_no_shows_on_fees(api, make, world, app):
    make.voucher(world["team"], world["municipal"], 100_000)
    manager = make.user("lab_manager")
    lab = make.lab(manager=manager)
    instrument = make.instrument(
        lab,
        hours=tuple((d, 0, 1440) for d in range(7)),
        lead_minutes=0,
        hourly_rate_fen=6_000,
        no_show_fee_bp=5000,
    )
    used = make.booking(world["team"], instrument, START, END)
    missed = make.booking(world["team"], instrument, END, END + timedelta(hours=1))
    lab_api = api.as_(manager)
    lab_api.post(f"/api/v1/bookings/{used.id}/check-in", json={"at": START.isoformat()})
    lab_api.post(
        f"/api/v1/bookings/{used.id}/check-out", json={"at": (END + timedelta(minutes=30)).isoformat()}
    )
    app.test_cli_runner().invoke(
        args=["jobs", "run", "no_shows", "--now", (END + timedelta(minutes=30)).isoformat()]
    )
    assert _run(app).settled == 2
    overran = booking_json(api, world, used)["settlement"]
    assert overran["total_fen"] == 15_000 and overran["subsidies"][0]["amount_fen"] == 4_500  # 2.5 h billed
    no_show = booking_json(api, world, missed)
    assert no_show["status"] == "no_show"
    assert no_show["settlement"]["total_fen"] == 0 and no_show["settlement"]["fee_fen"] == 3_000


def test_reconciliation_is_idempotent(api, make, world, app):
    make.voucher(world["team"], world["municipal"], 100_000)
    for hour in range(3):
        booking = make.compute_booking(
            world["team"], world["offer"], START + timedelta(hours=hour), START + timedelta(hours=hour + 1)
        )
        usage(api, world, booking, (booking.starts_at, booking.ends_at, "1"))
    assert _run(app, AFTER + timedelta(hours=3)).settled == 3
    with app.app_context():
        postings = db.session.scalar(select(func.count()).select_from(Posting))
    assert _run(app, AFTER + timedelta(hours=3)).settled == 0
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Posting)) == postings


def test_settlement_in_a_closed_period_lands_in_the_next_open_one(api, make, world, app):
    booking = make.compute_booking(world["team"], world["offer"], START, END)
    make.voucher(world["team"], world["municipal"], 100_000)
    usage(api, world, booking, (START, END, "1"))
    with app.app_context():
        db.session.add(AccountingPeriod(period="2026-12"))
        db.session.commit()
    _run(app)
    settlement = booking_json(api, world, booking)["settlement"]
    assert settlement["period"] == "2027-01"
    with app.app_context():
        periods = set(
            db.session.scalars(
                select(JournalTransaction.period).where(
                    JournalTransaction.booking_id == booking.id, JournalTransaction.kind == "settle"
                )
            )
        )
    assert periods == {"2027-01"}


def test_finance_runs_reconciliation_through_the_api(api, make, world, app):
    booking = make.compute_booking(world["team"], world["offer"], START, END)
    usage(api, world, booking, (START, END, "1"))
    with clock.frozen_at(AFTER):
        response = api.as_(make.finance(None)).post("/api/v1/reconciliation/runs")
        assert api.as_(world["owner"]).post("/api/v1/reconciliation/runs").status_code == 403
    assert response.status_code == 201 and response.json["settled"] == 1


def test_the_garbage_collector_is_paused_only_while_a_batch_runs(api, make, world, app, monkeypatch):
    import gc

    from vouchers import reconciliation

    seen = []
    original = reconciliation._reconcile_batch

    def batch(*args, **kwargs):
        seen.append(gc.isenabled())
        return original(*args, **kwargs)

    monkeypatch.setattr(reconciliation, "_reconcile_batch", batch)
    booking = make.compute_booking(world["team"], world["offer"], START, END)
    usage(api, world, booking, (START, END, "1"))
    assert gc.isenabled()
    assert _run(app).settled == 1
    assert seen == [False] and gc.isenabled()
    second = make.compute_booking(world["team"], world["offer"], START, END)
    usage(api, world, second, (START, END, "1"))
    gc.disable()  # switched off by someone else: it stays off after the run
    try:
        assert _run(app).settled == 1
        assert seen == [False, False] and not gc.isenabled()
    finally:
        gc.enable()


def test_the_booking_list_shows_what_each_booking_shows_in_a_constant_number_of_queries(
    api, make, world, app
):
    """The list preloads the page's subsidy lines and settlements (two queries, not two or three
    per booking); what it shows for each booking is what the booking's own page shows."""
    import sqlalchemy as sa

    make.voucher(world["team"], world["municipal"], 1_000_000)
    make.voucher(world["team"], world["district"], 1_000_000)
    settled = make.compute_booking(world["team"], world["offer"], START, END)
    usage(api, world, settled, (START, END, "1.5"))
    assert _run(app).settled == 1
    owner = api.as_(world["owner"])
    url = f"/api/v1/bookings?team_id={world['team'].id}"

    def listed():
        statements = []
        with app.app_context():
            engine = db.engine

        def count(*_):
            statements.append(1)

        sa.event.listen(engine, "before_cursor_execute", count)
        try:
            response = owner.get(url)
        finally:
            sa.event.remove(engine, "before_cursor_execute", count)
        assert response.status_code == 200
        return response.json["items"], len(statements)

    items, few = listed()
    for day in range(1, 9):
        make.compute_booking(
            world["team"], world["offer"], START + timedelta(days=day), END + timedelta(days=day)
        )
    more_items, many = listed()
    assert (len(items), len(more_items)) == (1, 9)
    assert many == few
    assert more_items[0]["settlement"]["subsidies"] and more_items[1]["quote"]["subsidies"]
    for item in more_items:
        assert item == owner.get(f"/api/v1/bookings/{item['id']}").json
