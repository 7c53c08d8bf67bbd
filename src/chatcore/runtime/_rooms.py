"""The rooms of the application API: their records in the store and the ``room`` events that
announce every change, to the room list's watchers (group rooms) or to the two users (direct
rooms), in every process.

Values are checked here (names, titles; the ``dm-`` prefix is the direct rooms'); whether a
client may do this is not (``_checks``). The per-user room quotas apply to a room with an
owner unless the caller says otherwise.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Literal

from ..backends.broker import Broker
from ..backends.envelope import Effect, Envelope, RoomRemoved, ToRoom, ToRoomList, ToUser
from ..backends.store import Store
from ..wire.errors import InvalidField, NoSuchRoom, RoomExists
from ..wire.events import RoomEvent
from ..wire.protocol import encode
from ..wire.values import (
    DIRECT_PREFIX,
    Room,
    RoomKind,
    User,
    check_room_name,
    check_title,
    direct_room_name,
    direct_room_title,
)
from ._quotas import RoomQuotas

__all__ = ("Rooms",)

#: Names starting with this are direct rooms' (``values.direct_room_name``), never a group's.


class Rooms:
    """Room records and their announcements, for one server."""

    __slots__ = ("_announced", "_broker", "_find_user", "_quotas", "_store")

    def __init__(
        self,
        store: Store,
        broker: Broker,
        quotas: RoomQuotas,
        find_user: Callable[[str], Awaitable[User]],
        announced: Callable[[Literal["created", "updated", "deleted"], Room], None] | None = None,
    ) -> None:
        self._store = store
        self._broker = broker
        self._quotas = quotas
        self._find_user = find_user
        #: Told of each room event announced (the listener events).
        self._announced = announced

    async def get(self, name: str, user: User | None = None) -> Room:
        room = await self._store.get_room(name)
        if room is None or (user is not None and not room.visible_to(user.id)):
            raise NoSuchRoom(field="room")
        return room

    async def create(
        self, name: str, title: str | None, owner: User | None, quota: bool, private: bool = False
    ) -> Room:
        check_room_name(name)
        if name.startswith(DIRECT_PREFIX):
            raise InvalidField(
                f"room names starting with {DIRECT_PREFIX!r} are reserved", field="room"
            )
        title = check_title(title) if title else name
        room = Room(name=name, title=title, owner=owner.id if owner else None)
        if private:
            room = Room(
                name=name,
                title=title,
                owner=room.owner,
                private=True,
                users=(owner.id,) if owner else (),
            )
        if owner is not None and quota:
            async with self._quotas.creating(owner, self._store, owned=True):
                await self._store.create_room(room)
        else:
            await self._store.create_room(room)
        await self.announce("created", room)
        return room

    async def update(self, name: str, title: str) -> Room:
        room = await self._store.update_room(name, check_title(title))
        await self.announce("updated", room)
        return room

    async def delete(self, name: str) -> None:
        room = await self.get(name)
        await self._store.delete_room(name)
        await self._broker.clear(name)
        await self.announce("deleted", room, effect=RoomRemoved(name))

    async def listed(self, user: User) -> list[dict[str, object]]:
        """The rooms ``user`` sees; those they belong to with ``read`` (their mark) and
        ``unread`` (see ``Store.reading``)."""
        rooms = await self._store.list_rooms(user.id)
        counts = await self._broker.counts([room.name for room in rooms])
        reading = await self._store.reading(user.id)
        listed = []
        for room in rooms:
            wire = room.to_wire(counts.get(room.name, 0))
            state = reading.get(room.name)
            if state is not None:
                wire["read"] = state.read
                wire["unread"] = state.unread
            listed.append(wire)
        return listed

    async def belonging(self, user: User) -> list[str]:
        """The rooms ``user`` belongs to (see ``Store.reading``)."""
        return sorted(await self._store.reading(user.id))

    async def wire(self, room: Room) -> dict[str, object]:
        counts = await self._broker.counts([room.name])
        return room.to_wire(counts.get(room.name, 0))

    async def direct(self, user: User, other: str | User) -> Room:
        other_id = other if isinstance(other, str) else other.id
        if other_id == user.id:
            raise InvalidField("a direct conversation needs another user", field="to")
        if isinstance(other, str):
            other = await self._find_user(other)
        name = direct_room_name(user.id, other.id)
        room = await self._store.get_room(name)
        if room is not None:
            return room
        room = Room(
            name=name,
            title=direct_room_title(user, other),
            kind=RoomKind.DIRECT,
            users=tuple(sorted((user.id, other.id))),
        )
        try:
            await self._store.create_room(room)
        except RoomExists:
            return await self.get(name)
        await self.announce("created", room)
        return room

    async def announce(
        self,
        event: Literal["created", "updated", "deleted"],
        room: Room,
        effect: Effect | None = None,
    ) -> None:
        """Send the ``room`` event, and apply ``effect`` in every process."""
        broker = self._broker
        members = 0 if event == "deleted" else (await broker.counts([room.name]))[room.name]
        frame = encode(RoomEvent(event=event, room=room, members=members))
        if room.is_direct or room.private:
            # (A private room's users are those invited; its owner is one of them.)
            for user_id in dict.fromkeys((*room.users, *([room.owner] if room.owner else []))):
                await broker.publish(Envelope(ToUser(user_id), frame, effect=effect))
            if effect is not None:
                await broker.publish(Envelope(ToRoom(room.name), None, effect=effect))
        else:
            await broker.publish(Envelope(ToRoomList(room.name), frame, effect=effect))
        if self._announced is not None:
            self._announced(event, room)
