"""Large rooms: per-user presence only where it is cheap, a coalesced count where it is not.

A room with more present members than ``Limits.presence_limit`` gets no per-user ``presence``
join/leave events (each would cost a frame to every member: N²/2 for N users joining) but an
``occupancy`` count, at most once per ``occupancy_interval`` per room. :class:`Occupancy` keeps
the rooms of this process whose count may have changed, and one short task claims their counts
from the broker (``Broker.claim_occupancy``, atomic across processes: one count per room per
interval between all of them), the first at once, the rest every quarter interval until each is
sent or unchanged. :func:`members_page` reads members in pages: a room that is not large is
listed whole, as v1 clients expect.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from ..backends.broker import Broker
from ..backends.envelope import Envelope, ToRoom
from ..backends.presence import MembersPage
from ..clock import Clock
from ..wire.errors import ChatError
from ..wire.events import OccupancyEvent
from ..wire.limits import Limits
from ..wire.protocol import encode

__all__ = ("Occupancy", "members_page")

log = logging.getLogger("chatcore")

Spawn = Callable[..., None]


async def members_page(
    broker: Broker,
    limits: Limits,
    room: str,
    after: str | None = None,
    limit: int | None = None,
    query: str | None = None,
    first: int | None = None,
) -> MembersPage:
    """A page of ``room``'s members; without ``limit``, every member of a room that is not
    large (two reads at most), else the first ``first`` (``members_page``) of them."""
    size = limit or first or limits.members_page
    page = await broker.members_page(room, after, size, query)
    if limit is None and page.next is not None and page.count <= limits.presence_limit:
        rest = await broker.members_page(room, page.next, limits.presence_limit, query)
        page = MembersPage(page.members + rest.members, rest.count, rest.next)
    return page


class Occupancy:
    """The ``occupancy`` counts of one server's rooms."""

    __slots__ = ("_broker", "_clock", "_dirty", "_limits", "_running", "_spawn")

    def __init__(
        self, broker: Broker, limits: Limits, clock: Clock, spawn: Callable[..., None]
    ) -> None:
        self._broker = broker
        self._limits = limits
        self._clock = clock
        self._spawn = spawn
        self._dirty: set[str] = set()
        self._running = False

    def shows(self, count: int) -> bool:
        """Whether a join or leave that leaves ``count`` present gets a ``presence`` event."""
        return count <= self._limits.presence_limit

    def changed(self, room: str, count: int | None = None) -> None:
        """``room``'s count changed (to ``count``, None: unknown): send it if it must be."""
        if count is not None and count < self._limits.presence_limit:
            return  # small, and was small before: presence events said it all
        self._dirty.add(room)
        if not self._running:
            self._running = True
            try:
                self._spawn(self._run)
            except BaseException:
                self._running = False
                raise

    def forget(self) -> None:
        self._dirty.clear()

    async def _run(self) -> None:
        limits = self._limits
        tick = max(1, limits.occupancy_interval // 4)
        try:
            while self._dirty:
                rooms, self._dirty = self._dirty, set()
                now = self._clock.now()
                for room in sorted(rooms):
                    if await self._claim(room, now):
                        self._dirty.add(room)
                if self._dirty:
                    await self._clock.sleep_until(now + tick)
        finally:
            self._running = False

    async def _claim(self, room: str, now: int) -> bool:
        """Send ``room``'s count if it is its turn; whether to ask again later."""
        limits = self._limits
        try:
            claim = await self._broker.claim_occupancy(
                room,
                now,
                limits.occupancy_interval,
                limits.presence_limit,
                limits.occupancy_scale,
            )
            if claim.announce:
                frame = encode(OccupancyEvent(room=room, count=claim.count))
                await self._broker.publish(Envelope(ToRoom(room), frame))
        except ChatError:
            log.warning("broker unavailable while counting %s", room)
            return True
        except Exception:
            log.exception("counting the members of %s failed", room)
            return False
        return claim.retry
