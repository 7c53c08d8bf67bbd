"""How a post reaches the store and the room: one strategy, chosen once when the server is built.

Every connection must see a room's messages in id order. Who keeps that order depends on the
backends, which say so in attributes fixed for their lifetime (``Store.pipelined``,
``Broker.orders_messages``; see docs/backends.md):

=============================  ===========================================  ================
the backends                   a post                                       posts of a room
=============================  ===========================================  ================
pipelined store (Redis)        the store appends and publishes in one step  overlap
broker that orders messages    append under the room's lock, then publish   overlap (append
                                                                            queued)
neither (in-memory, ORM)       append and publish under the room's lock     one at a time
=============================  ===========================================  ================

"Overlap" is :attr:`Posting.overlaps`: a connection may then pipeline its ``send`` frames.
"""

from __future__ import annotations

from typing import Protocol

from ..backends.broker import Broker
from ..backends.envelope import Envelope
from ..backends.store import Appended, Store
from ..wire.values import User
from ._queue_lock import KeyedLock

__all__ = ("AppendLocked", "Posting", "StorePublishes", "WholeLocked", "choose")


class Posting(Protocol):
    @property
    def overlaps(self) -> bool:
        """Whether posts to one room may be in flight at once (so ``send`` frames pipeline)."""
        ...

    async def post(
        self, room: str, sender: User, text: str, now: int, client_id: str | None
    ) -> Appended:
        """Store the checked ``text`` in ``room`` and send it to the room's connections."""
        ...


def choose(store: Store, broker: Broker) -> Posting:
    """The strategy for these backends (see the table above)."""
    if store.pipelined:
        return StorePublishes(store)
    if broker.orders_messages:
        return AppendLocked(store, broker)
    return WholeLocked(store, broker)


class StorePublishes:
    """The store publishes each message as it appends it, in id order."""

    __slots__ = ("_store",)
    overlaps = True

    def __init__(self, store: Store) -> None:
        self._store = store

    async def post(
        self, room: str, sender: User, text: str, now: int, client_id: str | None
    ) -> Appended:
        return await self._store.append(room, sender, text, now, client_id)


class AppendLocked:
    """One append per room at a time; the broker delivers the messages in id order whatever
    order they were published in, so the publish need not be waited for."""

    __slots__ = ("_broker", "_lock", "_store")
    overlaps = True

    def __init__(self, store: Store, broker: Broker) -> None:
        self._store = store
        self._broker = broker
        self._lock = KeyedLock()

    async def post(
        self, room: str, sender: User, text: str, now: int, client_id: str | None
    ) -> Appended:
        await self._lock.acquire(room)
        try:
            appended = await self._store.append(room, sender, text, now, client_id)
        finally:
            self._lock.release(room)
        if appended.created and not appended.published:
            await self._broker.publish(Envelope.message(appended.message))
        return appended


class WholeLocked:
    """One writer per room at a time, from append to publish, so messages are published, and
    reach every connection, in id order."""

    __slots__ = ("_broker", "_lock", "_store")
    overlaps = False

    def __init__(self, store: Store, broker: Broker) -> None:
        self._store = store
        self._broker = broker
        self._lock = KeyedLock()

    async def post(
        self, room: str, sender: User, text: str, now: int, client_id: str | None
    ) -> Appended:
        await self._lock.acquire(room)
        try:
            appended = await self._store.append(room, sender, text, now, client_id)
            if appended.created and not appended.published:
                await self._broker.publish(Envelope.message(appended.message))
        finally:
            self._lock.release(room)
        return appended
