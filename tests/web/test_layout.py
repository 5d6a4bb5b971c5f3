"""The layout every page shares: the site's icon (browsers ask for ``/favicon.ico`` on every site)."""

from __future__ import annotations

import re


def test_every_page_links_the_site_icon_and_the_icon_is_served_with_a_cache_header(client):
    page = client.get("/sign-in").get_data(as_text=True)
    link = re.search(r'<link rel="icon" href="([^"]+)" type="image/svg\+xml">', page)
    assert link, "the base layout links no SVG icon"
    icon = client.get(link.group(1))
    assert icon.status_code == 200
    assert icon.mimetype == "image/svg+xml"
    assert icon.get_data(as_text=True).lstrip().startswith("<svg")
    assert "max-age=" in icon.headers.get("Cache-Control", "")


def test_favicon_ico_answers_with_an_icon_not_a_404(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 200
    assert response.mimetype in ("image/vnd.microsoft.icon", "image/x-icon")
    assert response.data[:4] == b"\x00\x00\x01\x00"  # the ICO header: reserved 0, type 1 (icon)
    max_age = re.search(r"max-age=(\d+)", response.headers.get("Cache-Control", ""))
    assert max_age and int(max_age.group(1)) >= 86_400
