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

A change to a message (:meth:`Posting.change`) goes the same way: the pipelined store publishes
its ``message_changed`` event in the same step; otherwise it is stored and published under the
room's lock, so it never overtakes a message appended before it in this process, and with a
broker that orders messages its envelope says which message it comes after
(``Envelope.after``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

import attrs

from ..backends.broker import Broker
from ..backends.envelope import Envelope
from ..backends.store import Appended, Change, Store
from ..wire.values import ChangeKind, Message, User
from ._queue_lock import KeyedLock

__all__ = ("AppendLocked", "Posting", "StorePublishes", "WholeLocked", "choose")


class Posting(Protocol):
    @property
    def overlaps(self) -> bool:
        """Whether posts to one room may be in flight at once (so ``send`` frames pipeline)."""
        ...

    async def post(
        self,
        room: str,
        sender: User,
        text: str,
        now: int,
        client_id: str | None,
        reply_to: int | None = None,
        meta: Mapping[str, Any] | None = None,
    ) -> Appended:
        """Store the checked ``text`` in ``room`` and send it to the room's connections."""
        ...

    async def change(
        self, room: str, kind: ChangeKind, message: Message, *, publish: bool = True
    ) -> Change | None:
        """``Store.change``, and the ``message_changed`` event to the room if it was made
        (unless ``publish`` is False: then :meth:`send_later` may send it)."""
        ...

    async def send_later(self, change: Change) -> None:
        """Send the ``message_changed`` event of a change made without it, after newer events
        of the room may have gone out: the broker drops it if a newer state of the message
        went out before (``Envelope.version``)."""
        ...


#: Told of each message stored, in the room's id order in this process (the listener events).
Posted = Callable[[Message], None]


def choose(store: Store, broker: Broker, posted: Posted | None = None) -> Posting:
    """The strategy for these backends (see the table above); ``posted`` is told of each new
    message as it is stored (under the room's lock where there is one)."""
    if store.pipelined:
        return StorePublishes(store, broker, posted)
    if broker.orders_messages:
        return AppendLocked(store, broker, posted)
    return WholeLocked(store, broker, posted)


class StorePublishes:
    """The store publishes each message as it appends it, in id order."""

    __slots__ = ("_broker", "_posted", "_store")
    overlaps = True

    def __init__(self, store: Store, broker: Broker, posted: Posted | None = None) -> None:
        self._store = store
        self._broker = broker
        self._posted = posted

    async def post(
        self,
        room: str,
        sender: User,
        text: str,
        now: int,
        client_id: str | None,
        reply_to: int | None = None,
        meta: Mapping[str, Any] | None = None,
    ) -> Appended:
        appended = await _append(self._store, room, sender, text, now, client_id, reply_to, meta)
        # Replies of one connection to the store come in id order, and so do their tasks.
        if self._posted is not None and appended.created:
            self._posted(appended.message)
        return appended

    async def change(
        self, room: str, kind: ChangeKind, message: Message, *, publish: bool = True
    ) -> Change | None:
        return await self._store.change(room, kind, message, publish=publish)

    async def send_later(self, change: Change) -> None:
        # Its message went out long before, in the store's own step: no order to wait for.
        await self._broker.publish(attrs.evolve(Envelope.changed(change), after=0))


class _Locked:
    """A strategy with a lock per room: changes to messages are stored and published under
    it, so one never overtakes a message appended before it in this process."""

    __slots__ = ("_broker", "_lock", "_posted", "_store")

    def __init__(self, store: Store, broker: Broker, posted: Posted | None = None) -> None:
        self._store = store
        self._broker = broker
        self._lock = KeyedLock()
        self._posted = posted

    async def change(
        self, room: str, kind: ChangeKind, message: Message, *, publish: bool = True
    ) -> Change | None:
        return await _locked_change(
            self._lock, self._store, self._broker, room, kind, message, publish
        )

    async def send_later(self, change: Change) -> None:
        await self._broker.publish(Envelope.changed(change))


class AppendLocked(_Locked):
    """One append per room at a time; the broker delivers the messages in id order whatever
    order they were published in, so the publish need not be waited for."""

    __slots__ = ()
    overlaps = True

    async def post(
        self,
        room: str,
        sender: User,
        text: str,
        now: int,
        client_id: str | None,
        reply_to: int | None = None,
        meta: Mapping[str, Any] | None = None,
    ) -> Appended:
        await self._lock.acquire(room)
        try:
            appended = await _append(
                self._store, room, sender, text, now, client_id, reply_to, meta
            )
            if self._posted is not None and appended.created:
                self._posted(appended.message)
        finally:
            self._lock.release(room)
        if appended.created and not appended.published:
            await self._broker.publish(Envelope.message(appended.message))
        return appended


class WholeLocked(_Locked):
    """One writer per room at a time, from append to publish, so messages are published, and
    reach every connection, in id order."""

    __slots__ = ()
    overlaps = False

    async def post(
        self,
        room: str,
        sender: User,
        text: str,
        now: int,
        client_id: str | None,
        reply_to: int | None = None,
        meta: Mapping[str, Any] | None = None,
    ) -> Appended:
        await self._lock.acquire(room)
        try:
            appended = await _append(
                self._store, room, sender, text, now, client_id, reply_to, meta
            )
            if self._posted is not None and appended.created:
                self._posted(appended.message)
            if appended.created and not appended.published:
                await self._broker.publish(Envelope.message(appended.message))
        finally:
            self._lock.release(room)
        return appended


def _append(
    store: Store,
    room: str,
    sender: User,
    text: str,
    now: int,
    client_id: str | None,
    reply_to: int | None,
    meta: Mapping[str, Any] | None,
) -> Awaitable[Appended]:
    """The store's append (a plain function returning the call's awaitable: no coroutine of
    its own on the path of every message). A plain message goes without the new fields."""
    if reply_to is None and meta is None:
        return store.append(room, sender, text, now, client_id)
    return store.append(room, sender, text, now, client_id, reply_to=reply_to, meta=meta)


async def _locked_change(
    lock: KeyedLock,
    store: Store,
    broker: Broker,
    room: str,
    kind: ChangeKind,
    message: Message,
    publish: bool,
) -> Change | None:
    await lock.acquire(room)
    try:
        change = await store.change(room, kind, message)
        if publish and change is not None and not change.published:
            await broker.publish(Envelope.changed(change))
    finally:
        lock.release(room)
    return change
