"""The runtime's side of :mod:`chatcore.metrics`: the broker's publishes timed, a server's
gauges read at scrape time, and an ended connection counted."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, cast

from ..backends.broker import Broker
from ..backends.envelope import Envelope
from ..metrics import COUNTS, Gauges, observe_publish
from .hub import Hub, Session

__all__ = ("closed", "gauges", "timed")

_clock = time.perf_counter


class _TimedBroker:
    """``broker`` with each ``publish`` timed; everything else is the broker's own (looked up
    on it at each use)."""

    __slots__ = ("_broker",)

    def __init__(self, broker: Broker) -> None:
        self._broker = broker

    def __getattr__(self, name: str) -> Any:
        return getattr(self._broker, name)

    async def publish(self, envelope: Envelope) -> None:
        start = _clock()
        try:
            await self._broker.publish(envelope)
        finally:
            observe_publish(_clock() - start)


def timed(broker: Broker) -> Broker:
    """``broker``, its publishes timed into ``chatcore_broker_publish_seconds``."""
    return cast(Broker, _TimedBroker(broker))


def gauges(hub: Callable[[], Hub]) -> Callable[[], Gauges]:
    """The gauges of the hub ``hub()`` returns (a server's current one), read when called."""

    def read() -> Gauges:
        current = hub()
        sessions = current.conns.values()
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
