"""Run many requests at once, each on its own thread, test client, app context and DB connection."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor


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
