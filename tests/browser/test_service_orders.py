"""A founder orders a lab testing service (answering the lab's sample form, checking the voucher
split, confirming); the lab manager accepts the order, receives the samples, uploads a result file and
completes it; the founder downloads the file and rates the service; the lab sees the rating."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import sign_in
from tests.browser.helpers import fact, flash, nav, section, today_cst

pytestmark = pytest.mark.browser

RESULT = "形貌,放大倍数\nA,10000\n".encode()


def test_a_founder_orders_a_service_and_rates_it_after_the_lab_completes_it(browser_context, make):
    manager = make.user("lab_manager", name="韩梅梅")
    lab = make.lab(manager=manager, name="分析测试中心")
    make.service(lab, name="扫描电镜形貌", price_per_sample_fen=30_000, turnaround_days=5)
    founder = make.user("founder", name="李雷")
    team = make.team(owner=founder, verified=True, name="光子团队")
    window = {"valid_from": today_cst() - timedelta(days=30), "valid_to": today_cst() + timedelta(days=365)}
    municipal = make.program(level="municipal", rate_bp=3000, resource_kinds=["service"], **window)
    make.voucher(team, municipal, 100_000)

    # the founder orders 3 samples: ¥900.00, the municipal voucher pays 30%
    page = browser_context(viewport={"width": 1280, "height": 800}).new_page()
    sign_in(page, founder.email)
    nav(page, "Testing services")
    page.get_by_role("link", name="扫描电镜形貌").click()
    order = section(page, "Order this service")
    order.get_by_label("Number of samples").fill("3")
    order.get_by_role("button", name="Review price").click()
    material = page.locator('[data-key="material"]')
    expect(material).to_contain_text("Answer this question.")  # required, left empty
    order = section(page, "Order this service")
    order.get_by_label(re.compile("^材料")).fill("硅片")
    order.get_by_label("镀膜").select_option("金")
    order.get_by_role("button", name="Review price").click()
    review = page.locator(".review")
    expect(review).to_contain_text("Check the price, then confirm")
    expect(fact(review, "Cost")).to_have_text("¥900.00")
    expect(fact(review, "Municipal voucher")).to_have_text("−¥270.00")
    expect(fact(review, "District voucher")).to_have_text("−¥0.00")
    expect(fact(review, "Your team pays")).to_have_text("¥630.00")
    page.get_by_role("button", name="Confirm order").click()
    flash(page, "Order sent.")
    expect(page.get_by_role("heading", level=1)).to_contain_text("submitted, waiting for the lab")
    order_url = page.url

    # the lab accepts, receives the samples, uploads a result and completes the order
    lab_page = browser_context(viewport={"width": 1280, "height": 800}).new_page()
    sign_in(lab_page, manager.email)
    nav(lab_page, "Service orders")
    row = lab_page.get_by_role("row").filter(has_text="光子团队")
    expect(row).to_contain_text("扫描电镜形貌")
    row.get_by_role("link").first.click()
    expect(section(lab_page, "About the samples")).to_contain_text("硅片")
    lab_page.get_by_role("button", name="Accept order").click()
    flash(lab_page, "Order accepted")
    due = (today_cst() + timedelta(days=5)).isoformat()
    expect(section(lab_page, "Lab actions")).to_contain_text(f"the results are due on {due}")
    lab_page.get_by_role("button", name="Samples received").click()
    flash(lab_page, f"Samples received: the results are due on {due}.")
    expect(fact(lab_page, "Due on")).to_have_text(due)
    results = section(lab_page, "Result files")
    expect(results).to_contain_text("50 MB")
    results.get_by_label("Result files").set_input_files(
        [{"name": "形貌结果.csv", "mimeType": "text/csv", "buffer": RESULT}]
    )
    results.get_by_role("button", name="Upload").click()
    flash(lab_page, "Result files uploaded: 1.")
    actions = section(lab_page, "Lab actions")
    expect(actions).to_contain_text("Completing needs at least one result file.")
    actions.get_by_label("Samples processed").fill("2")
    actions.get_by_role("button", name="Complete order").click()
    flash(lab_page, "Order completed")
    expect(lab_page.get_by_role("heading", level=1)).to_contain_text("completed")

    # the founder downloads the result and rates the service, once
    page.goto("/")
    nav(page, "My orders")
    row = page.get_by_role("row").filter(has_text="扫描电镜形貌")
    expect(row).to_contain_text("completed")
    row.get_by_role("link").first.click()
    assert page.url == order_url
    expect(section(page, "Timeline")).to_contain_text("Completed: 2 samples processed")
    with page.expect_download() as downloading:
        section(page, "Result files").get_by_role("link", name="形貌结果.csv").click()
    download = downloading.value
    assert download.suggested_filename == "形貌结果.csv"
    assert Path(download.path()).read_bytes() == RESULT
    rating = section(page, "Rate this service")
    rating.get_by_label("Score").select_option(label="4 – good")
    rating.get_by_label("Comment (optional)").fill("出结果很快")
    rating.get_by_role("button", name="Send rating").click()
    flash(page, "Thank you")
    expect(section(page, "Rating")).to_contain_text("4 of 5")
    expect(page.get_by_role("heading", name="Rate this service")).to_have_count(0)

    # the lab sees the rating
    lab_page.reload()
    expect(section(lab_page, "Rating")).to_contain_text("4 of 5")
    expect(section(lab_page, "Rating")).to_contain_text("出结果很快")
