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
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from types import TracebackType
from typing import Any, Literal, Self

import anyio
from anyio.abc import TaskGroup

from .. import metrics
from ..backends.broker import Broker
from ..backends.directory import Directory, MemoryDirectory
from ..backends.envelope import (
    Departed,
    Envelope,
    Moderated,
    Target,
    ToRoom,
    ToUser,
    UserChanged,
    UserKicked,
)
from ..backends.memory_broker import MemoryBroker
from ..backends.memory_store import MemoryStore
from ..backends.presence import MembersPage
from ..backends.store import Appended, HistoryPage, Store
from ..clock import Clock, SystemClock
from ..hooks import ChatEvent, Draft, EventKind, Hooks, ModerationAction
from ..metrics import COUNTS
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
from ..wire.moderation import AuditEntry, AuditPage
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
from . import _checks, _metered, _posting
from ._auto_rooms import AutoRooms
from ._gap_fill import GapFill
from ._hooks import HookRunner
from ._joins import Joins
from ._large import Occupancy, members_page
from ._leave_timers import LeaveTimers
from ._messages import KEEP, Messages
from ._moderation import Moderation
from ._online import OnlineStatus
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
        hooks: Hooks | None = None,
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
        #: The application's hooks (``hooks=``; see docs/hooks.md); None: no hook at all.
        self.hooks = hooks
        self._hooks = HookRunner(
            hooks,
            clock=self.clock,
            spawn=self.spawn,
            get_room=self.store.get_room,
            find_user=self.directory.get_user,
            is_online=self.broker.is_online,
            running=lambda: self._spawner is not None,
            policy=self.policy,
        )
        #: Whether message hooks are added: client messages go through :meth:`check_message`
        #: (a plain attribute, read for every ``send``; set again at each start).
        self.checks_messages = self._hooks.checks_messages
        self._posting = _posting.choose(
            self.store, self.broker, self._posted if hooks is not None else None
        )
        self._room_quotas = RoomQuotas(self.limits, self.clock)
        self._rooms = Rooms(
            self.store,
            self.broker,
            self._room_quotas,
            self.find_user,
            self._room_announced if hooks is not None else None,
        )
        self._auto_rooms = AutoRooms(
            self.store, self.broker, self._room_quotas, self._rooms.announce, self._rooms.delete
        )
        self._occupancy = Occupancy(self.broker, self.limits, self.clock, self.spawn)
        self._online = OnlineStatus(self.broker, self.clock, self.limits.presence_grace, self.spawn)
        # Broker outages: each room's gap is filled from the store (see _gap_fill), and
        # identical history reads in flight are shared (see _shared_reads).
        self._gaps = GapFill(self.store, self.limits, lambda: self.hub, self._deliver, self.spawn)
        self._reads = SharedReads(self.store, self._gaps.token, self.clock.now)
        self._joins = Joins(
            self.store,
            self.broker,
            self.limits,
            self._auto_rooms if auto_create else None,
            self._occupancy,
            self._reads,
            self._presence_announced if hooks is not None else None,
            self._gaps.subscribed,
        )
        self._timers = LeaveTimers(self.clock, self._joins.depart)
        self._messages = Messages(
            self.store, self.broker, self._posting, self.limits, self.clock, self.spawn
        )
        self.moderation = Moderation(
            self.store,
            self.broker,
            self.policy,
            self.clock,
            self.limits,
            self.find_user,
            self._joins.depart,
            self._moderation_recorded if hooks is not None else None,
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
        metrics.track(self, _metered.gauges(lambda: self.hub))
        if self.hooks is not None:
            self._hooks.refresh()
            self.checks_messages = self._hooks.checks_messages
            for startup in self.hooks.startups:
                self._spawner.start(self._run_hook, startup, "a startup hook failed")
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
        metrics.untrack(self)
        for session in list(self.hub.conns.values()):
            session.outbox.close(CloseCode.GOING_AWAY)
        if self.hooks is not None:
            # The events emitted before the stop reach the listeners (emit takes no more now).
            wait = anyio.current_time() + self.hooks.stop_wait
            with anyio.CancelScope(shield=True, deadline=wait):
                await self._hooks.idle()
                for stop in self.hooks.stops:
                    await self._run_hook(stop, "a stop hook failed")
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
            for session in self.hub.conns.values():  # counted here, as this hub goes
                _metered.closed(session)
            self.hub = Hub(self.limits.presence_grace)
            self._room_quotas.clear()
            self._occupancy.forget()
            self._online.forget()
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
        COUNTS.frames_out += 1
        if self.hub.connect(session):
            try:
                await self.broker.subscribe(ToUser(user.id).channel)
                await self._online.came(user)
            except BaseException:
                await self.disconnect(session)
                raise
        return Connection(self, session)

    async def disconnect(self, session: Session) -> None:
        """Forget a closed connection; its rooms get leave timers (``presence_grace``)."""
        session.outbox.close(CloseCode.NORMAL)
        if session.id in self.hub.conns:
            _metered.closed(session)
        last, empty = self.hub.disconnect(session, self.clock.now())
        self._timers.wake()
        with anyio.CancelScope(shield=True):
            try:
                if session.watching:
                    await self._online.unwatch(self.hub, session)
                for room in empty:
                    await self.broker.unsubscribe(ToRoom(room).channel)
                if last:
                    await self.broker.unsubscribe(ToUser(session.user.id).channel)
                    await self._online.went(session.user.id)
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
        private: bool = False,
    ) -> Room:
        """Create and announce a group room. A room with an ``owner`` counts against the
        owner's quotas (``rooms_per_user``, ``rooms_per_hour``) unless ``quota`` is False;
        past one it raises :class:`QuotaExceeded`. A ``private`` room is seen by its owner
        and the users invited to it only."""
        return await self._rooms.create(name, title, owner, quota, private)

    async def update_room(self, name: str, title: str) -> Room:
        """Rename the room ``name`` and announce it."""
        return await self._rooms.update(name, title)

    async def delete_room(self, name: str) -> None:
        """Delete the room ``name`` and its history; its members are removed from it."""
        await self._rooms.delete(name)

    async def set_private(self, name: str, private: bool) -> Room:
        """Make the room ``name`` private (its owner and the users present now are invited)
        or public, and announce it."""
        room = await self.moderation.set_private(await self._rooms.get(name), private)
        await self._rooms.announce("updated", room)
        return room

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

    async def members_page(
        self,
        room: str,
        after: str | None = None,
        limit: int | None = None,
        query: str | None = None,
    ) -> MembersPage:
        """A page of ``room``'s members by name, after the cursor ``after`` (a page's
        ``next``), names starting with ``query``; without ``limit``, every member of a room
        that is not large, else the first ``Limits.members_page``."""
        return await members_page(self.broker, self.limits, room, after, limit, query)

    async def watch_users(self, session: Session, users: tuple[str, ...]) -> list[str]:
        """``session`` gets ``status`` events of ``users`` (instead of those it watched);
        returns those online now."""
        return await self._online.watch(self.hub, session, users)

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
        ``meta`` is the app's JSON object (at most 2,048 bytes encoded). The message hooks do
        not see it (they see clients' messages); the listeners hear it."""
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
        message = await self._messages.edit(room, message_id, text, meta)
        self._changed("message_edited", message)
        return message

    async def delete_message(self, room: str, message_id: int) -> Message:
        """Delete a message: it keeps its id and place, and loses its text, meta and
        reactions; the room gets ``message_changed``."""
        message = await self._messages.delete(room, message_id)
        self._changed("message_deleted", message)
        return message

    async def react(self, room: str, message_id: int, user: User, emoji: str) -> Message:
        """Add ``user``'s ``emoji`` to a message (once per user and emoji: a repeat changes
        nothing, and the room and the listeners hear nothing of it)."""
        message, changed = await self._messages.react(room, message_id, user.id, emoji)
        if changed:
            self._changed("reactions_changed", message)
        return message

    async def unreact(self, room: str, message_id: int, user: User, emoji: str) -> Message:
        """Take ``user``'s ``emoji`` off a message (if it is there)."""
        message, changed = await self._messages.unreact(room, message_id, user.id, emoji)
        if changed:
            self._changed("reactions_changed", message)
        return message

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

    # moderation (docs/protocol.md, "Moderation"): full authority; ``by`` is who acts

    async def set_role(self, room: str, user_id: str, role: str, *, by: str) -> None:
        """Make ``user_id`` a ``"moderator"`` of ``room``, or a ``"member"`` again."""
        await self.moderation.set_role(await self._rooms.get(room), user_id, role, by)

    async def kick(self, room: str, user_id: str, *, by: str, reason: str | None = None) -> None:
        """Put ``user_id``'s connections out of ``room`` (in every process); they get
        ``kicked`` and may join again."""
        await self.moderation.kick(await self._rooms.get(room), user_id, by, reason)

    async def ban(
        self,
        room: str,
        user_id: str,
        *,
        by: str,
        until: int | None = None,
        reason: str | None = None,
    ) -> None:
        """Kick ``user_id`` and refuse their ``join`` (``banned``) until ``until`` (ms; None:
        for ever). Stored: it holds in every process and after a restart."""
        await self.moderation.ban(await self._rooms.get(room), user_id, by, until, reason)

    async def unban(self, room: str, user_id: str, *, by: str) -> None:
        await self.moderation.unban(await self._rooms.get(room), user_id, by)

    async def mute(
        self,
        room: str,
        user_id: str,
        *,
        by: str,
        until: int | None = None,
        reason: str | None = None,
    ) -> None:
        """Refuse ``user_id``'s writing in ``room`` (``muted``) until ``until`` (None: for
        ever); they still read."""
        await self.moderation.mute(await self._rooms.get(room), user_id, by, until, reason)

    async def unmute(self, room: str, user_id: str, *, by: str) -> None:
        await self.moderation.unmute(await self._rooms.get(room), user_id, by)

    async def invite(self, room: str, user_id: str, *, by: str) -> Room:
        """Let ``user_id`` see and join the private ``room``; they get a ``room`` event."""
        return await self.moderation.invite(await self._rooms.get(room), user_id, by)

    async def block(self, user_id: str, other: str) -> list[str]:
        """``user_id`` refuses ``other``'s private and direct messages; whom they block now."""
        return await self.moderation.block(user_id, other, True)

    async def unblock(self, user_id: str, other: str) -> list[str]:
        return await self.moderation.block(user_id, other, False)

    async def blocked(self, user_id: str) -> list[str]:
        """The users ``user_id`` blocks."""
        return await self.moderation.blocked(user_id)

    async def audit_log(
        self, room: str, *, limit: int = 100, before: int | None = None
    ) -> AuditPage:
        """The room's moderation log, newest first (entries with ``id < before``)."""
        return await self.moderation.audit_log(room, limit=limit, before=before)

    # hooks (docs/hooks.md)

    async def check_message(self, draft: Draft) -> Draft:
        """``draft`` through the message hooks; raises :class:`MessageRejected` (or
        :class:`Unavailable` when a hook that fails closed timed out or broke)."""
        return await self._hooks.check(draft)

    def emit(self, event: ChatEvent) -> None:
        """Hand ``event`` to the listeners, after the room's earlier events (for events the
        server does not emit itself, such as ``moderation``); never waits."""
        self._hooks.emit(event)

    async def hooks_idle(self) -> None:
        """Wait until the listeners handled every event emitted so far (for tests)."""
        await self._hooks.idle()

    def _posted(self, message: Message) -> None:
        if not self._hooks.listening:
            return
        self._hooks.emit(
            ChatEvent(kind="message_posted", room=message.room, ts=message.ts, message=message)
        )

    def _changed(self, kind: EventKind, message: Message) -> None:
        if self.hooks is not None:
            self._hooks.emit(
                ChatEvent(kind=kind, room=message.room, ts=self.clock.now(), message=message)
            )

    def _room_announced(self, event: Literal["created", "updated", "deleted"], room: Room) -> None:
        kind: EventKind = (
            "room_created"
            if event == "created"
            else "room_updated"
            if event == "updated"
            else "room_deleted"
        )
        self._hooks.emit(ChatEvent(kind=kind, room=room.name, ts=self.clock.now(), room_info=room))

    async def _moderation_recorded(self, entry: AuditEntry) -> None:
        try:
            actor: User | None = await self.find_user(entry.by)
        except ChatError:
            actor = None
        detail = entry.to_wire()
        action = ModerationAction(
            action=entry.action, actor=actor, target=entry.user, detail=detail
        )
        self._hooks.emit(
            ChatEvent(kind="moderation", room=entry.room, ts=entry.ts, moderation=action)
        )

    def _presence_announced(self, room: str, event: Literal["join", "leave"], user: User) -> None:
        kind: EventKind = "user_joined" if event == "join" else "user_left"
        self._hooks.emit(ChatEvent(kind=kind, room=room, ts=self.clock.now(), user=user))

    async def _run_hook(self, hook: Callable[[ChatServer], Awaitable[None]], failed: str) -> None:
        try:
            await hook(self)
        except Exception:
            log.exception(failed)

    # fan-out

    async def _publish(self, target: Target, event: Event, *, ephemeral: bool = False) -> None:
        await self.broker.publish(Envelope(target, encode(event), ephemeral))

    def _on_envelope(self, envelope: Envelope) -> None:
        effect = envelope.effect
        if type(effect) is Departed:
            if self._spawner is not None:
                if effect.users:
                    self._spawner.start(self._joins.departed, effect.room, effect.users)
                else:
                    self._occupancy.changed(effect.room)
            if self.auto_create and self._spawner is not None:
                self._spawner.start(self._auto_rooms.after_departure, effect.room)
            return
        if self._gaps.hold(envelope):
            return  # a link notice, or held until its room's gap is filled
        self._deliver(envelope)

    def _deliver(self, envelope: Envelope) -> None:
        effect = envelope.effect
        for room in self.hub.deliver(envelope):
            if self._task_group is not None:
                self._task_group.start_soon(self._unsubscribe_room, room)
        if type(effect) is Moderated and type(envelope.target) is ToUser:
            removed = self.moderation.apply(self.hub, envelope.target.user_id, effect)
            if removed and self._spawner is not None:
                self._spawner.start(self.moderation.after_removal, self.hub, effect.room, removed)

    async def _unsubscribe_room(self, room: str) -> None:
        # The room may have been created and joined again before this task ran.
        if self.hub.has_local(room):
            return
        try:
            await self.broker.unsubscribe(ToRoom(room).channel)
        except ChatError:
            log.warning("broker unavailable while leaving the channel of %s", room)
