"""The platform's notion of "now".

Jobs can run "as of" another instant (``flask jobs run NAME --now ...``) for backfills, replays and
tests; everything that needs the current time asks here instead of calling ``datetime.now``.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime

_frozen: ContextVar[datetime | None] = ContextVar("frozen_now", default=None)


def now() -> datetime:
    frozen = _frozen.get()
    return frozen if frozen is not None else datetime.now(UTC)


@contextmanager
def frozen_at(instant: datetime) -> Iterator[None]:
    if instant.tzinfo is None:
        raise ValueError("frozen_at needs a timezone-aware instant")
    token = _frozen.set(instant.astimezone(UTC))
    try:
        yield
    finally:
        _frozen.reset(token)
