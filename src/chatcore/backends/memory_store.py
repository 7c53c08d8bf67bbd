"""The in-memory store: bounded history per room and in all, nothing kept across restarts.

Two bounds apply to history: ``history_size`` messages per room, and ``history_bytes`` across
all rooms (see :func:`message_cost`). Past either, the oldest messages are dropped (for the
total budget, the oldest of every room: messages leave in the order they came). A client that
resumes from before a dropped message gets ``gap: true``, as after any trimming. New posts are
never refused for it: the store is a cache of recent chat, and refusing posts once it is full
would let old messages, or one busy room, stop every room.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Mapping
from typing import Any

import attrs

from ..wire.errors import NoSuchMessage, NoSuchRoom, RoomExists
from ..wire.limits import Limits
from ..wire.values import ChangeKind, Message, Room, User
from ._memory_moderation import MemoryModeration
from .store import UNREAD_CAP, Appended, Change, ChangePage, HistoryPage, Reading

__all__ = ("MESSAGE_OVERHEAD", "MemoryStore", "message_cost")

#: Bytes a stored message counts for besides its text and client id: the ``Message`` object,
#: its id and timestamp, its place in the room's queue and its client-id entry (about 160 to
#: 250 bytes on CPython 3.11, measured with ``tracemalloc``).
MESSAGE_OVERHEAD = 256


def message_cost(message: Message) -> int:
    """What ``message`` counts for against the store's ``history_bytes``."""
    text = message.text
    cost = MESSAGE_OVERHEAD + (len(text) if text.isascii() else len(text.encode()))
    if message.client_id is not None:
        cost += len(message.client_id.encode())
    if message.meta is not None or message.reactions:
        cost += _extra_cost(message)
    return cost


def _extra_cost(message: Message) -> int:
    cost = 0
    if message.meta is not None:
        cost += len(repr(message.meta).encode())
    for reaction in message.reactions:
        # (a slot per user: the ids themselves are the users' own strings, held anyway)
        cost += 96 + 8 * len(reaction.users)
    return cost


class _RoomLog:
    __slots__ = (
        "bytes",
        "change_seq",
        "changes",
        "client_ids",
        "dropped_after",
        "gone",
        "last_id",
        "marks",
        "messages",
        "room",
    )

    def __init__(self, room: Room) -> None:
        self.room = room
        self.messages: deque[Message] = deque()  # consecutive ids, oldest first
        self.last_id = 0
        self.bytes = 0
        self.gone = False  # deleted: its entries in the store's queue are stale
        self.client_ids: OrderedDict[tuple[str, str], Message] = OrderedDict()
        self.changes: deque[Change] = deque()
        self.change_seq = 0
        self.dropped_after = -1  # ``after`` of the newest change no longer kept
        self.marks: dict[str, int] = {}

    def index(self, message_id: int) -> int | None:
        """Where message ``message_id`` is in :attr:`messages`, or None."""
        if not self.messages:
            return None
        index = message_id - self.messages[0].id
        return index if 0 <= index < len(self.messages) else None

    def holds(self, message_id: int) -> bool:
        return not self.gone and bool(self.messages) and message_id >= self.messages[0].id


#: The bounds' defaults are the server's (``Limits.history_size``, ``Limits.history_bytes``).
_DEFAULTS = Limits()


class MemoryStore(MemoryModeration):
    """A :class:`~chatcore.backends.store.Store` in memory, keeping ``history_size`` messages a room
    and ``history_bytes`` in all (see the module's doc)."""

    #: The server publishes each message; an append never waits, so there is nothing to overlap.
    pipelined = False

    def __init__(
        self,
        history_size: int = _DEFAULTS.history_size,
        client_ids: int = 1_000,
        *,
        history_bytes: int = _DEFAULTS.history_bytes,
    ) -> None:
        super().__init__()
        self.history_size = history_size
        self.history_bytes = history_bytes
        self._client_ids = client_ids
        self._rooms: dict[str, _RoomLog] = {}
        # Every stored message as (room log, id), oldest first, for the total budget; it also
        # holds stale entries (messages already dropped), removed now and then.
        self._order: deque[tuple[_RoomLog, int]] = deque()
        self._bytes = 0
        self._count = 0

    @property
    def held_bytes(self) -> int:
        """What the stored messages count for (see :func:`message_cost`)."""
        return self._bytes

    async def create_room(self, room: Room) -> None:
        if room.name in self._rooms:
            raise RoomExists(field="room")
        self._rooms[room.name] = _RoomLog(room)

    async def get_room(self, name: str) -> Room | None:
        log = self._rooms.get(name)
        return None if log is None else log.room

    async def update_room(self, name: str, title: str) -> Room:
        log = self._log(name)
        log.room = attrs.evolve(log.room, title=title)
        return log.room

    async def delete_room(self, name: str) -> None:
        log = self._log(name)
        del self._rooms[name]
        self._forget_moderation(name)
        log.gone = True
        self._bytes -= log.bytes
        self._count -= len(log.messages)

    async def list_rooms(self, user_id: str) -> list[Room]:
        return [log.room for _, log in sorted(self._rooms.items()) if log.room.visible_to(user_id)]

    async def append(
        self,
        room: str,
        sender: User,
        text: str,
        ts: int,
        client_id: str | None = None,
        *,
        reply_to: int | None = None,
        meta: Mapping[str, Any] | None = None,
    ) -> Appended:
        log = self._log(room)
        key = (sender.id, client_id) if client_id is not None else None
        if key is not None and key in log.client_ids:
            return Appended(self._current(log, log.client_ids[key]), created=False)
        log.last_id += 1
        message = Message(
            id=log.last_id,
            room=room,
            ts=ts,
            sender=sender,
            text=text,
            client_id=client_id,
            reply_to=reply_to,
            meta=meta,
        )
        log.messages.append(message)
        cost = message_cost(message)
        log.bytes += cost
        self._bytes += cost
        self._count += 1
        self._order.append((log, message.id))
        if key is not None:
            log.client_ids[key] = message
            if len(log.client_ids) > self._client_ids:
                log.client_ids.popitem(last=False)
        if len(log.messages) > self.history_size:
            self._drop_oldest(log)
        if self._bytes > self.history_bytes or len(self._order) > 2 * self._count + 64:
            self._keep_budget()
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

    async def get_message(self, room: str, id: int) -> Message | None:
        log = self._log(room)
        index = log.index(id)
        return None if index is None else log.messages[index]

    async def change(
        self, room: str, kind: ChangeKind, message: Message, *, publish: bool = True
    ) -> Change | None:
        log = self._log(room)
        index = log.index(message.id)
        if index is None:
            raise NoSuchMessage(field="id")
        old = log.messages[index]
        if old.version != message.version - 1:
            return None
        if message.room != room or message.client_id != old.client_id:
            message = attrs.evolve(message, room=room, client_id=old.client_id)
        log.messages[index] = message
        cost = message_cost(message) - message_cost(old)
        log.bytes += cost
        self._bytes += cost
        if old.client_id is not None:
            key = (old.sender.id, old.client_id)
            if log.client_ids.get(key) is old:
                log.client_ids[key] = message
        log.change_seq += 1
        change = Change(kind, message, log.change_seq, log.last_id)
        log.changes.append(change)
        while len(log.changes) > self.history_size:
            log.dropped_after = log.changes.popleft().after
        if self._bytes > self.history_bytes:
            self._keep_budget()
        return change

    async def changes(self, room: str, *, since: int, limit: int) -> ChangePage:
        log = self._log(room)
        found = [change for change in log.changes if change.after >= since]
        gap = log.dropped_after >= since or len(found) > limit
        return ChangePage(tuple(found[:limit]), gap)

    async def mark_read(self, room: str, user_id: str, id: int | None) -> int:
        log = self._log(room)
        mark = log.marks.get(user_id)
        if id is None:
            if mark is None:
                mark = log.marks[user_id] = log.last_id
            return mark
        new = min(id, log.last_id)
        if mark is None or new > mark:
            log.marks[user_id] = mark = new
        return mark

    async def read_marks(self, room: str) -> dict[str, int]:
        log = self._log(room)
        marks = dict.fromkeys(log.room.users, 0) if log.room.is_direct else {}
        marks.update(log.marks)
        return marks

    async def reading(self, user_id: str) -> dict[str, Reading]:
        found: dict[str, Reading] = {}
        for name, log in self._rooms.items():
            mark = log.marks.get(user_id)
            if mark is None:
                if not (log.room.is_direct and user_id in log.room.users):
                    continue
                mark = 0
            found[name] = Reading(mark, _unread(log, user_id, mark))
        return found

    @staticmethod
    def _current(log: _RoomLog, message: Message) -> Message:
        index = log.index(message.id)
        return message if index is None else log.messages[index]

    def _log(self, name: str) -> _RoomLog:
        log = self._rooms.get(name)
        if log is None:
            raise NoSuchRoom(field="room")
        return log

    def _drop_oldest(self, log: _RoomLog) -> None:
        message = log.messages.popleft()
        cost = message_cost(message)
        log.bytes -= cost
        self._bytes -= cost
        self._count -= 1
        if message.client_id is not None:
            key = (message.sender.id, message.client_id)
            if log.client_ids.get(key) is message:
                del log.client_ids[key]

    def _keep_budget(self) -> None:
        """Drop the oldest messages of all rooms until the rest fit ``history_bytes``."""
        order = self._order
        while self._bytes > self.history_bytes and order:
            log, message_id = order.popleft()
            if log.holds(message_id):
                self._drop_oldest(log)
        # Entries of messages dropped otherwise (per-room trimming, deleted rooms) are
        # cleared once they outnumber the live ones, so the queue stays within twice the
        # messages held.
        if len(order) > 2 * self._count + 64:
            self._order = deque(entry for entry in order if entry[0].holds(entry[1]))


def _unread(log: _RoomLog, user_id: str, mark: int) -> int:
    """Messages after ``mark`` that ``user_id`` did not send and that are not deleted."""
    count = 0
    messages = log.messages
    start = log.index(mark + 1)
    if start is None:
        if not messages or mark + 1 > messages[-1].id:
            return 0
        start = 0
    for i in range(start, len(messages)):
        message = messages[i]
        if message.sender.id != user_id and not message.deleted:
            count += 1
            if count >= UNREAD_CAP:
                break
    return count
