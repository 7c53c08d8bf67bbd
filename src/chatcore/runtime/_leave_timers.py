"""Leave timers: the task that announces a departure once a user's grace has run out.

The hub keeps the timers (pure logic, time passed in: ``Hub.next_deadline``, ``Hub.due``).
:class:`LeaveTimers` is the one task that waits for them: it sleeps until the hub's next
deadline, is woken when a closed connection may have set an earlier one, and hands each due
departure to the server, so a failing one cannot stop the timers of every other room.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import anyio

from ..clock import Clock
from ..wire.errors import ChatError
from .hub import Departure, Hub

__all__ = ("LeaveTimers",)

log = logging.getLogger("chatcore")


class LeaveTimers:
    """Runs the hub's leave timers with ``clock``; ``depart`` announces one departure."""

    __slots__ = ("_clock", "_depart", "_scope")

    def __init__(self, clock: Clock, depart: Callable[[Departure], Awaitable[None]]) -> None:
        self._clock = clock
        self._depart = depart
        self._scope: anyio.CancelScope | None = None  # the wait for the next deadline

    def wake(self) -> None:
        """The hub may have a new, earlier deadline: look again."""
        if self._scope is not None:
            self._scope.cancel()

    async def run(self, hub: Hub) -> None:
        """Serve ``hub``'s timers until cancelled (when the server stops)."""
        try:
            while True:
                deadline = hub.next_deadline()
                with anyio.CancelScope() as self._scope:
                    if deadline is None:
                        await anyio.sleep_forever()
                    else:
                        await self._clock.sleep_until(deadline)
                self._scope = None
                for departure in hub.due(self._clock.now()):
                    await self._announce(departure)
        finally:
            self._scope = None

    async def _announce(self, departure: Departure) -> None:
        try:
            await self._depart(departure)
        except ChatError:
            log.warning("could not announce that %s left %s", departure.user.id, departure.room)
        except Exception:
            # A bug or a broken backend must not stop the timers of every other room.
            log.exception("announcing that %s left %s failed", departure.user.id, departure.room)
