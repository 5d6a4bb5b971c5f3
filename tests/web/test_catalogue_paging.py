"""The catalogues (instruments, GPU offers, testing services) page by 24, keeping the filters in the links."""

from __future__ import annotations

import html
import re

import pytest

from booking.web.paging import CATALOGUE_PAGE_SIZE


def pager(page: str) -> dict[int, str]:
    """The catalogue's links to other pages, by page number."""
    hrefs = (html.unescape(h) for h in re.findall(r'href="([^"]*[?&](?:amp;)?page=\d+[^"]*)"', page))
    return {int(re.search(r"[?&]page=(\d+)", h).group(1)): h for h in hrefs}


@pytest.mark.parametrize(
    ("path", "item_re", "build", "query"),
    [
        (
            "/instruments",
            r'href="/instruments/(\d+)"',
            lambda make, lab: make.instrument(lab),
            {"category": "microscopy"},
        ),
        ("/compute", r'href="/compute/offers/(\d+)"', lambda make, lab: make.offer(), {}),
        ("/services", r'href="/services/(\d+)"', lambda make, lab: make.service(lab), {"q": ""}),
    ],
)
def test_a_catalogue_pages_by_24_and_keeps_its_filters(client, login, make, path, item_re, build, query):
    founder = make.user("founder")
    lab = make.lab()
    for _ in range(CATALOGUE_PAGE_SIZE + 1):
        build(make, lab)
    login(founder)
    first = client.get(path, query_string=query).get_data(as_text=True)
    first_ids = set(re.findall(item_re, first))
    assert len(first_ids) == CATALOGUE_PAGE_SIZE
    assert set(pager(first)) == {2}  # no previous page, a next one
    assert all(f"{key}=" in pager(first)[2] for key in query)  # the filters stay
    second = client.get(pager(first)[2]).get_data(as_text=True)
    second_ids = set(re.findall(item_re, second))
    assert len(second_ids) == 1 and not second_ids & first_ids
    assert set(pager(second)) == {1}  # back to the first, no further page
