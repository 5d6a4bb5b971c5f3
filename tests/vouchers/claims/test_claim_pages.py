"""Claims pages: a provider files its claim for a closed month with a scan, each finance office sees
it in its queue, approves and pays its share after ticking the confirmation; statuses read in
Chinese, money as ¥ with two decimals, refusals in words."""

from __future__ import annotations

import io
import re

from sqlalchemy import select

from booking.core.db import db
from tests.conftest import csrf_token, sign_in
from tests.vouchers.claims.conftest import PERIOD
from vouchers.models import Claim, LedgerAccount


def login(client, user, language="en"):
    sign_in(client, user)
    client.get(f"/language/{language}")


def file_claim(client, world, invoice="No. 88", with_file=True):
    key = f"provider-{world['provider'].id}-{PERIOD}"
    data = {
        "csrf_token": csrf_token(client, "/provider/claims"),
        f"claim-{key}-payee": f"provider-{world['provider'].id}",
        f"claim-{key}-period": PERIOD,
        f"claim-{key}-invoice_number": invoice,
        f"claim-{key}-note": "十二月算力",
    }
    if with_file:
        data[f"claim-{key}-file"] = (io.BytesIO(b"%PDF-1.4 scan"), "发票.pdf", "application/pdf")
    return client.post("/claims", data=data, content_type="multipart/form-data")


def the_claim(app) -> Claim | None:
    with app.app_context():
        return db.session.scalar(select(Claim))


def test_a_provider_files_a_claim_and_the_offices_approve_and_pay_it(client, app, settled):
    world = settled
    login(client, world["provider_user"])
    assert 'href="/provider/claims"' in client.get("/provider").get_data(as_text=True)
    page = client.get("/provider/claims").get_data(as_text=True)
    assert "¥160.00" in page  # 7,500 municipal + 6,000 and 2,500 of the two districts
    assert 'enctype="multipart/form-data"' in page
    missing = file_claim(client, world, invoice="")
    assert missing.status_code == 422 and "Enter the invoice" in missing.get_data(as_text=True)
    filed = file_claim(client, world)
    assert filed.status_code == 302, filed.get_data(as_text=True)
    claim = the_claim(app)
    assert claim is not None and claim.amount_fen == 16_000 and len(claim.attachments) == 1
    page = client.get(f"/claims/{claim.id}").get_data(as_text=True)
    assert "发票.pdf" in page and "Submitted" in page and "¥75.00" in page
    again = file_claim(client, world)
    assert again.status_code == 409
    assert "There is already a claim for this month." in again.get_data(as_text=True)

    officers = [world["municipal_officer"], *world["officers"].values()]
    for officer in officers:
        login(client, officer)
        queue = client.get("/finance/claims").get_data(as_text=True)
        decide = queue[queue.index('id="decide"') : queue.index('id="pay"')]
        assert f'data-claim-id="{claim.id}"' in decide
        unticked = client.post(
            f"/claims/{claim.id}/approve", data={"csrf_token": csrf_token(client, f"/claims/{claim.id}")}
        )
        assert unticked.status_code == 422 and "Tick this box" in unticked.get_data(as_text=True)
        approved = client.post(
            f"/claims/{claim.id}/approve",
            data={"csrf_token": csrf_token(client, f"/claims/{claim.id}"), "approve-confirm": "y"},
        )
        assert approved.status_code == 302
    assert the_claim(app).status == "approved"
    for number, officer in enumerate(officers, start=1):
        login(client, officer, "zh_CN")
        paid = client.post(
            f"/claims/{claim.id}/pay",
            data={
                "csrf_token": csrf_token(client, f"/claims/{claim.id}"),
                "pay-reference": f"BANK-{number}",
                "pay-confirm": "y",
            },
        )
        assert paid.status_code == 302
        page = client.get(f"/claims/{claim.id}").get_data(as_text=True)
        assert f"BANK-{number}" in page
        assert ("已付" if number == len(officers) else "部分支付") in page
        twice = client.post(
            f"/claims/{claim.id}/pay",
            data={
                "csrf_token": csrf_token(client, f"/claims/{claim.id}"),
                "pay-reference": "X",
                "pay-confirm": "y",
            },
        )
        assert twice.status_code == 409
    with app.app_context():
        paid_total = sum(
            db.session.scalars(select(LedgerAccount.balance_fen).where(LedgerAccount.kind == "paid"))
        )
    assert paid_total == 16_000
    login(client, world["provider_user"], "zh_CN")
    page = client.get("/provider/claims").get_data(as_text=True)
    assert "已付" in page and "paid" not in re.sub(r'data-[a-z-]+="[^"]*"|class="[^"]*"', "", page)


def test_another_offices_rejection_reads_as_words(client, app, settled):
    world = settled
    login(client, world["provider_user"])
    file_claim(client, world, with_file=False)
    claim = the_claim(app)
    officer = world["officers"]["500103"]
    login(client, officer)
    no_reason = client.post(
        f"/claims/{claim.id}/reject",
        data={"csrf_token": csrf_token(client, f"/claims/{claim.id}"), "reject-confirm": "y"},
    )
    assert no_reason.status_code == 422
    rejected = client.post(
        f"/claims/{claim.id}/reject",
        data={
            "csrf_token": csrf_token(client, f"/claims/{claim.id}"),
            "reject-reason": "发票抬头不符",
            "reject-confirm": "y",
        },
    )
    assert rejected.status_code == 302 and the_claim(app).status == "rejected"
    login(client, world["municipal_officer"])
    late = client.post(
        f"/claims/{claim.id}/approve",
        data={"csrf_token": csrf_token(client, f"/claims/{claim.id}"), "approve-confirm": "y"},
    )
    assert late.status_code == 409 and "Another office rejected this claim." in late.get_data(as_text=True)
    login(client, world["provider_user"], "zh_CN")
    page = client.get(f"/claims/{claim.id}").get_data(as_text=True)
    assert "发票抬头不符" in page and "已驳回" in page


def test_the_dashboard_shows_claims_waiting_per_level_and_paid_per_month(client, api, app, settled):
    world = settled
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
    login(client, world["officers"]["500103"])
    page = client.get("/finance").get_data(as_text=True)
    waiting = page[page.index('class="list f-claims-waiting"') :]
    waiting = waiting[: waiting.index("</table>")]
    assert 'data-district="500103"' in waiting and "¥25.00" in waiting
    assert 'data-level="municipal"' not in waiting  # a district office sees its own share
    assert "No claims paid yet." in page
    officers = [world["municipal_officer"], *world["officers"].values()]
    for officer in officers:
        api.as_(officer).post(f"/api/v1/claims/{claim_id}/approve", json={})
    for officer in officers:
        api.as_(officer).post(f"/api/v1/claims/{claim_id}/pay", json={"reference": "R"})
    login(client, world["municipal_officer"])
    page = client.get("/finance").get_data(as_text=True)
    paid = page[page.index('class="list f-claims-paid"') :]
    assert "¥160.00" in paid[: paid.index("</table>")]
    assert "No claims are waiting." in page


def test_a_claim_filed_with_a_file_that_is_no_scan_is_not_kept(client, app, settled):
    world = settled
    login(client, world["provider_user"])
    key = f"provider-{world['provider'].id}-{PERIOD}"
    refused = client.post(
        "/claims",
        data={
            "csrf_token": csrf_token(client, "/provider/claims"),
            f"claim-{key}-payee": f"provider-{world['provider'].id}",
            f"claim-{key}-period": PERIOD,
            f"claim-{key}-invoice_number": "No. 1",
            f"claim-{key}-file": (io.BytesIO(b"MZ\x90\x00"), "setup.exe", "application/x-msdownload"),
        },
        content_type="multipart/form-data",
    )
    assert refused.status_code == 422
    assert "Attach a PDF or an image." in refused.get_data(as_text=True)
    assert the_claim(app) is None  # the claim and its file went together, or not at all


def test_the_claimant_adds_a_scan_on_the_claim_page_and_finance_downloads_it(client, app, settled):
    world = settled
    login(client, world["provider_user"])
    file_claim(client, world, with_file=False)
    claim = the_claim(app)
    page = f"/claims/{claim.id}"
    uploaded = client.post(
        f"{page}/attachments",
        data={
            "csrf_token": csrf_token(client, page),
            "attach-file": (io.BytesIO(b"\x89PNG\r\n\x1a\n scan"), "合同.png", "image/png"),
        },
        content_type="multipart/form-data",
    )
    assert uploaded.status_code == 302
    empty = client.post(f"{page}/attachments", data={"csrf_token": csrf_token(client, page)})
    assert empty.status_code == 422 and "Choose a file." in empty.get_data(as_text=True)
    with app.app_context():
        attachment_id = db.session.get(Claim, claim.id).attachments[0].id
    login(client, world["officers"]["500103"])
    body = client.get(page).get_data(as_text=True)
    assert "合同.png" in body and 'name="attach-file"' not in body  # finance reads, never adds
    download = client.get(f"{page}/attachments/{attachment_id}")
    assert download.status_code == 200 and download.data == b"\x89PNG\r\n\x1a\n scan"
    assert "filename*=UTF-8''" in download.headers["Content-Disposition"]
