"""Claims through the API: the amount is computed to the fen from the period's settlements (municipal and
two districts' shares), the period must be closed, one live claim per payee and period, each office
decides and pays only its share, the ledger moves exactly payable → paid, every step is audited."""

from __future__ import annotations

from sqlalchemy import select

from booking.core.db import db
from tests.vouchers.claims.conftest import PERIOD, close, file, settle_and_close, settled_by_district
from vouchers.models import AuditEntry, LedgerAccount
from vouchers.verify import ledger_breaches


def shares_by_district(claim: dict) -> dict:
    return {s["district_code"]: s for s in claim["shares"]}


def balances(app, kind: str) -> dict[int, int]:
    with app.app_context():
        rows = db.session.execute(
            select(LedgerAccount.program_id, LedgerAccount.balance_fen).where(LedgerAccount.kind == kind)
        )
        return {program_id: balance for program_id, balance in rows if balance}


def test_the_amount_is_what_was_settled_to_the_payee_split_by_level_and_district(api, app, settled):
    world = settled
    municipal, by_district, bookings = settled_by_district(app, world["provider"])
    assert set(by_district) == {"500106", "500103"} and all(by_district.values()) and municipal > 0
    response = file(api, world, note="十二月")
    assert response.status_code == 201, response.json
    claim = response.json
    assert claim["status"] == "submitted" and claim["bookings"] == bookings == 2
    assert claim["municipal_fen"] == municipal
    assert claim["district_fen"] == sum(by_district.values())
    assert claim["amount_fen"] == municipal + sum(by_district.values())
    shares = shares_by_district(claim)
    assert {code: s["amount_fen"] for code, s in shares.items()} == {None: municipal, **by_district}
    assert {s["level"] for s in claim["shares"]} == {"municipal", "district"}
    assert all(s["status"] == "pending" for s in claim["shares"])
    # 15,000 fen at 30 % + 50 % (district capped by the 70 % ceiling: 6,000) and 10,000 fen at
    # 30 % + 25 %: to the fen
    assert (municipal, by_district) == (7_500, {"500106": 6_000, "500103": 2_500})


def test_an_open_period_cannot_be_claimed(api, make, app, world):
    from tests.vouchers.finance.conftest import END, START, post_usage, run

    team = world["teams"]["500106"]
    post_usage(api, world, make.compute_booking(team, world["offer"], START, END), "1")
    run(app)
    refused = file(api, world)
    assert refused.status_code == 409 and refused.json["error"]["code"] == "period_open"
    assert api.as_(world["provider_user"]).get("/api/v1/claims").json["items"] == []


def test_nothing_settled_is_nothing_to_claim(api, app, world):
    close(app, world)
    refused = file(api, world)
    assert refused.status_code == 422 and refused.json["error"]["code"] == "nothing_to_claim"


def test_one_live_claim_per_payee_and_period_and_a_rejected_one_may_be_filed_again(api, settled):
    world = settled
    first = file(api, world).json
    again = file(api, world, invoice_number="No. 2")
    assert again.status_code == 409 and again.json["error"]["code"] == "already_claimed"
    officer = world["officers"]["500103"]
    missing_reason = api.as_(officer).post(f"/api/v1/claims/{first['id']}/reject", json={"reason": " "})
    assert missing_reason.status_code == 422
    rejected = api.as_(officer).post(f"/api/v1/claims/{first['id']}/reject", json={"reason": "发票抬头不符"})
    assert rejected.status_code == 200 and rejected.json["status"] == "rejected"
    assert rejected.json["reason"] == "发票抬头不符"
    # the other offices cannot decide a rejected claim any more
    late = api.as_(world["municipal_officer"]).post(f"/api/v1/claims/{first['id']}/approve", json={})
    assert late.status_code == 409 and late.json["error"]["code"] == "claim_rejected"
    refiled = file(api, world, invoice_number="No. 3")
    assert refiled.status_code == 201 and refiled.json["id"] != first["id"]
    assert refiled.json["amount_fen"] == first["amount_fen"]


def test_another_payees_claim_is_403(api, make, settled):
    world = settled
    refused = file(api, world, user=world["other_provider_user"])
    assert refused.status_code == 403
    claim = file(api, world).json
    assert api.as_(world["other_provider_user"]).get(f"/api/v1/claims/{claim['id']}").status_code == 403
    assert api.as_(world["other_provider_user"]).get("/api/v1/claims").json["items"] == []
    assert api.as_(make.user("founder")).get("/api/v1/claims").status_code == 403
    unknown = file(api, world, payee_id=999_999)
    assert unknown.status_code == 422 and unknown.json["error"]["code"] == "unknown_reference"


def test_each_office_decides_only_its_share_and_the_claim_is_approved_when_all_are(api, make, settled):
    world = settled
    claim_id = file(api, world).json["id"]
    url = f"/api/v1/claims/{claim_id}"
    # an office of a district without a share does not see the claim
    stranger = make.finance("500101")
    assert api.as_(stranger).post(f"{url}/approve", json={}).status_code == 404
    assert api.as_(stranger).get(url).status_code == 404
    assert api.as_(stranger).get("/api/v1/claims").json["items"] == []
    assert api.as_(world["provider_user"]).post(f"{url}/approve", json={}).status_code == 403

    steps = [world["officers"]["500106"], world["municipal_officer"], world["officers"]["500103"]]
    for number, officer in enumerate(steps, start=1):
        response = api.as_(officer).post(f"{url}/approve", json={"reason": "核对无误"})
        assert response.status_code == 200, response.json
        decided = {s["district_code"]: s["status"] for s in response.json["shares"]}
        mine = officer.district_code
        assert decided[mine] == "approved"
        assert sum(1 for s in decided.values() if s == "approved") == number
        expected = "approved" if number == len(steps) else "partly_approved"
        assert response.json["status"] == expected
        twice = api.as_(officer).post(f"{url}/approve", json={})
        assert twice.status_code == 409 and twice.json["error"]["code"] == "already_decided"
    # a district office sees the claim, the others' shares included
    seen = api.as_(world["officers"]["500103"]).get("/api/v1/claims", query_string={"status": "approved"})
    assert [c["id"] for c in seen.json["items"]] == [claim_id]


def test_each_office_pays_its_share_once_and_the_ledger_moves_exactly_that(api, app, settled):
    world = settled
    claim = file(api, world).json
    url = f"/api/v1/claims/{claim['id']}"
    officers = [world["municipal_officer"], *world["officers"].values()]
    municipal_officer = world["municipal_officer"]
    api.as_(municipal_officer).post(f"{url}/approve", json={})
    early = api.as_(municipal_officer).post(f"{url}/pay", json={"reference": "SZ-1"})
    assert early.status_code == 409 and early.json["error"]["code"] == "not_approved"
    for officer in officers[1:]:
        api.as_(officer).post(f"{url}/approve", json={})

    payable_before = balances(app, "payable")
    programs = {
        None: world["municipal"].id,
        **{code: program.id for code, program in world["district_programs"].items()},
    }
    amounts = {s["district_code"]: s["amount_fen"] for s in claim["shares"]}
    paid_so_far: dict[int, int] = {}
    for number, officer in enumerate(officers, start=1):
        response = api.as_(officer).post(f"{url}/pay", json={"reference": f"REF-{number}"})
        assert response.status_code == 200, response.json
        assert response.json["status"] == ("paid" if number == len(officers) else "partly_paid")
        code = officer.district_code
        share = shares_by_district(response.json)[code]
        assert share["status"] == "paid" and share["reference"] == f"REF-{number}" and share["paid_at"]
        paid_so_far[programs[code]] = amounts[code]
        assert balances(app, "paid") == paid_so_far
        assert balances(app, "payable") == {
            p: payable_before[p] - paid_so_far.get(p, 0)
            for p in payable_before
            if payable_before[p] - paid_so_far.get(p, 0)
        }
        twice = api.as_(officer).post(f"{url}/pay", json={"reference": "again"})
        assert twice.status_code == 409 and twice.json["error"]["code"] == "already_paid"
        assert balances(app, "paid") == paid_so_far
    assert sum(paid_so_far.values()) == claim["amount_fen"]
    with app.app_context():
        assert ledger_breaches() == []
    # the programmes' summaries count the claims' paid shares
    for code, program_id in programs.items():
        officer = municipal_officer if code is None else world["officers"][code]
        summary = api.as_(officer).get(f"/api/v1/programs/{program_id}/summary").json
        assert summary["paid_fen"] == amounts[code]
    # the old payouts endpoint pays nothing more for a period paid through a claim
    repeat = api.as_(municipal_officer).post(
        "/api/v1/finance/payouts",
        json={"period": PERIOD, "payee_kind": "provider", "payee_id": world["provider"].id, "reference": "X"},
    )
    assert repeat.status_code == 200
    assert balances(app, "paid") == paid_so_far


def test_a_payout_made_before_the_claim_is_not_paid_twice(api, app, settled):
    world = settled
    municipal_officer = world["municipal_officer"]
    body = {"period": PERIOD, "payee_kind": "provider", "payee_id": world["provider"].id, "reference": "OLD"}
    assert api.as_(municipal_officer).post("/api/v1/finance/payouts", json=body).status_code == 201
    before = balances(app, "paid")
    claim = file(api, world).json
    url = f"/api/v1/claims/{claim['id']}"
    for officer in [municipal_officer, *world["officers"].values()]:
        api.as_(officer).post(f"{url}/approve", json={})
    paid = api.as_(municipal_officer).post(f"{url}/pay", json={"reference": "NEW"})
    assert paid.status_code == 200
    assert balances(app, "paid") == before
    with app.app_context():
        assert ledger_breaches() == []


def test_attachments_are_limited_to_20_mb_and_downloaded_by_those_who_see_the_claim(api, make, settled):
    world = settled
    claim_id = file(api, world).json["id"]
    url = f"/api/v1/claims/{claim_id}/attachments"
    pdf = b"%PDF-1.4\n" + b"x" * 1000
    import hashlib
    import io

    uploaded = api.as_(world["provider_user"]).post(
        url,
        data={"file": (io.BytesIO(pdf), "发票 12月.pdf", "application/pdf")},
        content_type="multipart/form-data",
    )
    assert uploaded.status_code == 201, uploaded.json
    assert uploaded.json["size"] == len(pdf) and uploaded.json["sha256"] == hashlib.sha256(pdf).hexdigest()
    assert uploaded.json["filename"] == "发票 12月.pdf"
    download = f"{url}/{uploaded.json['id']}"
    for reader in (
        world["provider_user"],
        world["municipal_officer"],
        world["officers"]["500103"],
        make.user("admin"),
    ):
        got = api.as_(reader).get(download)
        assert got.status_code == 200 and got.data == pdf
        assert "attachment" in got.headers["Content-Disposition"]
        assert "filename*=UTF-8''" in got.headers["Content-Disposition"]
    assert api.as_(make.finance("500101")).get(download).status_code == 404
    assert api.as_(world["other_provider_user"]).get(download).status_code == 403
    assert (
        api.as_(world["other_provider_user"])
        .post(
            url,
            data={"file": (io.BytesIO(pdf), "a.pdf", "application/pdf")},
            content_type="multipart/form-data",
        )
        .status_code
        == 403
    )
    # finance reads attachments but does not add them
    assert (
        api.as_(world["municipal_officer"])
        .post(
            url,
            data={"file": (io.BytesIO(pdf), "a.pdf", "application/pdf")},
            content_type="multipart/form-data",
        )
        .status_code
        == 403
    )
    wrong_type = api.as_(world["provider_user"]).post(
        url,
        data={"file": (io.BytesIO(b"MZ..."), "a.exe", "application/octet-stream")},
        content_type="multipart/form-data",
    )
    assert wrong_type.status_code == 422
    too_big = api.as_(world["provider_user"]).post(
        url,
        data={"file": (io.BytesIO(b"0" * (20 * 1024 * 1024 + 1)), "big.pdf", "application/pdf")},
        content_type="multipart/form-data",
    )
    assert too_big.status_code == 413 and too_big.json["error"]["code"] == "payload_too_large"
    listed = api.as_(world["provider_user"]).get(f"/api/v1/claims/{claim_id}").json["attachments"]
    assert [a["filename"] for a in listed] == ["发票 12月.pdf"]


def test_every_step_is_in_the_audit_log(api, app, settled):
    world = settled
    import io

    claim_id = file(api, world).json["id"]
    api.as_(world["provider_user"]).post(
        f"/api/v1/claims/{claim_id}/attachments",
        data={"file": (io.BytesIO(b"%PDF-1.4 x"), "a.pdf", "application/pdf")},
        content_type="multipart/form-data",
    )
    officers = [world["municipal_officer"], *world["officers"].values()]
    for officer in officers:
        api.as_(officer).post(f"/api/v1/claims/{claim_id}/approve", json={})
    api.as_(officers[0]).post(f"/api/v1/claims/{claim_id}/pay", json={"reference": "SZ-9"})
    with app.app_context():
        actions = list(
            db.session.scalars(
                select(AuditEntry.action)
                .where(AuditEntry.object_type == "claims", AuditEntry.object_id == str(claim_id))
                .order_by(AuditEntry.id)
            )
        )
    assert actions == [
        "file_claim",
        "claim_attachment",
        "approve_claim",
        "approve_claim",
        "approve_claim",
        "pay_claim",
    ]
    # a district office reads its own decision in its audit log
    seen = api.as_(world["officers"]["500103"]).get(
        "/api/v1/finance/audit", query_string={"object_type": "claims"}
    )
    assert [e["action"] for e in seen.json["items"]] == ["approve_claim"]


def test_what_settles_after_a_month_is_closed_belongs_to_a_later_months_claim(api, make, app, world):
    """A claim covers its own month: settlements made after the close (late usage, a booking of the
    next month) land in the next open month and are claimed there."""
    from datetime import UTC, datetime, timedelta

    from tests.vouchers.finance.conftest import post_usage, run

    settle_and_close(api, make, world, app)
    december = file(api, world).json
    start = datetime(2027, 1, 10, 2, 0, tzinfo=UTC)
    late = make.compute_booking(world["teams"]["500106"], world["offer"], start, start + timedelta(hours=1))
    post_usage(api, world, late, "1", start=start, end=start + timedelta(hours=1))
    assert run(app, now=start + timedelta(hours=3)).settled == 1
    # December is unchanged; January is still open
    assert (
        api.as_(world["provider_user"]).get(f"/api/v1/claims/{december['id']}").json["amount_fen"] == 16_000
    )
    still_open = file(api, world, period="2027-01")
    assert still_open.status_code == 409 and still_open.json["error"]["code"] == "period_open"
    close(app, world, "2027-01", at=datetime(2027, 2, 2, 2, 0, tzinfo=UTC))
    january = file(api, world, period="2027-01")
    assert january.status_code == 201, january.json
    # 10,000 fen at 30 % municipal + 50 % district, capped at the 70 % ceiling
    assert (january.json["amount_fen"], january.json["bookings"]) == (7_000, 1)
    assert {s["district_code"]: s["amount_fen"] for s in january.json["shares"]} == {
        None: 3_000,
        "500106": 4_000,
    }
