"""The runtime: drives the hub with a store, a broker, a directory and a policy, on anyio.

:class:`ChatServer` is the application API and the process's lifecycle. Its public methods act
with full authority: they check values (texts, titles, room names) but ask no policy, and
count no per-client limit, on anyone's behalf. Adapters call :meth:`ChatServer.connect` for an
authenticated user and get a :class:`~chatcore.runtime.connection.Connection`, whose commands pass the
client checks (``_checks``) before reaching the server through :class:`~chatcore.runtime.ports.Runtime`.

Its parts with a job of their own: ``_posting`` (how a post is stored and sent, chosen once
here), ``_leave_timers`` (presence grace), ``_auto_rooms`` (rooms that come and go with their
members), ``_spawn`` (short tasks) and ``_quotas`` (per-user room quotas).
"""

from __future__ import annotations

import itertools
import logging
import secrets
from collections.abc import Callable, Coroutine, Mapping
from types import TracebackType
from typing import Any, Self

import anyio
from anyio.abc import TaskGroup

from ..backends.broker import Broker
from ..backends.directory import Directory, MemoryDirectory
from ..backends.envelope import Departed, Envelope, Target, ToRoom, ToUser, UserChanged, UserKicked
from ..backends.memory_broker import MemoryBroker
from ..backends.memory_store import MemoryStore
from ..backends.store import Appended, HistoryPage, Store
from ..clock import Clock, SystemClock
from ..policy import Policy
from ..wire.errors import (
    ChatError,
    CloseCode,
    InvalidField,
    NoSuchUser,
    RecipientUnavailable,
    UsageError,
)
from ..wire.events import Event, PresenceEvent, PrivateEvent, TypingEvent, Welcome
from ..wire.limits import Limits
from ..wire.protocol import encode
from ..wire.values import (
    DIRECT_PREFIX,
    Message,
    Room,
    User,
    check_client_id,
    check_meta,
    check_text,
)
from ..wire.values import ROOM_LIST_CHANNEL as _ROOMS_CHANNEL
from . import _checks, _posting
from ._auto_rooms import AutoRooms
from ._gap_fill import GapFill
from ._joins import Joins
from ._leave_timers import LeaveTimers
from ._messages import KEEP, Messages
from ._quotas import RoomQuotas
from ._rooms import Rooms
from ._shared_reads import SharedReads
from ._spawn import Spawner
from .connection import Connection
from .hub import Hub, Session
from .outbox import Outbox
from .ports import Joining
from .ratelimit import TokenBucket

__all__ = ("ChatServer", "Joining")

log = logging.getLogger("chatcore")


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
        self._spawner: Spawner | None = None
        self._posting = _posting.choose(self.store, self.broker)
        self._room_quotas = RoomQuotas(self.limits, self.clock)
        self._rooms = Rooms(self.store, self.broker, self._room_quotas, self.find_user)
        self._auto_rooms = AutoRooms(
            self.store, self.broker, self._room_quotas, self._rooms.announce, self._rooms.delete
        )
        # Broker outages: each room's gap is filled from the store (see _gap_fill), and
        # identical history reads in flight are shared (see _shared_reads).
        self._gaps = GapFill(self.store, self.limits, lambda: self.hub, self._deliver, self.spawn)
        self._reads = SharedReads(self.store, self._gaps.token, self.clock.now)
        self._joins = Joins(
            self.store,
            self.broker,
            self.limits,
            self._auto_rooms if auto_create else None,
            self._reads,
        )
        self._timers = LeaveTimers(self.clock, self._joins.depart)
        self._messages = Messages(
            self.store, self.broker, self._posting, self.limits, self.clock, self.spawn
        )

    # lifecycle

    async def __aenter__(self) -> Self:
        if self._task_group is not None:
            raise UsageError("the server is already running")
        task_group = anyio.create_task_group()
        await task_group.__aenter__()
        try:
            await task_group.start(self.broker.run, self._on_envelope)
            await self.broker.subscribe(_ROOMS_CHANNEL)
            task_group.start_soon(self._timers.run, self.hub)
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
        for session in list(self.hub.conns.values()):
            session.outbox.close(CloseCode.GOING_AWAY)
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
            self._room_quotas.clear()
        if single is exc:
            return False  # the error raised in the body, as it was
        raise single

    @property
    def running(self) -> bool:
        return self._task_group is not None

    # connections (for adapters)

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
        _checks.admit(limits, self.hub, user)
        session = Session(
            id=next(self._ids),
            user=user,
            outbox=Outbox(limits.outbox, limits.outbox_bytes),
            rate=TokenBucket(limits.rate, limits.burst, now),
            abuse=TokenBucket(
                limits.abuse_errors * 1000 / limits.abuse_window, limits.abuse_errors, now
            ),
        )
        self.directory.remember(user)
        session.outbox.put(encode(Welcome(user=user, limits=limits.to_wire())))
        if self.hub.connect(session):
            try:
                await self.broker.subscribe(ToUser(user.id).channel)
                await self.broker.connect(user)
            except BaseException:
                await self.disconnect(session)
                raise
        return Connection(self, session)

    async def disconnect(self, session: Session) -> None:
        """Forget a closed connection; its rooms get leave timers (``presence_grace``)."""
        session.outbox.close(CloseCode.NORMAL)
        last, empty = self.hub.disconnect(session, self.clock.now())
        self._timers.wake()
        with anyio.CancelScope(shield=True):
            try:
                for room in empty:
                    await self.broker.unsubscribe(ToRoom(room).channel)
                if last:
                    await self.broker.unsubscribe(ToUser(session.user.id).channel)
                    await self.broker.disconnect(session.user.id)
            except ChatError:
                log.warning("broker unavailable while %s disconnected", session.user.id)
            except Exception:
                # The connection is gone here whatever the broker did: a closing socket's
                # adapter must not fail for it.
                log.exception("the broker failed while %s disconnected", session.user.id)

    @property
    def pipelines_sends(self) -> bool:
        """Whether a connection's ``send`` frames are pipelined: each one's post is started
        while the ones before are still in flight (see :class:`~chatcore.runtime.connection.Connection`).
        True when posts can overlap: the store or the broker keeps a room's messages in order."""
        return self._posting.overlaps

    @property
    def spawns_in_order(self) -> bool:
        """Whether tasks from :meth:`spawn` take their first steps in the order started."""
        return self._spawner is not None and self._spawner.in_order

    def spawn(self, function: Callable[..., Coroutine[Any, Any, None]], *args: Any) -> None:
        """Run ``function(*args)`` in a short task of the running server (it must handle its
        own errors); it is cancelled when the server stops."""
        if self._spawner is None:
            raise UsageError("start the server first: async with server: ...")
        self._spawner.start(function, *args)

    # rooms

    async def get_room(self, name: str, user: User | None = None) -> Room:
        """The room ``name``, as ``user`` may see it; :class:`NoSuchRoom` otherwise."""
        return await self._rooms.get(name, user)

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
        return await self._rooms.create(name, title, owner, quota)

    async def update_room(self, name: str, title: str) -> Room:
        """Rename the room ``name`` and announce it."""
        return await self._rooms.update(name, title)

    async def delete_room(self, name: str) -> None:
        """Delete the room ``name`` and its history; its members are removed from it."""
        await self._rooms.delete(name)

    async def list_rooms(self, user: User) -> list[dict[str, object]]:
        """The rooms ``user`` can see, in wire form."""
        return await self._rooms.listed(user)

    async def room_wire(self, room: Room) -> dict[str, object]:
        """``room`` in wire form, with its member count."""
        return await self._rooms.wire(room)

    async def direct_room(self, user: User, other: str | User) -> Room:
        """The direct room of ``user`` and ``other`` (a user id, or the user), created (and
        announced) on first use."""
        return await self._rooms.direct(user, other)

    def auto_creates(self, name: str) -> bool:
        """Whether joining ``name`` creates it when it is missing (``auto_create``; never a
        direct room's name)."""
        return self.auto_create and not name.startswith(DIRECT_PREFIX)

    async def create_auto_room(self, name: str, creator: User) -> Room | None:
        """Create the room ``name`` that ``creator`` joins, to be deleted with its last
        member (``rooms_per_hour`` applies); None if it is gone again already."""
        return await self._auto_rooms.create(name, creator)

    def watch_rooms(self, session: Session, on: bool) -> None:
        """Whether ``session`` gets the ``room`` events of every room it can see."""
        self.hub.watch(session, on)

    # membership

    async def join(self, session: Session, room: Room, since: int | None = None) -> Joining:
        """Put ``session`` in ``room``, announcing the user if new there; the members and the
        history (the newest page, or what came after ``since``)."""
        if not self.hub.has_local(room.name):
            self._gaps.subscribing(room.name)
        joining = await self._joins.join(self.hub, session, room, since)
        self._gaps.joined(room.name, joining.history.last_id)
        return joining

    async def leave(self, session: Session, name: str) -> None:
        """Take ``session`` out of the room ``name`` (the user leaves it with their last one)."""
        await self._joins.leave(self.hub, session, name)

    async def members(self, room: str) -> list[User]:
        """The users in ``room``, in every process."""
        return await self.broker.members(room)

    async def history(self, room: str, *, limit: int, before: int | None = None) -> HistoryPage:
        """Up to ``limit`` of ``room``'s newest messages (older than id ``before``)."""
        return await self._reads.history(room, limit=limit, before=before)

    # messages

    async def post(
        self,
        room: str,
        text: str,
        *,
        sender: User,
        client_id: str | None = None,
        reply_to: int | None = None,
        meta: Mapping[str, Any] | None = None,
    ) -> Appended:
        """Store ``text`` in ``room`` and send it to the room's connections. ``reply_to`` must
        be the id of a message the room's history holds (:class:`InvalidField` otherwise);
        ``meta`` is the app's JSON object (at most 2,048 bytes encoded)."""
        text = check_text(text, self.limits.max_text)
        if client_id is not None:
            check_client_id(client_id)
        if reply_to is None and meta is None:
            return await self._posting.post(room, sender, text, self.clock.now(), client_id)
        if meta is not None:
            check_meta(meta)
        if reply_to is not None and await self.store.get_message(room, reply_to) is None:
            raise InvalidField("'reply_to' is not a message of this room", field="reply_to")
        return await self._posting.post(
            room, sender, text, self.clock.now(), client_id, reply_to, meta
        )

    async def get_message(self, room: str, message_id: int) -> Message:
        """The message ``message_id`` of ``room`` as it is now; :class:`NoSuchMessage` when the
        history does not hold it or it was deleted."""
        return await self._messages.get(room, message_id)

    async def edit_message(
        self, room: str, message_id: int, text: str, *, meta: Mapping[str, Any] | None = KEEP
    ) -> Message:
        """Change a message's text (and ``meta``, if given: None removes it); the room gets
        ``message_changed``. Anyone's message: the author check is the client's."""
        return await self._messages.edit(room, message_id, text, meta)

    async def delete_message(self, room: str, message_id: int) -> Message:
        """Delete a message: it keeps its id and place, and loses its text, meta and
        reactions; the room gets ``message_changed``."""
        return await self._messages.delete(room, message_id)

    async def react(self, room: str, message_id: int, user: User, emoji: str) -> Message:
        """Add ``user``'s ``emoji`` to a message (once per user and emoji)."""
        return await self._messages.react(room, message_id, user.id, emoji)

    async def unreact(self, room: str, message_id: int, user: User, emoji: str) -> Message:
        """Take ``user``'s ``emoji`` off a message."""
        return await self._messages.unreact(room, message_id, user.id, emoji)

    async def mark_read(self, room: Room, user: User, message_id: int) -> int:
        """Move ``user``'s read mark in ``room`` forward to ``message_id`` (clamped to the
        newest message); their connections, and in a direct room the other user's, get
        ``read``. Returns the mark."""
        return await self._messages.mark_read(room, user.id, message_id)

    async def follow_unread(self, session: Session, on: bool) -> None:
        """Whether ``session`` gets the new ``message`` events of every room its user belongs
        to, joined or not (to keep unread counts current)."""
        session.follows_unread = on
        rooms = await self._rooms.belonging(session.user) if on else []
        subscribe, unsubscribe = self.hub.follow(session, rooms)
        for room in subscribe:
            self._gaps.subscribing(room)
            await self.broker.subscribe(ToRoom(room).channel)
        for room in unsubscribe:
            await self.broker.unsubscribe(ToRoom(room).channel)

    async def send_private(
        self, sender: User, to: str | User, text: str, room: str | None = None
    ) -> PrivateEvent:
        """Send ``text`` to every connection of user ``to`` (an id, or the user) and of
        ``sender``, and nobody else."""
        text = check_text(text, self.limits.max_text)
        to_id = to if isinstance(to, str) else to.id
        if to_id == sender.id:
            raise InvalidField("you cannot send a private message to yourself", field="to")
        recipient = await self.find_user(to) if isinstance(to, str) else to
        if not await self.broker.is_online(to_id):
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
        await self.broker.publish(Envelope(ToUser(to_id), frame))
        await self.broker.publish(Envelope(ToUser(sender.id), frame))
        return event

    async def find_user(self, user_id: str) -> User:
        """The user ``user_id``, online or not (the directory); :class:`NoSuchUser` otherwise."""
        user = await self.directory.get_user(user_id)
        if user is None:
            raise NoSuchUser(field="to")
        return user

    async def typing(self, session: Session, room: str) -> None:
        """Tell ``room``'s other users that ``session``'s user is typing (at most once an
        interval)."""
        if self.hub.typing_allowed(
            session.user.id, room, self.clock.now(), self.limits.typing_interval
        ):
            await self._publish(
                ToRoom(room, exclude_user=session.user.id),
                TypingEvent(room=room, user=session.user),
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
                self._spawner.start(self._auto_rooms.after_departure, effect.room)
            return
        if self._gaps.hold(envelope):
            return  # a link notice, or held until its room's gap is filled
        self._deliver(envelope)

    def _deliver(self, envelope: Envelope) -> None:
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
