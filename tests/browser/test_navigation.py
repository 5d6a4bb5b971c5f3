"""The top navigation at desktop (1280 px) and phone width: every label stays on one line (the admin,
who sees the most links, once got its Chinese labels one character per line)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import ARTIFACTS, sign_in

pytestmark = pytest.mark.browser

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 375, "height": 740}

# Lines of text in each navigation link: the distinct line tops of its text's layout boxes.
LINES_PER_LABEL = """
() => [...document.querySelectorAll('header nav a, main nav a')].map(a => {
  const range = document.createRange();
  range.selectNodeContents(a);
  const tops = new Set([...range.getClientRects()].filter(r => r.width > 0).map(r => Math.round(r.top)));
  return [a.textContent.trim(), tops.size];
})
"""


def labels_on_more_than_one_line(page: Page, path: str) -> list[tuple[str, int]]:
    page.goto(path)
    expect(page.locator("header nav")).to_be_visible()
    lines = page.evaluate(LINES_PER_LABEL)
    assert lines, f"{path}: no navigation links found"
    return [(label, n) for label, n in lines if n != 1]


@pytest.mark.parametrize("english", [False, True], ids=["zh", "en"])
@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1280px", "phone"])
def test_navigation_labels_never_break_inside(browser_context, make, viewport, english):
    admin = make.user("admin", name="系统管理员")
    manager = make.user("lab_manager", name="韩梅梅")
    make.lab(manager=manager)
    founder = make.user("founder", name="李雷")
    officer = make.finance(None)
    provider_user = make.user("provider", name="王芳")
    pages = {
        admin: ["/", "/admin", "/finance"],
        manager: ["/", "/lab"],
        founder: ["/", "/instruments"],
        officer: ["/", "/finance"],
        provider_user: ["/", "/provider"],
    }
    broken = []
    for user, paths in pages.items():
        page = browser_context(viewport=viewport).new_page()
        sign_in(page, user.email, english=english)
        for path in paths:
            broken += [(user.role, path, label, n) for label, n in labels_on_more_than_one_line(page, path)]
        if user is admin:
            ARTIFACTS.mkdir(exist_ok=True)
            page.goto("/admin")
            page.screenshot(
                path=str(ARTIFACTS / f"nav-admin-{viewport['width']}-{'en' if english else 'zh'}.png")
            )
    assert not broken, f"navigation labels broken over several lines: {broken}"
