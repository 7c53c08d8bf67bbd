"""Joining and leaving rooms: the hub's membership, the broker's presence and the ``presence``
events that follow from them, for one server.

The hub says what a local join or leave means for the user (see :mod:`chatcore.runtime.hub`); this
part makes the broker calls that follows from it, announces a user who is new in a room or
gone from it, and reads the history a join returns. Whether the client may join is checked
before (``_checks``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Literal

from ..backends.broker import Broker
from ..backends.envelope import Envelope, ToRoom
from ..backends.store import Change, Store
from ..wire.errors import ChatError
from ..wire.events import PresenceEvent
from ..wire.limits import Limits
from ..wire.protocol import encode
from ..wire.values import Room, User
from ._auto_rooms import AutoRooms
from ._large import Occupancy, members_page
from ._shared_reads import SharedReads
from .hub import Departure, Hub, Joined, Session
from .ports import Joining

__all__ = ("Joins",)

log = logging.getLogger("chatcore")


class Joins:
    """Joins and departures of one server; ``auto_rooms`` (with ``auto_create``) deletes an
    auto-created room its last member left."""

    __slots__ = (
        "_announced",
        "_auto_rooms",
        "_broker",
        "_limits",
        "_occupancy",
        "_reads",
        "_store",
        "_subscribed",
    )

    def __init__(
        self,
        store: Store,
        broker: Broker,
        limits: Limits,
        auto_rooms: AutoRooms | None,
        occupancy: Occupancy,
        reads: SharedReads,
        announced: Callable[[str, Literal["join", "leave"], User], None] | None = None,
        subscribed: Callable[[str], None] | None = None,
    ) -> None:
        self._store = store
        #: Told when a room's channel is subscribed (its reads may be shared from then on).
        self._subscribed = subscribed
        # History reads of joins in a reconnect wave are shared (see _shared_reads).
        self._reads = reads
        self._broker = broker
        self._limits = limits
        self._auto_rooms = auto_rooms
        # Large rooms (``_large``): a count instead of per-user presence.
        self._occupancy = occupancy
        #: Told of each join and leave announced (the listener events).
        self._announced = announced

    async def join(
        self, hub: Hub, session: Session, room: Room, since: int | None = None
    ) -> Joining:
        name = room.name
        joined, new_room = hub.join(session, name)
        try:
            if new_room:
                await self._broker.subscribe(ToRoom(name).channel)
                if self._subscribed is not None:
                    self._subscribed(name)
            if joined is Joined.FIRST:
                change = await self._broker.enter(name, session.user)
                if change.changed:
                    if self._occupancy.shows(change.count):
                        await self._announce(name, "join", session.user)
                    self._occupancy.changed(name, change.count)
            # History is read after the connection is in the room, so nothing falls between the
            # two; a message may come both live and in history, and clients keep one per id.
            limits = self._limits
            if since is None:
                page = await self._reads.history(name, limit=limits.join_history)
                gap = False
            else:
                page = await self._reads.history(name, limit=limits.resume_limit, after=since)
                first = page.messages[0].id if page.messages else page.last_id + 1
                gap = first != since + 1 or since > page.last_id
            read, seen = await self._marks(room, session.user.id)
            members = await members_page(self._broker, limits, name, first=limits.join_members)
            # The changes are read last, after the history, and nothing waits between this
            # read and the reply: a live ``message_changed`` queued before the reply is older
            # than the replayed ones that follow it, and one that comes after the reply is
            # newer, or an older one still in flight that its newer successors follow. So the
            # client ends with each message's newest state.
            changes: tuple[Change, ...] = ()
            if since is not None and since <= page.last_id:
                log = await self._reads.changes(name, since=since, limit=limits.resume_limit)
                changes, gap = log.changes, gap or log.gap
        except BaseException:
            # A failed join answers with an error, so the connection must not stay in the room.
            if joined is not Joined.ALREADY:
                await self.leave(hub, session, name)
            raise
        if session.follows_unread and name not in session.following:
            hub.follow(session, [*session.following, name])  # it belongs to the room now
        return Joining(
            room, members.members, page, gap, changes, read, seen, members.count, members.next
        )

    async def _marks(self, room: Room, user_id: str) -> tuple[int, int | None]:
        """The user's read mark (made at the newest message on a first join of a group
        room), and in a direct room the other user's."""
        if not room.is_direct:
            return await self._store.mark_read(room.name, user_id, None), None
        marks = await self._store.read_marks(room.name)
        other = next((user for user in room.users if user != user_id), user_id)
        return marks.get(user_id, 0), marks.get(other, 0)

    async def leave(self, hub: Hub, session: Session, name: str) -> None:
        left = hub.leave(session, name)
        if left.room_empty:
            await self._broker.unsubscribe(ToRoom(name).channel)
        if left.departed:
            await self.depart(Departure(name, session.user))

    async def depart(self, departure: Departure) -> None:
        """The user has no connection of this process in the room any more (they left, or
        their grace ran out): announce it if no other process holds them there."""
        room, user = departure.room, departure.user
        change = await self._broker.exit(room, user.id)
        if not change.changed:
            return
        if self._occupancy.shows(change.count):
            await self._announce(room, "leave", user)
        self._occupancy.changed(room, change.count)
        if self._auto_rooms is not None:
            await self._auto_rooms.drop_if_unused(room)

    async def departed(self, room: str, users: tuple[User, ...]) -> None:
        """``users`` left ``room`` with their dead process (the broker has taken them out of
        its presence): a ``presence`` leave each if the room was within the limit before, else
        one ``occupancy`` count for them all, as their leaves one by one would have given."""
        try:
            count = (await self._broker.counts([room])).get(room, 0)
            if self._occupancy.shows(count + len(users)):
                for user in users:
                    await self._announce(room, "leave", user)
                self._occupancy.changed(room, count)
            else:
                self._occupancy.changed(room)  # its last count may be at or below the limit
        except ChatError:
            log.warning("could not announce who left %s with their process", room)
        except Exception:
            log.exception("announcing who left %s with their process failed", room)

    async def _announce(self, room: str, event: Literal["join", "leave"], user: User) -> None:
        frame = encode(PresenceEvent(room=room, event=event, user=user))
        await self._broker.publish(Envelope(ToRoom(room), frame))
        if self._announced is not None:
            self._announced(room, event, user)
