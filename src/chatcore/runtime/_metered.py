"""The runtime's side of :mod:`chatcore.metrics`: a server's gauges read at scrape time, and
an ended connection counted."""

from __future__ import annotations

from collections.abc import Callable

from ..metrics import COUNTS, Gauges
from .hub import Hub, Session

__all__ = ("closed", "gauges")


def gauges(hub: Callable[[], Hub]) -> Callable[[], Gauges]:
    """The gauges of the hub ``hub()`` returns (a server's current one), read when called."""

    def read() -> Gauges:
        current = hub()
        sessions = list(current.conns.values())  # whole: a scrape may run in another thread
        return Gauges(
            connections=len(sessions),
            rooms=current.room_count,
            dropped=sum(session.outbox.dropped for session in sessions),
        )

    return read


def closed(session: Session) -> None:
    """``session`` ended: count its close code and keep its dropped frames' count."""
    outbox = session.outbox
    COUNTS.closed(int(outbox.close_code or 1000), outbox.dropped)
