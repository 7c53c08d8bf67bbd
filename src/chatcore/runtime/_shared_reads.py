"""Identical history reads share one store call: a reconnect wave reads each room once.

When many clients come back at once (a process restarted, a load balancer moved them), each
sends ``join`` with the same ``since`` or asks the same ``history`` page. A read that finds an
identical one in flight, or one done since the room's token (:meth:`GapFill.token
<chatcore.runtime._gap_fill.GapFill.token>`) last changed, takes its result instead of asking
the store again: that is as good as its own read. A joining connection is in the room before
it reads, so anything stored after the shared read started reaches it live; anything delivered
between that start and its own read changed the token, and then it reads for itself. The token
is None for a room whose channel is not known to be subscribed: its reads are never shared.
A read that failed, or whose caller went away, is not shared: each waiting caller then reads
for itself. The newest :data:`KEPT` results are kept for :data:`KEPT_MS` (the joins of a wave
arrive over several round trips, so their reads overlap only in part; the bound keeps a page
from outliving a change made to the store behind the server's back, by hand or by a script).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable
from typing import Any, Generic, TypeVar

import anyio

from ..backends.store import ChangePage, HistoryPage, Store

__all__ = ("KEPT", "KEPT_MS", "SharedReads")

T = TypeVar("T")

#: Results kept for reads to come while their room's token holds, and for how long (ms).
KEPT, KEPT_MS = 64, 2_000


class _Flight(Generic[T]):
    __slots__ = ("done", "result", "token")

    def __init__(self, token: Hashable) -> None:
        self.token = token
        self.done = anyio.Event()
        self.result: T | None = None


class SharedReads:
    """The store's ``history`` and ``changes``, with identical concurrent reads shared;
    ``token(room)`` changes whenever the room's state seen by this process does."""

    def __init__(
        self, store: Store, token: Callable[[str], Hashable], now: Callable[[], int]
    ) -> None:
        self._store = store
        self._token = token
        self._now = now
        self._flights: dict[Hashable, _Flight[Any]] = {}
        self._kept: dict[Hashable, tuple[Hashable, int, Any]] = {}
        #: Store calls made and calls answered by a shared one (for tests and metrics).
        self.reads = 0
        self.shared = 0

    async def history(
        self, room: str, *, limit: int, after: int | None = None, before: int | None = None
    ) -> HistoryPage:
        return await self._read(
            ("history", room, limit, after, before),
            room,
            lambda: self._store.history(room, limit=limit, after=after, before=before),
        )

    async def changes(self, room: str, *, since: int, limit: int) -> ChangePage:
        return await self._read(
            ("changes", room, since, limit),
            room,
            lambda: self._store.changes(room, since=since, limit=limit),
        )

    async def _read(self, key: Hashable, room: str, read: Callable[[], Awaitable[T]]) -> T:
        token = self._token(room)
        if token is None:
            self.reads += 1
            return await read()
        kept = self._kept.get(key)
        if kept is not None and kept[0] == token and self._now() < kept[1]:
            self.shared += 1
            result: T = kept[2]
            return result
        current: _Flight[T] | None = self._flights.get(key)
        if current is not None and current.token == token:
            await current.done.wait()
            if current.result is not None:
                self.shared += 1
                return current.result
        flight: _Flight[T] = _Flight(token)
        self._flights[key] = flight
        try:
            self.reads += 1
            result = await read()
            flight.result = result
            self._kept.pop(key, None)
            self._kept[key] = (token, self._now() + KEPT_MS, result)
            if len(self._kept) > KEPT:
                del self._kept[next(iter(self._kept))]
            return result
        finally:
            if self._flights.get(key) is flight:
                del self._flights[key]
            flight.done.set()
