"""The in-memory store: bounded history per room, nothing kept across restarts."""

from __future__ import annotations

from collections import OrderedDict, deque

import attrs

from .errors import NoSuchRoom, RoomExists
from .store import Appended, HistoryPage
from .values import Message, Room, User

__all__ = ("MemoryStore",)


class _RoomLog:
    __slots__ = ("client_ids", "last_id", "messages", "room")

    def __init__(self, room: Room, size: int) -> None:
        self.room = room
        self.messages: deque[Message] = deque(maxlen=size)
        self.last_id = 0
        self.client_ids: OrderedDict[tuple[str, str], Message] = OrderedDict()


class MemoryStore:
    """A :class:`~chatcore.store.Store` in memory, keeping ``history_size`` messages a room."""

    #: The server publishes each message; an append never waits, so there is nothing to overlap.
    pipelined = False

    def __init__(self, history_size: int = 1_000, client_ids: int = 1_000) -> None:
        self.history_size = history_size
        self._client_ids = client_ids
        self._rooms: dict[str, _RoomLog] = {}

    async def create_room(self, room: Room) -> None:
        if room.name in self._rooms:
            raise RoomExists(field="room")
        self._rooms[room.name] = _RoomLog(room, self.history_size)

    async def get_room(self, name: str) -> Room | None:
        log = self._rooms.get(name)
        return None if log is None else log.room

    async def update_room(self, name: str, title: str) -> Room:
        log = self._log(name)
        log.room = attrs.evolve(log.room, title=title)
        return log.room

    async def delete_room(self, name: str) -> None:
        self._log(name)
        del self._rooms[name]

    async def list_rooms(self, user_id: str) -> list[Room]:
        return [log.room for _, log in sorted(self._rooms.items()) if log.room.visible_to(user_id)]

    async def append(
        self, room: str, sender: User, text: str, ts: int, client_id: str | None = None
    ) -> Appended:
        log = self._log(room)
        key = (sender.id, client_id) if client_id is not None else None
        if key is not None and key in log.client_ids:
            return Appended(log.client_ids[key], created=False)
        log.last_id += 1
        message = Message(
            id=log.last_id, room=room, ts=ts, sender=sender, text=text, client_id=client_id
        )
        log.messages.append(message)
        if key is not None:
            log.client_ids[key] = message
            if len(log.client_ids) > self._client_ids:
                log.client_ids.popitem(last=False)
        return Appended(message, created=True)

    async def history(
        self, room: str, *, limit: int, after: int | None = None, before: int | None = None
    ) -> HistoryPage:
        log = self._log(room)
        messages = log.messages
        if not messages:
            return HistoryPage((), False, log.last_id)
        # Ids in the deque are consecutive, so positions follow from the first id.
        first = messages[0].id
        low = 0 if after is None else max(0, after + 1 - first)
        high = len(messages) if before is None else max(0, min(len(messages), before - first))
        start = max(low, high - limit)
        page = tuple(messages[i] for i in range(start, high)) if start < high else ()
        return HistoryPage(page, start > low, log.last_id)

    def _log(self, name: str) -> _RoomLog:
        log = self._rooms.get(name)
        if log is None:
            raise NoSuchRoom(field="room")
        return log
