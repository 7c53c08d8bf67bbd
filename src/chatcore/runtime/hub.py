"""The hub: one process's connections, room membership and presence timers, as pure logic.

Theory of operation
-------------------
The hub knows the connections of this process and which rooms each has joined. It does no I/O
and never awaits: callers pass the time in, and it answers with what changed, so the runtime
knows which broker calls to make. Presence is user-level:

===========================  =====================================================
local event                  outcome for (room, user)
===========================  =====================================================
join, user had no local      ``FIRST``: ask the broker (``join``); announce if it
connection and no pending    says the user is new in the room
leave timer in the room
join while a leave timer     ``RESUMED``: timer cancelled; nothing announced
is pending (a reload)
join, another local          ``ADDED``: nothing announced
connection of the user is in
leave, last local            departure now: ask the broker (``leave``)
connection of the user
disconnect, last local       a leave timer: departure at ``now + grace`` unless the
connection of the user       user joins again first
===========================  =====================================================

A connection may also *follow* rooms without being in them (``rooms`` with ``unread``): it gets
their new ``message`` events only (no presence, typing or changes), so a client keeps unread
counts current. A room with followers but no local member stays subscribed.

Delivery hands one encoded text to every local recipient's outbox. A room keeps a cached list
of its outboxes, rebuilt only when its membership changes, so a message to a room of N
connections costs N ``Outbox.put`` calls and nothing else.
"""

from __future__ import annotations

import enum
import heapq

import attrs

from ..backends.envelope import (
    Envelope,
    RoomRemoved,
    ToRoom,
    ToRoomList,
    ToUser,
    ToWatchers,
    UserChanged,
    UserKicked,
)
from ..metrics import COUNTS
from ..wire.protocol import frame_size
from ..wire.values import User
from ._watches import UserWatches
from .outbox import Outbox
from .ratelimit import TokenBucket

__all__ = ("Departure", "Hub", "Joined", "Left", "Session")


class Joined(enum.Enum):
    ALREADY = "already"  # this connection was in the room
    ADDED = "added"  # another local connection of the user is in the room
    RESUMED = "resumed"  # a pending leave was cancelled
    FIRST = "first"  # the user's first local connection in the room


@attrs.frozen
class Left:
    departed: bool  # the user has no local connection in the room any more
    room_empty: bool  # no local connection is in the room any more


@attrs.frozen
class Departure:
    room: str
    user: User


@attrs.define(eq=False)
class Session:
    """One connection as the hub sees it (its user, outbox, rate buckets and rooms); the
    :class:`~chatcore.runtime.connection.Connection` wraps it for adapters. Identity is the object."""

    id: int
    user: User
    outbox: Outbox
    rate: TokenBucket
    abuse: TokenBucket
    rooms: set[str] = attrs.Factory(set)
    following: set[str] = attrs.Factory(set)
    #: Follows every room its user belongs to (``rooms`` with ``watch`` and ``unread``).
    follows_unread: bool = False
    #: ``react``/``unreact`` bucket, made on the first one.
    reacting: TokenBucket | None = None
    #: Rooms its user is muted in, and until when (None: for ever); see ``_moderation``.
    mutes: dict[str, int | None] = attrs.Factory(dict)
    #: Counts the moderation effects applied to it (a join's read of the mutes is kept only
    #: if none came meanwhile).
    moderated: int = 0
    #: The users whose online status it watches (``watch_users``).
    watching: set[str] = attrs.Factory(set)


class _LocalRoom:
    __slots__ = ("_boxes", "members")

    def __init__(self) -> None:
        self.members: dict[str, set[Session]] = {}
        self._boxes: list[Outbox] | None = None

    def changed(self) -> None:
        self._boxes = None

    def added(self, session: Session) -> None:
        """``session`` joined: the cached list grows by one (a join storm must not rebuild
        the list of a room of N for each of its N joins)."""
        if self._boxes is not None:
            self._boxes.append(session.outbox)

    @property
    def boxes(self) -> list[Outbox]:
        if self._boxes is None:
            self._boxes = [session.outbox for conns in self.members.values() for session in conns]
        return self._boxes


class Hub:
    def __init__(self, grace: int) -> None:
        self.grace = grace
        self.conns: dict[int, Session] = {}
        self._users: dict[str, set[Session]] = {}
        self._rooms: dict[str, _LocalRoom] = {}
        self._watchers: set[Session] = set()
        self._followers: dict[str, set[Session]] = {}
        # (room, user id) -> (deadline, user); the heap may hold stale deadlines
        self._pending: dict[tuple[str, str], tuple[int, User]] = {}
        self._timers: list[tuple[int, str, str]] = []
        self._typing: dict[tuple[str, str], int] = {}
        #: Who watches whose online status (``watch_users``).
        self.user_watches = UserWatches()

    # connections

    def connect(self, session: Session) -> bool:
        """Add ``session``; True if it is the user's first local connection."""
        self.conns[session.id] = session
        conns = self._users.setdefault(session.user.id, set())
        conns.add(session)
        return len(conns) == 1

    def disconnect(self, session: Session, now: int) -> tuple[bool, list[str]]:
        """Remove ``session``: (was the user's last local connection, rooms now empty locally).

        Rooms the user has no other local connection in get a leave timer.
        """
        if self.conns.pop(session.id, None) is None:
            return False, []
        self._watchers.discard(session)
        empty: list[str] = self.unfollow(session)
        for room in list(session.rooms):
            left = self._remove(session, room)
            if left.departed:
                self._start_timer(room, session.user, now + self.grace)
            if left.room_empty:
                empty.append(room)
        conns = self._users[session.user.id]
        conns.discard(session)
        if conns:
            return False, empty
        del self._users[session.user.id]
        return True, empty

    def user_conns(self, user_id: str) -> set[Session]:
        return self._users.get(user_id, set())

    @property
    def room_count(self) -> int:
        """Rooms a local connection is in."""
        return len(self._rooms)

    # membership

    def join(self, session: Session, room: str) -> tuple[Joined, bool]:
        """Put ``session`` in ``room``: (what it means for presence, first local connection in room)."""
        if room in session.rooms:
            return Joined.ALREADY, False
        local = self._rooms.get(room)
        new_room = local is None and room not in self._followers
        if local is None:
            local = self._rooms[room] = _LocalRoom()
        conns = local.members.setdefault(session.user.id, set())
        conns.add(session)
        local.added(session)
        session.rooms.add(room)
        if len(conns) > 1:
            return Joined.ADDED, new_room
        if self._pending.pop((room, session.user.id), None) is not None:
            return Joined.RESUMED, new_room
        return Joined.FIRST, new_room

    def leave(self, session: Session, room: str) -> Left:
        if room not in session.rooms:
            return Left(departed=False, room_empty=False)
        return self._remove(session, room)

    def in_room(self, session: Session, room: str) -> bool:
        return room in session.rooms

    def has_local(self, room: str) -> bool:
        """Whether a local connection is in ``room`` or follows it."""
        return room in self._rooms or room in self._followers

    def local_rooms(self) -> list[str]:
        """The rooms a local connection is in or follows (this process's room channels)."""
        return [*self._rooms, *(room for room in self._followers if room not in self._rooms)]

    def room_sessions(self, room: str) -> list[Session]:
        """The local connections in ``room``."""
        local = self._rooms.get(room)
        return [] if local is None else [s for conns in local.members.values() for s in conns]

    def follow(self, session: Session, rooms: list[str]) -> tuple[list[str], list[str]]:
        """``session`` follows ``rooms`` from now on, instead of those it followed: (the rooms
        that had no local connection before, to subscribe; those that have none now, to
        unsubscribe)."""
        gone = set(self.unfollow(session))
        new: list[str] = []
        for room in rooms:
            followers = self._followers.get(room)
            if followers is None:
                if room not in self._rooms and room not in gone:
                    new.append(room)
                gone.discard(room)
                followers = self._followers[room] = set()
            followers.add(session)
            session.following.add(room)
        return new, sorted(gone)

    def unfollow(self, session: Session, room: str | None = None) -> list[str]:
        """``session`` stops following ``room`` (None: every room); the rooms no local
        connection is in or follows any more (to unsubscribe)."""
        rooms = list(session.following) if room is None else [room]
        empty: list[str] = []
        for name in rooms:
            if name not in session.following:
                continue
            session.following.discard(name)
            followers = self._followers[name]
            followers.discard(session)
            if not followers:
                del self._followers[name]
                if name not in self._rooms:
                    empty.append(name)
        return empty

    def watch(self, session: Session, on: bool) -> None:
        if on:
            self._watchers.add(session)
        else:
            self._watchers.discard(session)

    def _remove(self, session: Session, room: str) -> Left:
        session.rooms.discard(room)
        local = self._rooms[room]
        conns = local.members[session.user.id]
        conns.discard(session)
        local.changed()
        departed = not conns
        if departed:
            del local.members[session.user.id]
            self._typing.pop((session.user.id, room), None)
        room_empty = not local.members
        if room_empty:
            del self._rooms[room]
        return Left(departed=departed, room_empty=room_empty and room not in self._followers)

    # leave timers

    def _start_timer(self, room: str, user: User, deadline: int) -> None:
        self._pending[(room, user.id)] = (deadline, user)
        heapq.heappush(self._timers, (deadline, room, user.id))

    def next_deadline(self) -> int | None:
        timers = self._timers
        while timers:
            deadline, room, user_id = timers[0]
            pending = self._pending.get((room, user_id))
            if pending is not None and pending[0] == deadline:
                return deadline
            heapq.heappop(timers)
        return None

    def due(self, now: int) -> list[Departure]:
        """Pop the leave timers that ran out by ``now``."""
        departures: list[Departure] = []
        while (deadline := self.next_deadline()) is not None and deadline <= now:
            _, room, user_id = heapq.heappop(self._timers)
            _, user = self._pending.pop((room, user_id))
            departures.append(Departure(room, user))
        return departures

    # typing

    def typing_allowed(self, user_id: str, room: str, now: int, interval: int) -> bool:
        """At most one typing notice per user and room per ``interval``."""
        key = (user_id, room)
        last = self._typing.get(key)
        if last is not None and now - last < interval:
            return False
        self._typing[key] = now
        return True

    # delivery

    def deliver(self, envelope: Envelope) -> list[str]:
        """Queue the envelope's frame for its local recipients and apply its effect.

        Returns the rooms that no local connection is in any more (to unsubscribe).
        """
        frame = envelope.frame
        target = envelope.target
        if frame is not None:
            ephemeral = envelope.ephemeral
            size = frame_size(frame)  # once, not per recipient
            # (Counted once per fan-out, not per recipient: chatcore.metrics.)
            if type(target) is ToRoom:
                local = self._rooms.get(target.room)
                if local is not None:
                    if target.exclude_user is None:
                        boxes = local.boxes
                        for box in boxes:
                            box.put(frame, ephemeral, size)
                        COUNTS.deliveries += len(boxes)
                    else:
                        count = 0
                        for user_id, conns in local.members.items():
                            if user_id != target.exclude_user:
                                count += len(conns)
                                for session in conns:
                                    session.outbox.put(frame, ephemeral, size)
                        COUNTS.deliveries += count
                if envelope.message_id is not None and self._followers:
                    self._to_followers(target.room, frame, size)
            else:
                recipients = self._recipients(target)
                for session in recipients:
                    session.outbox.put(frame, ephemeral, size)
                COUNTS.deliveries += len(recipients)
        effect = envelope.effect
        if effect is None:
            return []
        if isinstance(effect, RoomRemoved):
            return self._remove_room(effect.room)
        if isinstance(effect, UserChanged):
            self._change_user(effect.user)
        elif isinstance(effect, UserKicked) and isinstance(target, ToUser):
            for session in self.user_conns(target.user_id):
                session.outbox.close(effect.code)
        return []

    def _to_followers(self, room: str, frame: str, size: int) -> None:
        count = 0
        for session in self._followers.get(room, ()):
            if room not in session.rooms:  # (a member has it already)
                session.outbox.put(frame, False, size)
                count += 1
        COUNTS.deliveries += count

    def _recipients(self, target: ToUser | ToRoomList | ToRoom | ToWatchers) -> set[Session]:
        if isinstance(target, ToUser):
            return self.user_conns(target.user_id)
        if isinstance(target, ToWatchers):
            return self.user_watches.watchers(target.user_id)
        recipients = set(self._watchers)
        local = self._rooms.get(target.room)
        if local is not None:
            for conns in local.members.values():
                recipients.update(conns)
        return recipients

    def _remove_room(self, room: str) -> list[str]:
        for key in [key for key in self._pending if key[0] == room]:
            del self._pending[key]
        followers = self._followers.pop(room, set())
        for session in followers:
            session.following.discard(room)
        local = self._rooms.pop(room, None)
        if local is None:
            return [room] if followers else []
        for user_id, conns in local.members.items():
            self._typing.pop((user_id, room), None)
            for session in conns:
                session.rooms.discard(room)
        return [room]

    def _change_user(self, user: User) -> None:
        for session in self.user_conns(user.id):
            session.user = user
        for key, (deadline, _) in list(self._pending.items()):
            if key[1] == user.id:
                self._pending[key] = (deadline, user)
