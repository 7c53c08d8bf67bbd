"""The store contract: rooms, and each room's history.

Contract (``docs/backends.md``), for every implementation:

- room names are unique: :meth:`create_room` raises :class:`~chatcore.wire.errors.RoomExists`;
  :meth:`update_room` and :meth:`delete_room` raise :class:`~chatcore.wire.errors.NoSuchRoom`;
- :meth:`append` gives a room's messages ids 1, 2, 3, ... with no gaps, even when several
  processes append at once; an append that repeats a (sender, ``client_id``) pair seen recently
  in the room stores nothing and returns the first message with ``created=False``;
- deleting a room deletes its history; a room created again with the same name starts at id 1;
- with :attr:`~Store.pipelined` true, appends may overlap: appends started one after another
  (each called before the previous one returned) take ids in the order they were started, and
  each publishes its own ``message`` event (:attr:`Appended.published`);
- :meth:`history` returns messages in id order, the newest ``limit`` of those with
  ``after < id < before``, with ``more`` true when older ones in that range were left out and
  ``last_id`` the room's newest id (0 when empty).

Any method may raise :class:`~chatcore.wire.errors.Unavailable` when the backend cannot be reached.
"""

from __future__ import annotations

from typing import Protocol

import attrs

from ..wire.values import Message, Room, User

__all__ = ("Appended", "HistoryPage", "Store")


@attrs.frozen
class HistoryPage:
    messages: tuple[Message, ...]
    more: bool
    last_id: int


@attrs.frozen
class Appended:
    message: Message
    created: bool
    #: The store already published the ``message`` event to the room in the same atomic step
    #: as the append (the Redis store does, so messages reach every process in id order).
    published: bool = False


class Store(Protocol):
    @property
    def pipelined(self) -> bool:
        """Whether a room's appends may overlap (see the contract above). The server then
        starts each post at once instead of waiting for the one before to finish."""
        ...

    async def create_room(self, room: Room) -> None: ...

    async def get_room(self, name: str) -> Room | None: ...

    async def update_room(self, name: str, title: str) -> Room: ...

    async def delete_room(self, name: str) -> None: ...

    async def list_rooms(self, user_id: str) -> list[Room]:
        """Group rooms, and the direct rooms of ``user_id``, by name."""
        ...

    async def append(
        self, room: str, sender: User, text: str, ts: int, client_id: str | None = None
    ) -> Appended: ...

    async def history(
        self, room: str, *, limit: int, after: int | None = None, before: int | None = None
    ) -> HistoryPage: ...
