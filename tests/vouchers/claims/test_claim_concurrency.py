"""Two payee users file the same claim at the same moment, on separate connections: exactly one 201,
the others 409 ``already_claimed`` (PostgreSQL: the partial unique index decides; SQLite: writers are
serialised and the later ones see the first claim)."""

from __future__ import annotations

from collections import Counter

import pytest
from sqlalchemy import func, select

from booking.core.db import db
from tests.support.concurrency import run_concurrently
from tests.vouchers.claims.conftest import PERIOD, settle_and_close
from vouchers import claims
from vouchers.models import Claim, ClaimShare, LedgerAccount
from vouchers.verify import ledger_breaches

pytestmark = pytest.mark.concurrency

N = 8


@pytest.mark.parametrize("precheck", [True, False], ids=["with the pre-check", "the database alone"])
def test_simultaneous_filings_for_one_payee_and_period_make_one_claim(
    api, make, app, world, monkeypatch, precheck
):
    if not precheck:  # the partial unique index alone must still decide
        monkeypatch.setattr(claims, "live_claim", lambda *args: None)
    settle_and_close(api, make, world, app)
    colleague = make.user("provider", provider_id=world["provider"].id)
    tokens = [make.token_for(world["provider_user"]), make.token_for(colleague)]
    body = {
        "payee_kind": "provider",
        "payee_id": world["provider"].id,
        "period": PERIOD,
        "invoice_number": "No. 7",
    }

    def attempt(token):
        return lambda client: client.post(
            "/api/v1/claims", json=body, headers={"Authorization": f"Bearer {token}"}
        )

    responses = run_concurrently(app, [attempt(tokens[i % 2]) for i in range(N)])
    statuses = Counter(r.status_code for r in responses)
    assert statuses == {201: 1, 409: N - 1}, [r.json for r in responses]
    assert {r.json["error"]["code"] for r in responses if r.status_code == 409} == {"already_claimed"}
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Claim)) == 1
        assert db.session.scalar(select(func.count()).select_from(ClaimShare)) == 3


def _claim_approved_by(api, make, app, world, officers) -> int:
    settle_and_close(api, make, world, app)
    claim_id = (
        api.as_(world["provider_user"])
        .post(
            "/api/v1/claims",
            json={
                "payee_kind": "provider",
                "payee_id": world["provider"].id,
                "period": PERIOD,
                "invoice_number": "1",
            },
        )
        .json["id"]
    )
    for officer in officers:
        assert api.as_(officer).post(f"/api/v1/claims/{claim_id}/approve", json={}).status_code == 200
    return claim_id


def _as(token, path, body):
    return lambda client: client.post(path, json=body, headers={"Authorization": f"Bearer {token}"})


def test_offices_deciding_at_once_leave_the_claim_approved(api, make, app, world):
    claim_id = _claim_approved_by(api, make, app, world, [])
    officers = [world["municipal_officer"], *world["officers"].values()]
    calls = [
        _as(make.token_for(o), f"/api/v1/claims/{claim_id}/approve", {}) for o in officers for _ in range(2)
    ]
    responses = run_concurrently(app, calls)
    assert Counter(r.status_code for r in responses) == {200: 3, 409: 3}, [r.json for r in responses]
    with app.app_context():
        assert db.session.get(Claim, claim_id).status == "approved"


def test_one_share_paid_at_once_by_many_requests_moves_money_once(api, make, app, world):
    officers = [world["municipal_officer"], *world["officers"].values()]
    claim_id = _claim_approved_by(api, make, app, world, officers)
    calls = [_as(make.token_for(o), f"/api/v1/claims/{claim_id}/pay", {"reference": "R"}) for o in officers for _ in range(3)]  # fmt: skip
    responses = run_concurrently(app, calls)
    assert Counter(r.status_code for r in responses) == {200: 3, 409: 6}, [r.json for r in responses]
    assert {r.json["error"]["code"] for r in responses if r.status_code == 409} == {"already_paid"}
    with app.app_context():
        assert db.session.get(Claim, claim_id).status == "paid"
        paid = db.session.scalar(
            select(func.sum(LedgerAccount.balance_fen)).where(LedgerAccount.kind == "paid")
        )
        assert paid == db.session.get(Claim, claim_id).amount_fen
        assert ledger_breaches() == []
