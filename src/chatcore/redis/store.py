"""The Redis store: rooms and bounded per-room history shared by every process.

Ids come from one counter per room, incremented in the same script that stores the message,
so processes appending at once still get 1, 2, 3, ... with no gaps. Given the process's
:class:`~chatcore.redis.RedisBroker`, the same script also publishes the ``message`` frame, so
a room's messages reach every process in id order (see :attr:`chatcore.backends.store.Appended.published`).
A repeated ``client_id`` is recognised while its first message is still in the history.

With a broker on the same Redis and prefix, the store also keeps the rooms it has read in
memory (a ``send`` reads its room every time). Every store's room scripts publish each change
on ``<prefix>room-changes`` in the same step, whichever process or tool made it; the broker
hears it and the store forgets that room. While the broker's subscription is down nothing is
cached or served from the cache, and the cache is emptied whenever the subscription is lost or
restored. (Rooms changed in Redis by hand, not through a store, stay cached until then.)
"""

from __future__ import annotations

from typing import Any

from ..backends.envelope import ToRoom
from ..backends.store import Appended, HistoryPage
from ..wire.errors import NoSuchRoom, RoomExists, UsageError
from ..wire.limits import Limits
from ..wire.protocol import message_template
from ..wire.values import Message, Room, User
from . import _scripts, _stored
from ._client import resolve_url, unavailable
from ._codec import encode_header, message_envelope_template
from ._wire import make_wire
from .broker import RedisBroker

__all__ = ("RedisStore",)

# Rooms kept in memory at most; the oldest read goes first.
_CACHED_ROOMS = 4_096


class RedisStore:
    """A :class:`~chatcore.backends.store.Store` in Redis, keeping ``history_size`` messages a room.

    ``url`` defaults to ``$CHATCORE_REDIS_URL`` (or the broker's); keys start with ``prefix``.
    Pass the process's ``broker`` to have appends publish their message in the same step, in
    id order across processes, with no wait; the store then shares the broker's connections.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        prefix: str = "chatcore:",
        history_size: int = Limits().history_size,
        broker: RedisBroker | None = None,
        timeout: float = 5.0,
    ) -> None:
        if history_size < 1:
            raise UsageError("history_size must be at least 1")
        self.url = resolve_url(url or (broker.url if broker is not None else None))
        self.prefix = prefix
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
        self._changes = prefix + _scripts.ROOM_CHANGES
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
        created = await self._call(
            _scripts.CREATE_ROOM,
            room.name,
            self._changes,
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
        with unavailable():
            meta, title = await self._wire.transaction(
                ("HGET", f"{self.prefix}rooms", name), ("HGET", f"{self.prefix}titles", name)
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
        meta = await self._call(_scripts.UPDATE_ROOM, name, self._changes, title)
        self._forget(name)
        if meta is None:
            raise NoSuchRoom(field="room")
        return _stored.decode_room(name, meta, title)

    async def delete_room(self, name: str) -> None:
        deleted = await self._call(_scripts.DELETE_ROOM, name, self._changes)
        self._forget(name)
        if not deleted:
            raise NoSuchRoom(field="room")

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
        flat = await self._call(_scripts.LIST_ROOMS, user_id)
        rooms = [
            _stored.decode_room(flat[i], flat[i + 1], flat[i + 2]) for i in range(0, len(flat), 3)
        ]
        return sorted(rooms, key=lambda room: room.name)

    async def append(
        self, room: str, sender: User, text: str, ts: int, client_id: str | None = None
    ) -> Appended:
        published: tuple[str, ...] = ()
        if self.broker is not None:
            channel, header = self._publishing(room)
            frame = message_template(Message(id=0, room=room, ts=ts, sender=sender, text=text))
            published = (channel, *message_envelope_template(header, frame))
        member = "" if client_id is None else f"{sender.id}\n{client_id}"
        result = await self._call(
            _scripts.APPEND,
            room,
            *_stored.message_template(ts, sender, text, client_id),
            member,
            self.history_size,
            *(published or ("",)),
        )
        if result[0] == -1:
            raise NoSuchRoom(field="room")
        if result[0] == 0:
            return Appended(_stored.decode_message(room, result[1]), created=False)
        message = Message(
            id=result[1], room=room, ts=ts, sender=sender, text=text, client_id=client_id
        )
        return Appended(message, created=True, published=bool(published))

    def _publishing(self, room: str) -> tuple[str, str]:
        """The channel of ``room``'s messages and their envelopes' header."""
        known = self._heads.get(room)
        if known is None:
            assert self.broker is not None
            target = ToRoom(room)
            known = self.broker.channel_key(target.channel), encode_header(target)
            if len(self._heads) >= _CACHED_ROOMS:
                self._heads.clear()
            self._heads[room] = known
        return known

    async def history(
        self, room: str, *, limit: int, after: int | None = None, before: int | None = None
    ) -> HistoryPage:
        result = await self._call(
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

    async def _call(self, script: str, *args: str | int) -> Any:
        with unavailable():
            return await self._wire.script(script, self.prefix, *args)
