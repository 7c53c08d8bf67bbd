"""Time, injected: the real clock, and a fake one that tests move by hand."""

from __future__ import annotations

import time
from typing import Protocol

import anyio

__all__ = ("Clock", "FakeClock", "SystemClock")


class Clock(Protocol):
    """Milliseconds since the epoch, and a way to wait for a moment."""

    def now(self) -> int: ...

    async def sleep_until(self, deadline: int) -> None: ...


class SystemClock:
    """The wall clock."""

    def now(self) -> int:
        return time.time_ns() // 1_000_000

    async def sleep_until(self, deadline: int) -> None:
        delay = deadline - self.now()
        if delay > 0:
            await anyio.sleep(delay / 1000)


class FakeClock:
    """A clock that only moves when :meth:`advance` is called; sleepers wake then."""

    def __init__(self, start: int = 1_764_201_600_000) -> None:
        self._now = start
        self._moved = anyio.Event()

    def now(self) -> int:
        return self._now

    def advance(self, ms: int) -> None:
        if ms < 0:
            raise ValueError("time does not go backwards")
        self._now += ms
        moved, self._moved = self._moved, anyio.Event()
        moved.set()

    async def sleep_until(self, deadline: int) -> None:
        while self._now < deadline:
            await self._moved.wait()
