"""Run many requests at once, each on its own thread, test client, app context and DB connection."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta


def run_concurrently(app, calls: list[Callable]) -> list:
    """Start every call at the same moment (a barrier) and return their responses in order.

    Each call receives its own Flask test client; requests use separate pooled connections.
    """
    barrier = threading.Barrier(len(calls))

    def run(call):
        client = app.test_client()
        barrier.wait(timeout=30)
        return call(client)

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


ALWAYS_OPEN = tuple((day, 0, 1440) for day in range(7))


def book_hours_at_once(app, make, owner, team, n: int) -> list:
    """``n`` one-hour bookings of ``team`` by its ``owner`` through the API, all sent at the same moment:
    four instruments of new labs, open round the clock with no lead time, booked hour after hour from
    the day after tomorrow 01:00 UTC (no two bookings want the same slot). Asserts that every one was
    booked (201) and returns the responses in order."""
    instruments = [make.instrument(make.lab(), hours=ALWAYS_OPEN, lead_minutes=0) for _ in range(4)]
    token = make.token_for(owner)
    start = (datetime.now(UTC) + timedelta(days=2)).replace(hour=1, minute=0, second=0, microsecond=0)

    def attempt(i):
        body = {
            "team_id": team.id,
            "instrument_id": instruments[i % 4].id,
            "starts_at": (start + timedelta(hours=i // 4)).isoformat(),
            "ends_at": (start + timedelta(hours=i // 4 + 1)).isoformat(),
        }
        return lambda client: client.post(
            "/api/v1/bookings", json=body, headers={"Authorization": f"Bearer {token}"}
        )

    responses = run_concurrently(app, [attempt(i) for i in range(n)])
    assert Counter(r.status_code for r in responses) == {201: n}, [
        r.json for r in responses if r.status_code != 201
    ]
    return responses


def subsidy_fen(response) -> int:
    """What the vouchers cover of a booking's quote (the sum of its subsidies)."""
    return sum(s["amount_fen"] for s in response.json["quote"]["subsidies"])
