"""The runtime: drives the hub with a store, a broker, a directory and a policy, on anyio.

The :class:`ChatServer` is the only part that awaits. Adapters call :meth:`ChatServer.connect`
for an authenticated user and get a :class:`~chatcore.connection.Connection`; application code
calls the rest (``post``, ``send_private``, ``update_user``, ...) to act on the chat directly.
"""

from __future__ import annotations

import itertools
import logging
import secrets
from collections.abc import Callable, Coroutine
from types import TracebackType
from typing import Any, Literal, Self

import anyio
import attrs
from anyio.abc import TaskGroup

from ._queue_lock import KeyedLock
from ._quotas import RoomQuotas
from ._spawn import Spawner
from .broker import Broker
from .clock import Clock, SystemClock
from .connection import Connection
from .directory import Directory, MemoryDirectory
from .envelope import (
    Departed,
    Effect,
    Envelope,
    RoomRemoved,
    Target,
    ToRoom,
    ToRoomList,
    ToUser,
    UserChanged,
    UserKicked,
)
from .errors import (
    ChatError,
    CloseCode,
    Forbidden,
    InvalidField,
    NoSuchRoom,
    NoSuchUser,
    QuotaExceeded,
    RecipientUnavailable,
    RoomExists,
    Unavailable,
    UsageError,
)
from .events import (
    Event,
    PresenceEvent,
    PrivateEvent,
    RoomEvent,
    TypingEvent,
    Welcome,
)
from .hub import Conn, Departure, Hub, Joined
from .limits import Limits
from .memory_broker import MemoryBroker
from .memory_store import MemoryStore
from .outbox import Outbox
from .policy import Policy
from .protocol import encode
from .ratelimit import TokenBucket
from .store import Appended, HistoryPage, Store
from .values import DIRECT_PREFIX as _DIRECT_PREFIX
from .values import ROOM_LIST_CHANNEL as _ROOMS_CHANNEL
from .values import (
    Room,
    RoomKind,
    User,
    check_client_id,
    check_room_name,
    check_text,
    check_title,
    direct_room_name,
    direct_room_title,
)

__all__ = ("ChatServer", "Joining")

log = logging.getLogger("chatcore")


@attrs.frozen
class Joining:
    """What a connection gets when it joins a room."""

    room: Room
    members: list[User]
    history: HistoryPage
    gap: bool


class ChatServer:
    """A chat server for one process. Use it as ``async with ChatServer() as server:``."""

    def __init__(
        self,
        *,
        store: Store | None = None,
        broker: Broker | None = None,
        directory: Directory | None = None,
        policy: Policy | None = None,
        limits: Limits | None = None,
        clock: Clock | None = None,
        auto_create: bool = False,
    ) -> None:
        self.limits = limits or Limits()
        self.store: Store = store or MemoryStore(
            self.limits.history_size, history_bytes=self.limits.history_bytes
        )
        self.broker: Broker = broker or MemoryBroker()
        self.directory: Directory = directory or MemoryDirectory()
        self.policy = policy or Policy()
        self.clock: Clock = clock or SystemClock()
        self.auto_create = auto_create
        self.hub = Hub(self.limits.presence_grace)
        # Connection ids keep growing across runs: a connection of an earlier run that closes
        # late must not be taken for a new one with its id.
        self._ids = itertools.count(1)
        self._task_group: TaskGroup | None = None
        self._timer_scope: anyio.CancelScope | None = None
        self._posting = KeyedLock()
        self._room_quotas = RoomQuotas(self.limits, self.clock)
        self._spawner: Spawner | None = None

    # lifecycle

    async def __aenter__(self) -> Self:
        if self._task_group is not None:
            raise UsageError("the server is already running")
        task_group = anyio.create_task_group()
        await task_group.__aenter__()
        try:
            await task_group.start(self.broker.run, self._on_envelope)
            await self.broker.subscribe(_ROOMS_CHANNEL)
            task_group.start_soon(self._run_timers)
        except BaseException as error:
            task_group.cancel_scope.cancel()
            await task_group.__aexit__(type(error), error, error.__traceback__)
            raise
        self._task_group = task_group
        self._spawner = Spawner(task_group)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        """Close every connection with 1001 and forget them: a server entered again starts
        with no connection, member or online user of its last run (the broker's ``run``
        ending takes this process's presence away, as when a process dies). Rooms and
        history stay in the store."""
        task_group, self._task_group = self._task_group, None
        spawner, self._spawner = self._spawner, None
        assert task_group is not None
        assert spawner is not None
        for conn in list(self.hub.conns.values()):
            conn.outbox.close(CloseCode.GOING_AWAY)
        with anyio.CancelScope(shield=True):
            await spawner.aclose()
        task_group.cancel_scope.cancel()
        try:
            return await task_group.__aexit__(exc_type, exc, tb)
        except BaseExceptionGroup as group:
            # The task group wraps what it raises in a group; one error comes out as itself.
            if len(group.exceptions) != 1:
                raise
            single = group.exceptions[0]
        finally:
            self.hub = Hub(self.limits.presence_grace)
            self._timer_scope = None
            self._room_quotas.clear()
        if single is exc:
            return False  # the error raised in the body, as it was
        raise single

    @property
    def running(self) -> bool:
        return self._task_group is not None

    # connections

    async def connect(self, user: User) -> Connection:
        """Open a connection for an authenticated ``user``; its first frame is ``welcome``.

        Raises :class:`QuotaExceeded` when the user has ``connections_per_user`` open
        connections in this process already (adapters close the socket with 4429), and
        :class:`Unavailable` when the process has ``max_connections`` (adapters close it with
        1013)."""
        if self._task_group is None:
            raise UsageError("start the server first: async with server: ...")
        now = self.clock.now()
        limits = self.limits
        if len(self.hub.conns) >= limits.max_connections:
            raise Unavailable("the server is full; try again later")
        open_conns = sum(c.outbox.close_code is None for c in self.hub.user_conns(user.id))
        if open_conns >= limits.connections_per_user:
            raise QuotaExceeded(
                f"quota connections_per_user: {open_conns} connections open, the most allowed"
            )
        conn = Conn(
            id=next(self._ids),
            user=user,
            outbox=Outbox(limits.outbox, limits.outbox_bytes),
            rate=TokenBucket(limits.rate, limits.burst, now),
            abuse=TokenBucket(
                limits.abuse_errors * 1000 / limits.abuse_window, limits.abuse_errors, now
            ),
        )
        self.directory.remember(user)
        conn.outbox.put(encode(Welcome(user=user, limits=limits.to_wire())))
        if self.hub.connect(conn):
            try:
                await self.broker.subscribe(ToUser(user.id).channel)
                await self.broker.connect(user)
            except BaseException:
                await self.disconnect(conn)
                raise
        return Connection(self, conn)

    async def disconnect(self, conn: Conn) -> None:
        """Forget a closed connection; its rooms get leave timers (``presence_grace``)."""
        conn.outbox.close(CloseCode.NORMAL)
        last, empty = self.hub.disconnect(conn, self.clock.now())
        self._wake_timers()
        with anyio.CancelScope(shield=True):
            try:
                for room in empty:
                    await self.broker.unsubscribe(ToRoom(room).channel)
                if last:
                    await self.broker.unsubscribe(ToUser(conn.user.id).channel)
                    await self.broker.disconnect(conn.user.id)
            except ChatError:
                log.warning("broker unavailable while %s disconnected", conn.user.id)
            except Exception:
                # The connection is gone here whatever the broker did: a closing socket's
                # adapter must not fail for it.
                log.exception("the broker failed while %s disconnected", conn.user.id)

    # rooms

    async def get_room(self, name: str, user: User | None = None) -> Room:
        """The room ``name``, as ``user`` may see it; :class:`NoSuchRoom` otherwise."""
        room = await self.store.get_room(name)
        if room is None or (user is not None and not room.visible_to(user.id)):
            raise NoSuchRoom(field="room")
        return room

    async def create_room(
        self,
        name: str,
        title: str | None = None,
        owner: User | None = None,
        *,
        quota: bool = True,
    ) -> Room:
        """Create and announce a group room. A room with an ``owner`` counts against the
        owner's quotas (``rooms_per_user``, ``rooms_per_hour``) unless ``quota`` is False;
        past one it raises :class:`QuotaExceeded`."""
        check_room_name(name)
        if name.startswith(_DIRECT_PREFIX):
            raise InvalidField(
                f"room names starting with {_DIRECT_PREFIX!r} are reserved", field="room"
            )
        title = check_title(title) if title else name
        room = Room(name=name, title=title, owner=owner.id if owner else None)
        if owner is not None and quota:
            async with self._room_quotas.creating(owner, self.store, owned=True):
                await self.store.create_room(room)
        else:
            await self.store.create_room(room)
        await self._room_event("created", room)
        return room

    async def update_room(self, name: str, title: str) -> Room:
        room = await self.store.update_room(name, check_title(title))
        await self._room_event("updated", room)
        return room

    async def delete_room(self, name: str) -> None:
        room = await self.get_room(name)
        await self.store.delete_room(name)
        await self.broker.clear(name)
        await self._room_event("deleted", room, effect=RoomRemoved(name))

    async def list_rooms(self, user: User) -> list[dict[str, object]]:
        rooms = await self.store.list_rooms(user.id)
        counts = await self.broker.counts([room.name for room in rooms])
        return [room.to_wire(counts.get(room.name, 0)) for room in rooms]

    async def room_wire(self, room: Room) -> dict[str, object]:
        counts = await self.broker.counts([room.name])
        return room.to_wire(counts.get(room.name, 0))

    async def direct_room(self, user: User, other_id: str) -> Room:
        """The direct room of ``user`` and ``other_id``, created (and announced) on first use."""
        if other_id == user.id:
            raise InvalidField("a direct conversation needs another user", field="to")
        other = await self._recipient(user, other_id)
        name = direct_room_name(user.id, other.id)
        room = await self.store.get_room(name)
        if room is not None:
            return room
        room = Room(
            name=name,
            title=direct_room_title(user, other),
            kind=RoomKind.DIRECT,
            users=tuple(sorted((user.id, other.id))),
        )
        try:
            await self.store.create_room(room)
        except RoomExists:
            return await self.get_room(name)
        await self._room_event("created", room)
        return room

    async def _room_event(
        self,
        event: Literal["created", "updated", "deleted"],
        room: Room,
        effect: Effect | None = None,
    ) -> None:
        members = 0 if event == "deleted" else (await self.broker.counts([room.name]))[room.name]
        frame = encode(RoomEvent(event=event, room=room, members=members))
        if room.is_direct:
            for user_id in room.users:
                await self.broker.publish(Envelope(ToUser(user_id), frame, effect=effect))
            if effect is not None:
                await self.broker.publish(Envelope(ToRoom(room.name), None, effect=effect))
        else:
            await self.broker.publish(Envelope(ToRoomList(room.name), frame, effect=effect))

    # membership

    async def join(self, conn: Conn, name: str, since: int | None = None) -> Joining:
        room = await self.store.get_room(name)
        if room is None and self.auto_create and not name.startswith(_DIRECT_PREFIX):
            if not await self.policy.can_create(conn.user, name):
                raise Forbidden("you may not create rooms", field="room")
            room = Room(name=name, title=name, auto=True)
            try:
                async with self._room_quotas.creating(conn.user, self.store, owned=False):
                    await self.store.create_room(room)
                await self._room_event("created", room)
            except RoomExists:
                room = None
            room = room or await self.store.get_room(name)
        if room is None or not room.visible_to(conn.user.id):
            raise NoSuchRoom(field="room")
        if not await self.policy.can_join(conn.user, room):
            raise Forbidden("you may not join this room", field="room")
        if room.name not in conn.rooms and len(conn.rooms) >= self.limits.rooms_per_connection:
            raise Forbidden("this connection is in too many rooms", field="room")
        joined, new_room = self.hub.join(conn, name)
        try:
            if new_room:
                await self.broker.subscribe(ToRoom(name).channel)
            if joined is Joined.FIRST and await self.broker.join(name, conn.user):
                await self._publish(
                    ToRoom(name), PresenceEvent(room=name, event="join", user=conn.user)
                )
            # History is read after the connection is in the room, so nothing falls between the
            # two; a message may come both live and in history, and clients keep one per id.
            limits = self.limits
            if since is None:
                page = await self.store.history(name, limit=limits.join_history)
                gap = False
            else:
                page = await self.store.history(name, limit=limits.resume_limit, after=since)
                first = page.messages[0].id if page.messages else page.last_id + 1
                gap = first != since + 1 or since > page.last_id
            members = await self.broker.members(name)
        except BaseException:
            # A failed join answers with an error, so the connection must not stay in the room.
            if joined is not Joined.ALREADY:
                await self.leave(conn, name)
            raise
        return Joining(room, members, page, gap)

    async def leave(self, conn: Conn, name: str) -> None:
        left = self.hub.leave(conn, name)
        if left.room_empty:
            await self.broker.unsubscribe(ToRoom(name).channel)
        if left.departed:
            await self._depart(Departure(name, conn.user))

    async def _depart(self, departure: Departure) -> None:
        room, user = departure.room, departure.user
        if not await self.broker.leave(room, user.id):
            return
        await self._publish(ToRoom(room), PresenceEvent(room=room, event="leave", user=user))
        await self._drop_if_unused(room)

    async def _drop_if_unused(self, room: str) -> None:
        """Delete ``room`` if it vanishes with its last member (``auto_create``) and has none."""
        if self.auto_create:
            stored = await self.store.get_room(room)
            if stored is not None and stored.auto and not await self.broker.members(room):
                await self.delete_room(room)

    async def _after_departure(self, room: str) -> None:
        try:
            await self._drop_if_unused(room)
        except NoSuchRoom:
            pass  # another process deleted it first
        except ChatError:
            log.warning("could not check whether %s is still in use", room)
        except Exception:
            log.exception("checking whether %s is still in use failed", room)

    def _wake_timers(self) -> None:
        if self._timer_scope is not None:
            self._timer_scope.cancel()

    async def _run_timers(self) -> None:
        while True:
            deadline = self.hub.next_deadline()
            with anyio.CancelScope() as self._timer_scope:
                if deadline is None:
                    await anyio.sleep_forever()
                else:
                    await self.clock.sleep_until(deadline)
            self._timer_scope = None
            for departure in self.hub.due(self.clock.now()):
                try:
                    await self._depart(departure)
                except ChatError:
                    log.warning(
                        "could not announce that %s left %s", departure.user.id, departure.room
                    )
                except Exception:
                    # A bug or a broken backend must not stop the timers of every other room.
                    log.exception(
                        "announcing that %s left %s failed", departure.user.id, departure.room
                    )

    # messages

    async def post(
        self, room: str, text: str, *, sender: User, client_id: str | None = None
    ) -> Appended:
        """Store ``text`` in ``room`` and send it to the room's connections."""
        text = check_text(text, self.limits.max_text)
        if client_id is not None:
            check_client_id(client_id)
        now = self.clock.now()
        if self.store.pipelined:
            # The store publishes, in id order, and posts of a room may overlap.
            return await self.store.append(room, sender, text, now, client_id)
        # One writer per room at a time, so messages reach every connection in id order; a
        # broker that orders a room's messages itself need not be waited for.
        await self._posting.acquire(room)
        try:
            appended = await self.store.append(room, sender, text, now, client_id)
            publish = appended.created and not appended.published
            if publish and not self.broker.orders_messages:
                await self.broker.publish(Envelope.message(appended.message))
                publish = False
        finally:
            self._posting.release(room)
        if publish:
            await self.broker.publish(Envelope.message(appended.message))
        return appended

    @property
    def pipelines_sends(self) -> bool:
        """Whether a connection's ``send`` frames are pipelined: each one's post is started
        while the ones before are still in flight (see :class:`~chatcore.connection.Connection`).
        True when posts can overlap: the store or the broker keeps a room's messages in order."""
        return self.store.pipelined or self.broker.orders_messages

    @property
    def _spawns_in_order(self) -> bool:
        return self._spawner is not None and self._spawner.in_order

    def _spawn(self, function: Callable[..., Coroutine[Any, Any, None]], *args: Any) -> None:
        """Run ``function(*args)`` in a short task of the running server (it must handle its
        own errors); it is cancelled when the server stops."""
        if self._spawner is None:
            raise UsageError("start the server first: async with server: ...")
        self._spawner.start(function, *args)

    async def send_private(
        self, sender: User, to: str, text: str, room: str | None = None
    ) -> PrivateEvent:
        """Send ``text`` to every connection of user ``to`` and of ``sender``, and nobody else."""
        text = check_text(text, self.limits.max_text)
        if to == sender.id:
            raise InvalidField("you cannot send a private message to yourself", field="to")
        recipient = await self._recipient(sender, to)
        if not await self.broker.is_online(to):
            raise RecipientUnavailable(field="to")
        event = PrivateEvent(
            id=secrets.randbits(52),
            ts=self.clock.now(),
            sender=sender,
            to=recipient,
            text=text,
            room=room,
        )
        frame = encode(event)
        await self.broker.publish(Envelope(ToUser(to), frame))
        await self.broker.publish(Envelope(ToUser(sender.id), frame))
        return event

    async def _recipient(self, sender: User, user_id: str) -> User:
        recipient = await self.directory.get_user(user_id)
        if recipient is None:
            raise NoSuchUser(field="to")
        if not await self.policy.can_message(sender, recipient):
            raise Forbidden("you may not message this user", field="to")
        return recipient

    async def typing(self, conn: Conn, room: str) -> None:
        if self.hub.typing_allowed(
            conn.user.id, room, self.clock.now(), self.limits.typing_interval
        ):
            await self._publish(
                ToRoom(room, exclude_user=conn.user.id),
                TypingEvent(room=room, user=conn.user),
                ephemeral=True,
            )

    # users

    async def update_user(self, user: User) -> None:
        """The application changed a user's name or avatar: show it everywhere."""
        self.directory.remember(user)
        rooms = await self.broker.update_user(user)
        await self.broker.publish(Envelope(ToUser(user.id), None, effect=UserChanged(user)))
        for room in rooms:
            await self._publish(ToRoom(room), PresenceEvent(room=room, event="update", user=user))

    async def disconnect_user(self, user_id: str, code: CloseCode = CloseCode.UNAUTHORIZED) -> None:
        """Close every connection of ``user_id``, in every process (for example at logout)."""
        await self.broker.publish(Envelope(ToUser(user_id), None, effect=UserKicked(code)))

    # fan-out

    async def _publish(self, target: Target, event: Event, *, ephemeral: bool = False) -> None:
        await self.broker.publish(Envelope(target, encode(event), ephemeral))

    def _on_envelope(self, envelope: Envelope) -> None:
        effect = envelope.effect
        if type(effect) is Departed:
            if self.auto_create and self._spawner is not None:
                self._spawner.start(self._after_departure, effect.room)
            return
        for room in self.hub.deliver(envelope):
            if self._task_group is not None:
                self._task_group.start_soon(self._unsubscribe_room, room)

    async def _unsubscribe_room(self, room: str) -> None:
        # The room may have been created and joined again before this task ran.
        if self.hub.has_local(room):
            return
        try:
            await self.broker.unsubscribe(ToRoom(room).channel)
        except ChatError:
            log.warning("broker unavailable while leaving the channel of %s", room)
