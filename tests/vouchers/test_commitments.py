"""Vouchers committed at booking, released when the booking will not be used."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from booking.core import clock
from booking.core.db import db
from booking.flow.attendance import mark_no_shows
from vouchers.verify import ledger_breaches

CST = timezone(timedelta(hours=8))
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=CST)


def at(day, hour, minute=0):
    return datetime(2026, 12, day, hour, minute, tzinfo=CST)


@pytest.fixture
def world(make):
    manager = make.user("lab_manager")
    lab = make.lab(manager=manager, organization="重庆大学")
    owner = make.user("founder")
    team = make.team(owner=owner, verified=True, district_code="500106", organization="山城智算科技有限公司")
    municipal = make.program(rate_bp=3000)
    district = make.program(level="district", district_code="500106", rate_bp=5000, stack_ceiling_bp=7000)
    return {
        "manager": manager,
        "lab": lab,
        "owner": owner,
        "team": team,
        "municipal": municipal,
        "district": district,
    }


def book(api, world, instrument, starts_at, ends_at, now=NOW, **extra):
    body = {
        "team_id": world["team"].id,
        "instrument_id": instrument.id,
        "starts_at": starts_at.isoformat(),
        "ends_at": ends_at.isoformat(),
        **extra,
    }
    with clock.frozen_at(now):
        return api.as_(world["owner"]).post("/api/v1/bookings", json=body)


def wallet(api, world):
    return {
        v["level"]: v for v in api.as_(world["owner"]).get(f"/api/v1/teams/{world['team'].id}/vouchers").json
    }


def verify(app):
    with app.app_context():
        assert ledger_breaches() == []


def test_stacked_split_is_committed_in_the_booking(api, make, world, app):
    m = make.voucher(world["team"], world["municipal"], 100_000)
    d = make.voucher(world["team"], world["district"], 100_000)
    instrument = make.instrument(world["lab"], hourly_rate_fen=10_001)
    response = book(api, world, instrument, at(2, 10), at(2, 11))
    assert response.status_code == 201, response.json
    # C = 10,001; m = floor(30%) = 3,000; d = min(floor(50%) = 5,000, floor(70%) − m = 4,000) = 4,000
    assert response.json["quote"] == {
        "total_fen": 10_001,
        "subsidies": [
            {
                "voucher_id": m.id,
                "program_id": world["municipal"].id,
                "level": "municipal",
                "amount_fen": 3_000,
            },
            {
                "voucher_id": d.id,
                "program_id": world["district"].id,
                "level": "district",
                "amount_fen": 4_000,
            },
        ],
        "team_pays_fen": 3_001,
    }
    held = wallet(api, world)
    assert (held["municipal"]["balance_fen"], held["municipal"]["committed_fen"]) == (97_000, 3_000)
    assert (held["district"]["balance_fen"], held["district"]["committed_fen"]) == (96_000, 4_000)
    verify(app)


def test_balance_binds_and_the_team_pays_more(api, make, world, app):
    make.voucher(world["team"], world["municipal"], 1_000)
    instrument = make.instrument(world["lab"], hourly_rate_fen=10_000)
    quote = book(api, world, instrument, at(2, 10), at(2, 11)).json["quote"]
    assert [s["amount_fen"] for s in quote["subsidies"]] == [1_000]
    assert quote["team_pays_fen"] == 9_000
    second = book(api, world, instrument, at(2, 14), at(2, 15)).json["quote"]
    assert second["subsidies"] == [] and second["team_pays_fen"] == 10_000
    verify(app)


def test_free_cancellation_releases_everything(api, make, world, app):
    make.voucher(world["team"], world["municipal"], 100_000)
    instrument = make.instrument(world["lab"])
    booking = book(api, world, instrument, at(3, 10), at(3, 12)).json
    with clock.frozen_at(NOW):
        cancelled = api.as_(world["owner"]).post(f"/api/v1/bookings/{booking['id']}/cancel")
    assert cancelled.json["fee_fen"] == 0
    assert wallet(api, world)["municipal"]["balance_fen"] == 100_000
    assert wallet(api, world)["municipal"]["committed_fen"] == 0
    verify(app)


def test_late_fee_is_never_paid_by_vouchers(api, make, world, app):
    make.voucher(world["team"], world["municipal"], 100_000)
    instrument = make.instrument(world["lab"], late_cancel_fee_bp=10_000, free_cancel_hours=48)
    booking = book(api, world, instrument, at(2, 10), at(2, 12)).json
    with clock.frozen_at(NOW):
        cancelled = api.as_(world["owner"]).post(f"/api/v1/bookings/{booking['id']}/cancel").json
    assert cancelled["fee_fen"] == 20_000  # the whole cost, owed by the team
    held = wallet(api, world)["municipal"]
    assert (held["balance_fen"], held["committed_fen"], held["spent_fen"]) == (100_000, 0, 0)
    verify(app)


def test_rejection_and_no_show_release(api, make, world, app):
    make.voucher(world["team"], world["municipal"], 100_000)
    needs_approval = make.instrument(world["lab"], requires_approval=True)
    plain = make.instrument(world["lab"], no_show_fee_bp=5000)
    pending = book(api, world, needs_approval, at(2, 10), at(2, 11)).json
    confirmed = book(api, world, plain, at(2, 10), at(2, 11)).json
    assert wallet(api, world)["municipal"]["committed_fen"] == 6_000
    api.as_(world["manager"]).post(f"/api/v1/bookings/{pending['id']}/reject", json={"reason": "busy"})
    assert wallet(api, world)["municipal"]["committed_fen"] == 3_000
    with app.app_context():
        assert mark_no_shows(at(2, 10, 30)) == 1
        db.session.commit()
    held = wallet(api, world)["municipal"]
    assert (held["balance_fen"], held["committed_fen"]) == (100_000, 0)
    assert api.as_(world["owner"]).get(f"/api/v1/bookings/{confirmed['id']}").json["fee_fen"] == 5_000
    verify(app)


def test_no_vouchers_when_declined_or_ineligible(api, make, world, app):
    make.voucher(world["team"], world["municipal"], 100_000)
    instrument = make.instrument(world["lab"])
    declined = book(api, world, instrument, at(2, 10), at(2, 11), use_vouchers=False).json
    assert declined["quote"]["subsidies"] == [] and declined["use_vouchers"] is False
    compute_only = make.program(resource_kinds=["compute"])
    make.voucher(world["team"], compute_only, 100_000)
    other_district = make.program(level="district", district_code="500103")
    # a team of another district cannot even apply; its vouchers never reach this team
    used = book(api, world, instrument, at(2, 14), at(2, 15)).json["quote"]["subsidies"]
    assert [s["program_id"] for s in used] == [world["municipal"].id]
    assert other_district.id not in [s["program_id"] for s in used]
    verify(app)


def test_self_dealing_gets_no_subsidy_but_sharing_a_university_does(api, make, world, app):
    make.voucher(world["team"], world["municipal"], 100_000)
    own_lab = make.lab(organization="山城智算科技有限公司", university="重庆大学")
    same_university = make.lab(organization="重庆大学材料学院", university="重庆大学")
    own = book(api, world, make.instrument(own_lab), at(2, 10), at(2, 11)).json
    assert own["quote"]["subsidies"] == [] and own["quote"]["team_pays_fen"] == own["quote"]["total_fen"]
    shared = book(api, world, make.instrument(same_university), at(2, 10), at(2, 11)).json
    assert shared["quote"]["subsidies"] != []


def test_district_voucher_subsidises_labs_anywhere(api, make, world, app):
    make.voucher(world["team"], world["district"], 100_000)
    far_lab = make.lab(district_code="500101")
    quote = book(api, world, make.instrument(far_lab), at(2, 10), at(2, 11)).json["quote"]
    assert [s["level"] for s in quote["subsidies"]] == ["district"]


def test_voucher_expiring_before_the_booking_ends_is_not_used(api, make, world, app):
    short = make.program(voucher_validity_days=1)
    make.voucher(world["team"], short, 100_000, at=NOW)
    quote = book(api, world, make.instrument(world["lab"]), at(2, 10), at(2, 11)).json["quote"]
    assert quote["subsidies"] == []


def test_earliest_expiring_voucher_of_a_level_is_used_first(api, make, world, app):
    late = make.voucher(world["team"], world["municipal"], 100_000, at=NOW)
    other = make.program(rate_bp=3000, voucher_validity_days=30)
    early = make.voucher(world["team"], other, 100_000, at=NOW)
    quote = book(api, world, make.instrument(world["lab"]), at(2, 10), at(2, 11)).json["quote"]
    assert [s["voucher_id"] for s in quote["subsidies"]] == [early.id]
    assert late.id not in [s["voucher_id"] for s in quote["subsidies"]]


def test_revocation_claws_back_available_and_committed(api, make, world, app):
    voucher = make.voucher(world["team"], world["municipal"], 100_000)
    booking = book(api, world, make.instrument(world["lab"]), at(2, 10), at(2, 11)).json
    from booking.models import User

    with app.app_context():
        officer = db.session.get(User, world["municipal"].created_by_id)
    revoked = api.as_(officer).post(f"/api/v1/vouchers/{voucher.id}/revoke", json={"reason": "虚假材料"})
    assert revoked.status_code == 200, revoked.json
    assert (revoked.json["status"], revoked.json["balance_fen"], revoked.json["committed_fen"]) == (
        "revoked",
        0,
        0,
    )
    summary = api.as_(officer).get(f"/api/v1/programs/{world['municipal'].id}/summary").json
    assert summary["unissued_fen"] == summary["budget_fen"]
    assert (
        api.as_(officer).post(f"/api/v1/vouchers/{voucher.id}/revoke", json={"reason": "again"}).status_code
        == 409
    )
    assert (
        api.as_(make.finance("500106"))
        .post(f"/api/v1/vouchers/{voucher.id}/revoke", json={"reason": "x"})
        .status_code
        == 404
    )
    with clock.frozen_at(NOW):
        api.as_(world["owner"]).post(f"/api/v1/bookings/{booking['id']}/cancel")
    verify(app)


def test_release_after_expiry_returns_money_to_the_programme(api, make, world, app):
    make.voucher(world["team"], world["municipal"], 100_000, at=NOW)
    booking = book(api, world, make.instrument(world["lab"]), at(2, 10), at(2, 11)).json
    runner = app.test_cli_runner()
    expiry = runner.invoke(
        args=["jobs", "run", "expire_vouchers", "--now", (NOW + timedelta(days=400)).isoformat()]
    )
    assert "expire_vouchers: 1" in expiry.output
    from booking.models import User

    with app.app_context():
        officer = db.session.get(User, world["municipal"].created_by_id)
    summary = api.as_(officer).get(f"/api/v1/programs/{world['municipal'].id}/summary").json
    assert summary["committed_fen"] == 3_000  # the booking made while valid still holds its share
    with clock.frozen_at(NOW):
        api.as_(world["owner"]).post(f"/api/v1/bookings/{booking['id']}/cancel")
    summary = api.as_(officer).get(f"/api/v1/programs/{world['municipal'].id}/summary").json
    assert summary["committed_fen"] == 0 and summary["unissued_fen"] == summary["budget_fen"]
    verify(app)


@pytest.mark.ledger_tampered  # breaks the ledger behind its back, to see verify name it
def test_ledger_verify_names_a_breach(app, make, world):
    make.voucher(world["team"], world["municipal"], 1_000)
    from sqlalchemy import update

    from vouchers.models import LedgerAccount

    with app.app_context():
        db.session.execute(
            update(LedgerAccount).where(LedgerAccount.kind == "unissued").values(balance_fen=5)
        )
        db.session.commit()
        breaches = ledger_breaches()
    assert any("maintained balance" in b for b in breaches)
    assert any("!= budget" in b for b in breaches)
    result = app.test_cli_runner().invoke(args=["ledger", "verify"])
    assert result.exit_code == 1 and "BREACH" in result.output


def test_postings_are_append_only(app, make, world):
    make.voucher(world["team"], world["municipal"], 1_000)
    from sqlalchemy import text
    from sqlalchemy.exc import DatabaseError

    with app.app_context():
        with pytest.raises(DatabaseError, match="append-only"):
            db.session.execute(text("UPDATE postings SET amount_fen = amount_fen + 1"))
        db.session.rollback()
