"""One rule for a usage record: the CSV upload and ``POST /api/v1/usage-records`` refuse the same
record for the same reason (``usage.record_problems``), and accept or reject a well-formed one alike."""

# ruff: noqa: F811 (the provider pages' fixtures, imported)
from __future__ import annotations

import pytest

from booking.flow.usage import Problem, record_problems
from booking.flow.usage_csv import COLUMNS, row_record
from tests.web.test_provider_pages import HEADER, frozen_now, text, upload, world  # noqa: F401

GOOD = ["job-1", "{b}", "2026-03-03T10:00:00+08:00", "2026-03-03T11:30:00+08:00", "1.5"]


def cells_with(column: str, value: str) -> list[str]:
    cells = list(GOOD)
    cells[COLUMNS.index(column)] = value
    return cells


@pytest.mark.parametrize(
    ("column", "value", "problem", "shown"),
    [
        ("external_id", "x" * 201, Problem("external_id", "length"), "external_id"),
        ("booking_id", "12a", Problem("booking_id", "not_id"), "12a"),
        ("booking_id", "99999999999", Problem("booking_id", "not_id"), "99999999999"),
        ("started_at", "2026-03-03T10:00:00", Problem("started_at", "not_instant"), "2026-03-03T10:00:00"),
        ("ended_at", "9999-12-31T23:00:00-14:00", Problem("ended_at", "out_of_range"), "9999-12-31"),
        ("ended_at", "2026-03-03T09:00:00+08:00", Problem("ended_at", "order"), "ended_at"),
        ("gpu_hours", "1.5.0", Problem("gpu_hours", "not_gpu_hours"), "1.5.0"),
        ("gpu_hours", "１２", Problem("gpu_hours", "not_gpu_hours"), "１２"),
    ],
)
def test_a_malformed_record_is_refused_by_the_api_and_the_upload_alike(
    api, client, login, world, column, value, problem, shown
):
    cells = [c.replace("{b}", str(world["booking"].id)) for c in cells_with(column, value)]
    record = row_record(dict(zip(COLUMNS, cells, strict=True)))
    assert record_problems(record) == [problem]

    answer = api.as_(world["user"]).post("/api/v1/usage-records", json={"records": [record]})
    assert answer.status_code == 200, answer.json
    assert answer.json["accepted"] == 0
    assert [r["code"] for r in answer.json["rejected"]] == ["invalid"]

    login(world["user"])
    page = upload(client, HEADER + ",".join(cells) + "\n")
    assert page.status_code == 422
    assert "2:" in text(page) and shown in text(page)


def test_a_well_formed_record_has_the_same_outcome_both_ways(api, client, login, world):
    booking_id = str(world["booking"].id)
    for external_id, target, code in (("ok-1", booking_id, None), ("lost-1", "999999", "unknown_booking")):
        cells = [external_id, target, *GOOD[2:]]
        record = row_record(dict(zip(COLUMNS, cells, strict=True)))
        assert record_problems(record) == []
        answer = api.as_(world["user"]).post("/api/v1/usage-records", json={"records": [record]})
        assert [r["code"] for r in answer.json["rejected"]] == ([code] if code else [])

        login(world["user"])
        page = text(upload(client, HEADER + ",".join([external_id + "-csv", *cells[1:]]) + "\n"))
        outcome = "rejected" if code else "accepted"
        assert f'data-line="2" data-outcome="{outcome}"' in page
