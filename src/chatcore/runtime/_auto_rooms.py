"""Auto-created rooms (``ChatServer(auto_create=True)``): made by the first ``join`` of a
missing name, deleted when their last member has gone, in whichever process that happens.

The checks before a creation (may the user create rooms?) are the client's (``_checks``); this
part creates, counting against the creator's hourly quota, and deletes.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Literal

from ..backends.broker import Broker
from ..backends.store import Store
from ..wire.errors import ChatError, NoSuchRoom, RoomExists
from ..wire.values import Room, User
from ._quotas import RoomQuotas

__all__ = ("AutoRooms",)

log = logging.getLogger("chatcore")


class AutoRooms:
    """Creates and deletes the auto-created rooms of one server. ``announce`` sends the
    ``room`` event of a new room; ``delete`` deletes one (and tells every process)."""

    __slots__ = ("_announce", "_broker", "_delete", "_quotas", "_store")

    def __init__(
        self,
        store: Store,
        broker: Broker,
        quotas: RoomQuotas,
        announce: Callable[[Literal["created"], Room], Awaitable[None]],
        delete: Callable[[str], Awaitable[None]],
    ) -> None:
        self._store = store
        self._broker = broker
        self._quotas = quotas
        self._announce = announce
        self._delete = delete

    async def create(self, name: str, creator: User) -> Room | None:
        """Create the room ``name`` for ``creator`` (``rooms_per_hour`` applies). The room, or
        None if another creator's room of that name is gone again already."""
        room = Room(name=name, title=name, auto=True)
        try:
            async with self._quotas.creating(creator, self._store, owned=False):
                await self._store.create_room(room)
            await self._announce("created", room)
        except RoomExists:
            return await self._store.get_room(name)
        return room

    async def drop_if_unused(self, room: str) -> None:
        """Delete ``room`` if it is an auto-created room and nobody is in it."""
        stored = await self._store.get_room(room)
        # A count, not the member list: a leave storm in a large room must not cost N each.
        if stored is not None and stored.auto and not (await self._broker.counts([room]))[room]:
            await self._delete(room)

    async def after_departure(self, room: str) -> None:
        """:meth:`drop_if_unused`, in a task of its own after a departure in another process;
        it logs what fails."""
        try:
            await self.drop_if_unused(room)
        except NoSuchRoom:
            pass  # another process deleted it first
        except ChatError:
            log.warning("could not check whether %s is still in use", room)
        except Exception:
            log.exception("checking whether %s is still in use failed", room)
