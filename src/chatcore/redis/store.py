"""The Redis store: rooms and bounded per-room history shared by every process.

Ids come from one counter per room, incremented in the same script that stores the message,
so processes appending at once still get 1, 2, 3, ... with no gaps. Given the process's
:class:`~chatcore.redis.RedisBroker`, the same script also publishes the ``message`` frame, so
a room's messages reach every process in id order (see :attr:`chatcore.backends.store.Appended.published`).
A repeated ``client_id`` is recognised while its first message is still in the history.

Changes to messages (edits, deletions, reactions) are one script each too: it compares the
message's version, replaces it in the history, logs the change with the room's next change
number, and, given the broker, publishes the ``message_changed`` frame in the same step, so
changes and messages reach every process in the order they were made. Read marks and unread
counts are kept and counted by scripts as well (the keys: :mod:`chatcore.redis._scripts`).

With a broker on the same Redis and prefix, the store also keeps the rooms it has read in
memory (a ``send`` reads its room every time). Every store's room scripts publish each change
on ``<P>room-changes`` (``P``: the prefix of the room's group, :mod:`~chatcore.redis._layout`)
in the same step, whichever process or tool made it; the broker hears it and the store
forgets that room. While the broker's subscription is down nothing is
cached or served from the cache, and the cache is emptied whenever the subscription is lost or
restored. (Rooms changed in Redis by hand, not through a store, stay cached until then.)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from ..backends.envelope import Envelope, ToRoom
from ..backends.store import (
    UNREAD_CAP,
    Appended,
    Change,
    ChangePage,
    HistoryPage,
    Reading,
)
from ..wire.errors import NoSuchMessage, NoSuchRoom, RoomExists, UsageError
from ..wire.limits import Limits
from ..wire.protocol import message_template
from ..wire.values import ChangeKind, Message, Room, User
from . import _scripts, _stored
from ._client import resolve_url, unavailable
from ._codec import encode_envelope, encode_header, message_envelope_template
from ._layout import Group, Layout, in_every
from ._moderation import RedisModeration
from ._wire import make_wire
from .broker import RedisBroker

__all__ = ("RedisStore",)

# Rooms kept in memory at most; the oldest read goes first.
_CACHED_ROOMS = 4_096


class RedisStore(RedisModeration):
    """A :class:`~chatcore.backends.store.Store` in Redis, keeping ``history_size`` messages a room.

    ``url`` defaults to ``$CHATCORE_REDIS_URL`` (or the broker's); keys start with ``prefix``.
    Pass the process's ``broker`` to have appends publish their message in the same step, in
    id order across processes, with no wait; the store then shares the broker's connections.
    ``groups`` and ``sharded`` choose the key layout as the broker's do (given a broker, its
    layout, which they may only repeat).
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        prefix: str = "chatcore:",
        history_size: int = Limits().history_size,
        broker: RedisBroker | None = None,
        timeout: float = 5.0,
        groups: int | None = None,
        sharded: bool | None = None,
    ) -> None:
        if history_size < 1:
            raise UsageError("history_size must be at least 1")
        self.url = resolve_url(url or (broker.url if broker is not None else None))
        self.prefix = prefix
        self.layout = _layout(self.url, prefix, broker, groups, sharded)
        self.history_size = history_size
        self.broker = broker
        # With a broker, share its connection (and its reconnects after an outage).
        if broker is not None and broker.url == self.url:
            self._own_client, self._wire = False, broker.wire
        else:
            self._own_client, self._wire = True, make_wire(self.url, timeout)
        # Rooms as last read, while the broker reports every change (see the module doc).
        self._rooms: dict[str, Room] = {}
        self._generation = 0  # moves on each forgotten room: a read across it is not kept
        self._heads: dict[str, tuple[str, str]] = {}  # see _publishing
        # Only a broker on the same Redis and prefix hears every change.
        self._cached = broker is not None and not self._own_client and broker.prefix == prefix
        if broker is not None and self._cached:
            broker.watch_rooms(self._forget)

    @property
    def pipelined(self) -> bool:
        """True with a broker: each append publishes its message, and appends go out on one
        connection in call order (``_wire``), so they take ids in that order even while
        several are in flight."""
        return self.broker is not None

    async def aclose(self) -> None:
        """Close the store's own connection (it reopens on the next call)."""
        if self._own_client:
            self._wire.close()

    async def create_room(self, room: Room) -> None:
        users = list(room.users) if room.is_direct else []
        group = self.layout.room(room.name)
        created = await self._call(
            group,
            _scripts.CREATE_ROOM,
            room.name,
            group.changes,
            _stored.encode_room(room),
            room.title,
            room.kind.value,
            *users,
        )
        self._forget(room.name)
        if not created:
            raise RoomExists(field="room")

    async def get_room(self, name: str) -> Room | None:
        cached = self._rooms.get(name)
        if cached is not None and self._cache_valid():
            return cached
        generation = self._generation
        P = self.layout.room(name).prefix
        with unavailable():
            meta, title = await self._wire.transaction(
                ("HGET", f"{P}rooms", name), ("HGET", f"{P}titles", name)
            )
        if meta is None:
            return None
        room = _stored.decode_room(name, meta, title)
        if generation == self._generation and self._cache_valid():
            rooms = self._rooms
            if len(rooms) >= _CACHED_ROOMS:
                del rooms[next(iter(rooms))]
            rooms[name] = room
        return room

    async def update_room(self, name: str, title: str) -> Room:
        group = self.layout.room(name)
        meta = await self._call(group, _scripts.UPDATE_ROOM, name, group.changes, title)
        self._forget(name)
        if meta is None:
            raise NoSuchRoom(field="room")
        return _stored.decode_room(name, meta, title)

    async def delete_room(self, name: str) -> None:
        group = self.layout.room(name)
        deleted = await self._call(group, _scripts.DELETE_ROOM, name, group.changes)
        self._forget(name)
        if not deleted:
            raise NoSuchRoom(field="room")
        await self._forget_moderation(name)

    def _cache_valid(self) -> bool:
        return self._cached and self.broker is not None and self.broker.listening

    def _forget(self, room: str | None) -> None:
        """``room`` changed (None: any room may have): drop what the cache holds of it."""
        self._generation += 1
        if room is None:
            self._rooms.clear()
        else:
            self._rooms.pop(room, None)

    async def list_rooms(self, user_id: str) -> list[Room]:
        found = await in_every(
            self.layout.groups, lambda group: self._call(group, _scripts.LIST_ROOMS, user_id)
        )
        rooms = [
            _stored.decode_room(flat[i], flat[i + 1], flat[i + 2])
            for flat in found
            for i in range(0, len(flat), 3)
        ]
        return sorted(
            (room for room in rooms if room.visible_to(user_id)), key=lambda room: room.name
        )

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
        published: tuple[str, ...] = ()
        if self.broker is not None:
            channel, header = self._publishing(room)
            frame = message_template(
                Message(
                    id=0, room=room, ts=ts, sender=sender, text=text, reply_to=reply_to, meta=meta
                )
            )
            published = (channel, *message_envelope_template(header, frame))
        member = "" if client_id is None else f"{sender.id}\n{client_id}"
        result = await self._call(
            self.layout.room(room),
            _scripts.APPEND,
            room,
            *_stored.message_template(ts, sender, text, client_id, reply_to, meta),
            member,
            self.history_size,
            *(published or ("",)),
        )
        if result[0] == -1:
            raise NoSuchRoom(field="room")
        if result[0] == 0:
            return Appended(_stored.decode_message(room, result[1]), created=False)
        message = Message(
            id=result[1],
            room=room,
            ts=ts,
            sender=sender,
            text=text,
            client_id=client_id,
            reply_to=reply_to,
            meta=meta,
        )
        return Appended(message, created=True, published=bool(published))

    def _publishing(self, room: str) -> tuple[str, str]:
        """The channel of ``room``'s messages and their envelopes' header."""
        known = self._heads.get(room)
        if known is None:
            assert self.broker is not None
            target = ToRoom(room)
            known = self.broker.layout.target(target), encode_header(target)
            if len(self._heads) >= _CACHED_ROOMS:
                self._heads.clear()
            self._heads[room] = known
        return known

    async def history(
        self, room: str, *, limit: int, after: int | None = None, before: int | None = None
    ) -> HistoryPage:
        result = await self._call(
            self.layout.room(room),
            _scripts.HISTORY,
            room,
            limit,
            "" if after is None else after,
            "" if before is None else before,
        )
        if result[0] == -1:
            raise NoSuchRoom(field="room")
        messages = tuple(_stored.decode_message(room, item) for item in result[2:])
        return HistoryPage(messages, bool(result[1]), result[0])

    # the room event log

    async def get_message(self, room: str, id: int) -> Message | None:
        result = await self._call(self.layout.room(room), _scripts.GET_MESSAGE, room, id)
        if result[0] == -1:
            raise NoSuchRoom(field="room")
        return _stored.decode_message(room, result[1]) if result[0] == 1 else None

    async def change(
        self, room: str, kind: ChangeKind, message: Message, *, publish: bool = True
    ) -> Change | None:
        if message.room != room:
            message = attrs.evolve(message, room=room)
        publish = publish and self.broker is not None
        published: tuple[str, str] = ("", "")
        if publish and self.broker is not None:
            # (The envelope's ``after`` is not sent: the script publishes it in its place.)
            envelope = encode_envelope(Envelope.change_of(kind, message, 0))
            published = (self._publishing(room)[0], envelope)
        result = await self._call(
            self.layout.room(room),
            _scripts.CHANGE,
            room,
            message.id,
            message.version - 1,
            _stored.encode_message(message),
            kind,
            self.history_size,
            *published,
        )
        if result[0] == -1:
            raise NoSuchRoom(field="room")
        if result[0] == -2:
            raise NoSuchMessage(field="id")
        if result[0] == 0:
            return None
        return Change(kind, message, result[1], result[2], published=publish)

    async def changes(self, room: str, *, since: int, limit: int) -> ChangePage:
        result = await self._call(self.layout.room(room), _scripts.CHANGES, room, since, limit)
        if result[0] == -1:
            raise NoSuchRoom(field="room")
        found = tuple(_stored.decode_change(room, entry) for entry in result[1:])
        return ChangePage(found, bool(result[0]))

    # read state

    async def mark_read(self, room: str, user_id: str, id: int | None) -> int:
        mark = "" if id is None else id
        result = await self._call(self.layout.room(room), _scripts.MARK_READ, room, user_id, mark)
        if result[0] == -1:
            raise NoSuchRoom(field="room")
        return int(result[1])

    async def read_marks(self, room: str) -> dict[str, int]:
        result = await self._call(self.layout.room(room), _scripts.READ_MARKS, room)
        if result[0] == -1:
            raise NoSuchRoom(field="room")
        found = _stored.decode_room(room, result[1], None)
        marks = dict.fromkeys(found.users, 0) if found.is_direct else {}
        flat = result[2:]
        marks.update((flat[i], int(flat[i + 1])) for i in range(0, len(flat), 2))
        return marks

    async def reading(self, user_id: str) -> dict[str, Reading]:
        sender = _stored.encode_id(user_id)
        found = await in_every(
            self.layout.groups,
            lambda group: self._call(group, _scripts.READING, "", user_id, sender, UNREAD_CAP),
        )
        return {
            flat[i]: Reading(int(flat[i + 1]), int(flat[i + 2]))
            for flat in found
            for i in range(0, len(flat), 3)
        }

    async def _call(self, group: Group, script: str, *args: str | int) -> Any:
        """Run a script in ``group`` (its prefix is ``ARGV[1]``, its fence keys ``KEYS``)."""
        with unavailable():
            return await self._wire.script(
                self.layout.script(script), group.prefix, *args, keys=group.fence
            )


def _layout(
    url: str, prefix: str, broker: RedisBroker | None, groups: int | None, sharded: bool | None
) -> Layout:
    """The store's layout: the broker's (under ``prefix``) when it has one, else the URL's."""
    if broker is None:
        return Layout.from_url(url, prefix, groups, sharded)
    given = broker.layout
    if groups not in (None, len(given.groups)) or sharded not in (None, given.sharded):
        raise UsageError(
            f"the store must use its broker's layout ({len(given.groups)} groups, "
            f"sharded={given.sharded})"
        )
    return given if prefix == given.prefix else given.under(prefix)
