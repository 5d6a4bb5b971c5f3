"""A founder asks for training on an instrument that requires it; the lab manager grants it from the
training queue of the lab console; the founder's page then says until when they are qualified."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import sign_in
from tests.browser.helpers import flash, nav, section

pytestmark = pytest.mark.browser


def test_a_founder_asks_for_training_and_the_lab_grants_it(browser_context, make):
    manager = make.user("lab_manager", name="韩梅梅")
    lab = make.lab(manager=manager, name="分析测试中心")
    instrument = make.instrument(
        lab, name="透射电镜 JEM-2100", requires_training=True, qualification_valid_days=365
    )
    founder = make.user("founder", name="李雷")
    make.team(owner=founder, verified=True)

    page = browser_context(viewport={"width": 1280, "height": 800}).new_page()
    sign_in(page, founder.email)
    page.goto(f"/instruments/{instrument.id}")
    training = section(page, "Training")
    training.get_by_label("Note for the lab (optional)").fill("Free on Tuesday afternoons")
    training.get_by_role("button", name="Ask for training").click()
    flash(page, "Training request sent.")
    expect(section(page, "Training")).to_contain_text("waiting for the lab to arrange it")
    expect(section(page, "Training").get_by_role("button", name="Ask for training")).to_have_count(0)

    page = browser_context(viewport={"width": 1280, "height": 800}).new_page()
    sign_in(page, manager.email)
    nav(page, "Training requests")
    queue = section(page, "Training requests")
    row = queue.get_by_role("row").filter(has_text="李雷")
    expect(row).to_contain_text("Free on Tuesday afternoons")
    row.get_by_role("button", name="Grant qualification").click()
    flash(page, "李雷 may now book 透射电镜 JEM-2100.")
    expect(section(page, "Training requests")).to_contain_text("No training request is waiting.")

    page = browser_context(viewport={"width": 1280, "height": 800}).new_page()
    sign_in(page, founder.email)
    page.goto(f"/instruments/{instrument.id}")
    expect(section(page, "Training")).to_contain_text("You are qualified on this instrument until")
