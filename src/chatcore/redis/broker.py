"""The Redis broker: fan-out over pub/sub and presence across processes, with heartbeats.

Theory of operation
-------------------
Keys and channels
    Where each key and channel is, in one group or many (a Redis Cluster's shard groups), is
    :mod:`~chatcore.redis._layout`'s: ``P`` below is the prefix of the room's or the user's
    group (the plain prefix with one group on one Redis).

Fan-out
    One pub/sub connection per process subscribes once to each wanted channel
    (``<P>room:<name>``, ``<P>user:<id>``, and ``<P>rooms`` in every group).
    :meth:`~RedisBroker.subscribe` returns once Redis has confirmed the subscription, so
    nothing published after it is missed. One reader task decodes each envelope once and hands
    it to ``deliver``, in Redis's order. A room message the server publishes (a store other
    than Redis) goes through a script that keeps the room's id order; a ``message_changed``
    (``Envelope.after``) through one that holds it until its message is out
    (``PUBLISH_MESSAGE``, ``PUBLISH_CHANGE``).

Presence
    Each process has a random id and, in every group, a deadline that its heartbeat (one
    script per group) pushes forward every ``heartbeat`` seconds. Entries are per (room, user,
    process), in the room's group. Each heartbeat also removes the processes whose deadline
    has passed; the one heartbeat that removes a dead process announces its users' ``leave``
    (only where no other process still holds them), so each is announced once, within
    ``expiry + heartbeat`` seconds of the death. A group's heartbeat removes a dead process's
    entries of that group (on a cluster: of that shard).

Room changes
    The store's room scripts publish the name of each room they create, retitle or delete on
    their group's ``<P>room-changes`` in the same step. Every process subscribes to each
    group's, so a :class:`~chatcore.redis.RedisStore` can keep the rooms it has read in memory
    and forget one as soon as it changes (see :meth:`~RedisBroker.watch_rooms`).

Outages
    Commands raise :class:`~chatcore.wire.errors.Unavailable` while Redis is unreachable. When
    the subscription connection breaks (or, sharded, Redis ends a subscription itself, as it
    does when the channel's slot moves to another node), the reader delivers
    ``Envelope.link(lost=True)`` to its own process at once, reconnects with backoff and
    subscribes again; once Redis confirmed every channel it delivers
    ``Envelope.link(lost=False)``, and the runtime fills each room's gap from the store
    (``runtime._gap_fill``; envelopes that arrive meanwhile wait for it). Presence is
    re-asserted as this process holds it (:data:`~chatcore.redis._scripts.SYNC`, in every
    group) at the next heartbeat after a failure, or when the process finds itself taken for
    dead.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
from collections import Counter, deque
from collections.abc import Callable, Sequence
from typing import Any, Literal

import anyio
import redis.asyncio
import redis.exceptions
from anyio.abc import TaskStatus

from ..backends.broker import Deliver
from ..backends.envelope import Envelope, RoomRemoved, ToRoom
from ..backends.presence import Claim, MembersPage, PresenceChange, announce_settled
from ..metrics import timed_publish
from ..wire.errors import Unavailable, UsageError
from ..wire.values import User
from . import _scripts
from ._client import make_client, resolve_url, unavailable
from ._codec import decode_envelope, encode_envelope
from ._layout import Group, Layout, in_every
from ._presence_batch import PresenceBatches
from ._stored import decode_user, encode_user
from ._wire import Subscriber, Wire, make_wire

__all__ = ("RedisBroker",)

log = logging.getLogger("chatcore.redis")

# Anything Redis or the socket may raise ends the subscription connection; the reader opens
# a new one rather than let the server fail.
_LOST = (redis.exceptions.RedisError, OSError, TimeoutError)
#: A command sent while the reader task is reconnecting the same pub/sub connection makes
#: asyncio raise RuntimeError (two coroutines reading one stream): that connection is lost.
_PUBSUB_LOST = (*_LOST, RuntimeError)


class RedisBroker:
    """A :class:`~chatcore.backends.broker.Broker` over Redis, for many server processes.

    ``url`` defaults to ``$CHATCORE_REDIS_URL``. Keys and channels start with ``prefix``.
    ``groups`` and ``sharded`` choose the key layout (:mod:`~chatcore.redis._layout`); None
    takes them from the URL (``groups=N``, ``sharded=true``; ``cluster=true``: 16 groups,
    sharded), else one group on one Redis, as before.
    A dead process's users leave within ``expiry + heartbeat`` seconds (20 by default).
    ``timeout`` bounds each Redis call; ``retry`` is the longest pause between reconnects.
    A room message published by the server (not by a :class:`RedisStore`) whose predecessor
    is not out yet waits for it up to ``order_wait`` seconds, so messages keep their id order;
    a ``message_changed`` (an envelope with ``after``) waits the same way for message ``after``.
    """

    #: A room's messages are published in id order by a script (``PUBLISH_MESSAGE``), and
    #: changes after their message (``PUBLISH_CHANGE``).
    orders_messages = True

    def __init__(
        self,
        url: str | None = None,
        *,
        prefix: str = "chatcore:",
        expiry: float = 15.0,
        heartbeat: float | None = None,
        timeout: float = 5.0,
        retry: float = 2.0,
        order_wait: float = 0.5,
        groups: int | None = None,
        sharded: bool | None = None,
    ) -> None:
        heartbeat = expiry / 3 if heartbeat is None else heartbeat
        if not 0 < heartbeat < expiry:
            raise UsageError("the heartbeat must be positive and shorter than the expiry")
        self.url = resolve_url(url)
        self.prefix = prefix
        #: Where each key and channel is (the store given this broker uses the same).
        self.layout = Layout.from_url(self.url, prefix, groups, sharded)
        self.expiry = expiry
        self.heartbeat = heartbeat
        self.timeout = timeout
        self.retry = retry
        self._order_wait = int(order_wait * 1000)
        self.process = secrets.token_hex(8)
        # Every command, and the subscription, goes through connections of chatcore's own.
        self._wire = make_wire(self.url, timeout, name=f"chatcore-{self.process}")
        self._client: redis.asyncio.Redis | None = None
        self._deliver: Deliver | None = None
        self._channels: set[str] = set()
        # The wire's Subscriber, while subscriptions flow.
        self._pubsub: Subscriber | None = None
        self._waiters: dict[str, deque[anyio.Event]] = {}
        # Unsubscriptions sent and not confirmed yet, per Redis channel (any other is Redis's).
        self._unsubscribing: Counter[str] = Counter()
        self._changes_keys = frozenset(group.changes for group in self.layout.groups)
        # A channel of its own (in the first group), and every group's room changes.
        self._own_channels: dict[str, Group] = {
            channel: group for group, channel in self.layout.channels(f"process:{self.process}")
        }
        self._own_channels.update((group.changes, group) for group in self.layout.groups)
        self._room_watchers: list[Callable[[str | None], None]] = []
        # What this process holds, to re-assert after an outage.
        self._presence: dict[str, dict[str, User]] = {}
        self._online: dict[str, User] = {}
        self._dirty = False
        self._lock = anyio.Lock()
        # Large rooms and online status (``_presence_batch``).
        self._batches = PresenceBatches(self)

    @property
    def client(self) -> redis.asyncio.Redis:
        """A redis-py client on the broker's URL, for the application's own commands
        (chatcore does not use it; it is made on first use and closed when the broker stops)."""
        if self._client is None:
            self._client = make_client(self.url, self.timeout, name=f"chatcore-{self.process}")
        return self._client

    @property
    def wire(self) -> Wire:
        """The broker's connection for commands (see ``_wire``); a store given the broker
        shares it."""
        return self._wire

    def channel_key(self, channel: str) -> str:
        """The Redis pub/sub channel of a broker channel (``room:lobby`` ...; the room list's
        in the first group)."""
        return self.layout.channels(channel)[0][1]

    def _wanted(self) -> dict[str, Group]:
        """Every Redis channel this process wants, with its group."""
        wanted = dict(self._own_channels)
        for channel in self._channels:
            wanted.update((key, group) for group, key in self.layout.channels(channel))
        return wanted

    @property
    def listening(self) -> bool:
        """True while the subscriptions are confirmed, so no published change is missed."""
        return self._pubsub is not None

    def watch_rooms(self, changed: Callable[[str | None], None]) -> None:
        """Call ``changed(room)`` for each room a store script changes (with this prefix), and
        ``changed(None)`` whenever changes may have been missed (the subscription was lost or
        restored): a cache of rooms must then forget everything."""
        self._room_watchers.append(changed)

    def _rooms_changed(self, room: str | None) -> None:
        for changed in self._room_watchers:
            try:
                changed(room)
            except Exception:
                log.exception("a room change callback failed")

    # lifecycle

    async def run(self, deliver: Deliver, *, task_status: TaskStatus[None]) -> None:
        self._deliver = deliver
        try:
            async with anyio.create_task_group() as group:
                await group.start(self._listen)
                async with self._lock:
                    await self._sync()
                group.start_soon(self._beat_forever)
                task_status.started()
        finally:
            self._deliver = None
            self._pubsub = None
            # What this process held ends with it (Redis forgets it after the expiry, or at
            # once if the broker runs again: its first sync asserts this empty state).
            self._presence.clear()
            self._online.clear()
            self._channels.clear()
            self._wire.close()
            client, self._client = self._client, None
            if client is not None:
                with anyio.CancelScope(shield=True), anyio.move_on_after(self.timeout):
                    await client.aclose()

    async def _listen(self, *, task_status: TaskStatus[None]) -> None:
        started = lost = False
        delay = 0.0
        while True:
            pubsub = self._wire.pubsub(sharded=self.layout.sharded)
            try:
                await self._open(pubsub)
                if lost:
                    # Every channel is confirmed: the runtime fills what was missed.
                    # (The command connection notices a restart itself: Redis closed it.)
                    self._link(lost=False)
                    lost = False
                if not started:
                    task_status.started()
                    started = True
                delay = 0.0
                while True:
                    message = await pubsub.get_message(timeout=None)
                    if message is not None:
                        self._on_message(message)
            except _LOST as error:
                if not started:
                    raise Unavailable() from error
                log.warning("Redis subscription lost (%s); reconnecting", error)
                if not lost:
                    self._link(lost=True)
                lost = True
                self._dirty = True
            finally:
                self._pubsub = None
                self._rooms_changed(None)
                for waiters in self._waiters.values():
                    for event in waiters:
                        event.set()
                self._waiters.clear()
                self._unsubscribing.clear()
                with (
                    anyio.CancelScope(shield=True),
                    anyio.move_on_after(self.timeout),
                    contextlib.suppress(*_LOST),
                ):
                    await pubsub.aclose()
            delay = min(self.retry, delay * 2 or self.retry / 16)
            await anyio.sleep(delay)

    async def _open(self, pubsub: Any) -> None:
        """Subscribe ``pubsub`` to every wanted channel; return once Redis confirmed them all."""
        # A channel of its own keeps the connection open (and watched) with nothing else
        # wanted; room changes are always wanted.
        wanted = self._wanted()
        for call in self.layout.by_group([(group, key) for key, group in wanted.items()]):
            await pubsub.subscribe(*call)
        pending = set(wanted)
        with anyio.fail_after(self.timeout):
            while pending:
                message = await pubsub.get_message(timeout=None)
                if message is None:
                    continue
                if message["type"] == "subscribe":
                    pending.discard(message["channel"])
                else:
                    self._on_message(message)
        self._pubsub = pubsub
        self._rooms_changed(None)  # what changed while no subscription was there is unknown
        # Channels wanted or dropped while the subscriptions were being restored.
        now = self._wanted()
        layout = self.layout
        for call in layout.by_group([(g, key) for key, g in now.items() if key not in wanted]):
            await pubsub.subscribe(*call)
        await self._drop(pubsub, [(g, key) for key, g in wanted.items() if key not in now])

    async def _drop(self, pubsub: Subscriber, channels: Sequence[tuple[Group, str]]) -> None:
        """Unsubscribe ``pubsub`` from ``channels`` (Redis channels, with their groups)."""
        self._unsubscribing.update(key for _, key in channels)
        for call in self.layout.by_group(channels):
            await pubsub.unsubscribe(*call)

    def _on_message(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "subscribe":
            waiters = self._waiters.get(message["channel"])
            if waiters:
                waiters.popleft().set()
            return
        if kind == "unsubscribe":
            channel = message["channel"]
            if self._unsubscribing[channel] > 0:
                self._unsubscribing[channel] -= 1
                if not self._unsubscribing[channel]:
                    del self._unsubscribing[channel]
            elif self.layout.sharded:
                # Redis ends a sharded subscription itself when its slot moves to another
                # node: the subscriptions must be made again (and the gap filled).
                raise redis.exceptions.ConnectionError(f"Redis ended the subscription to {channel}")
            return
        if kind != "message" or self._deliver is None:
            return
        channel = message["channel"]
        if channel in self._changes_keys:
            self._rooms_changed(message["data"])
            return
        try:
            envelope = decode_envelope(message["data"])
        except (ValueError, TypeError, LookupError):
            log.exception("dropped a malformed envelope on %s", channel)
            return
        if self.layout.target(envelope.target) != channel:
            # Only what was published for this channel may reach its recipients.
            log.error("dropped an envelope for %s that came on %s", envelope.target, channel)
            return
        if isinstance(envelope.effect, RoomRemoved):
            self._presence.pop(envelope.effect.room, None)
        try:
            self._deliver(envelope)
        except Exception:
            log.exception("delivering an envelope on %s failed", channel)

    def _link(self, lost: bool) -> None:
        """Tell this process's server that envelopes may be missed from now on (``lost``), or
        that every subscription is back (it then fills the gaps from the store)."""
        if self._deliver is not None:
            try:
                self._deliver(Envelope.link(lost))
            except Exception:
                log.exception("the link notice failed")

    # fan-out

    @timed_publish
    async def publish(self, envelope: Envelope) -> None:
        data = encode_envelope(envelope)
        message = envelope.message_id
        if message is not None:
            # A room's messages go out in id order, whichever process appended them.
            assert isinstance(envelope.target, ToRoom)
            room = envelope.target.room
            group = self.layout.room(room)
            await self._call(group, _scripts.PUBLISH_MESSAGE, room, message, data, self._order_wait)
        elif envelope.after is not None and isinstance(envelope.target, ToRoom):
            # A change goes out after the message it was made after (that one may be held).
            room = envelope.target.room
            after = envelope.after
            state = envelope.version or ("", "")
            group = self.layout.room(room)
            wait = self._order_wait
            await self._call(group, _scripts.PUBLISH_CHANGE, room, after, data, wait, *state)
        else:
            layout = self.layout
            with unavailable():
                await self._wire.call(layout.publish, layout.target(envelope.target), data)

    async def subscribe(self, channel: str) -> None:
        self._channels.add(channel)
        pubsub = self._pubsub
        if pubsub is None:
            raise Unavailable()
        keys = self.layout.channels(channel)
        confirmed = []
        for _, key in keys:
            event = anyio.Event()
            self._waiters.setdefault(key, deque()).append(event)
            confirmed.append(event)
        try:
            for call in self.layout.by_group(keys):
                await pubsub.subscribe(*call)
        except _PUBSUB_LOST as error:
            raise Unavailable() from error
        with anyio.move_on_after(self.timeout):
            for event in confirmed:
                await event.wait()
        if not all(event.is_set() for event in confirmed) or self._pubsub is not pubsub:
            raise Unavailable()

    async def unsubscribe(self, channel: str) -> None:
        # Never raises: a lost connection drops every subscription anyway, and the reconnect
        # only restores the channels still wanted.
        self._channels.discard(channel)
        pubsub = self._pubsub
        if pubsub is not None:
            try:
                await self._drop(pubsub, self.layout.channels(channel))
            except _PUBSUB_LOST:
                log.warning("could not unsubscribe from %s; Redis is unreachable", channel)

    # presence

    async def join(self, room: str, user: User) -> bool:
        async with self._lock:
            first = await self._registered(
                self.layout.room(room),
                _scripts.JOIN,
                self.process,
                room,
                user.id,
                encode_user(user),
            )
            self._presence.setdefault(room, {})[user.id] = user
        return bool(first == 1)

    async def leave(self, room: str, user_id: str) -> bool:
        async with self._lock:
            users = self._presence.get(room)
            if users is not None:
                users.pop(user_id, None)
                if not users:
                    del self._presence[room]
            left = await self._call(
                self.layout.room(room), _scripts.LEAVE, self.process, room, user_id
            )
        return bool(left == 1)

    async def members(self, room: str) -> list[User]:
        flat = await self._call(self.layout.room(room), _scripts.MEMBERS, room)
        return [decode_user(flat[i], flat[i + 1]) for i in range(0, len(flat), 2)]

    async def counts(self, rooms: list[str]) -> dict[str, int]:
        if not rooms:
            return {}
        room_group = self.layout.room
        with unavailable():
            found = await self._wire.calls(
                *(("HLEN", f"{room_group(room).prefix}pm:{room}") for room in rooms)
            )
        return dict(zip(rooms, found, strict=True))

    async def clear(self, room: str) -> None:
        async with self._lock:
            self._presence.pop(room, None)
            await self._call(self.layout.room(room), _scripts.CLEAR, room)
        await self._batches.clear(room)

    # large rooms and online status (see ``_presence_batch``)

    async def enter(self, room: str, user: User) -> PresenceChange:
        return await self._batches.enter(room, user)

    async def exit(self, room: str, user_id: str) -> PresenceChange:
        return await self._batches.exit(room, user_id)

    async def members_page(
        self, room: str, after: str | None, limit: int, query: str | None = None
    ) -> MembersPage:
        return await self._batches.members_page(room, after, limit, query)

    async def claim_occupancy(
        self, room: str, now: int, interval: int, limit: int, scale: int = 0
    ) -> Claim:
        return await self._batches.claim(room, now, interval, limit, scale)

    async def come_online(self, user: User) -> bool:
        return await self._batches.come_online(user)

    async def go_offline(self, user_id: str) -> bool:
        return await self._batches.go_offline(user_id)

    async def online(self, user_ids: list[str]) -> list[str]:
        return await self._batches.online(user_ids)

    async def update_user(self, user: User) -> list[str]:
        for users in self._presence.values():
            if user.id in users:
                users[user.id] = user
        if user.id in self._online:
            self._online[user.id] = user
        json = encode_user(user)

        async def rename(group: Group) -> list[str]:
            # The name in the group's ``users``, and the group's rooms the user is present in.
            _, rooms = await self._wire.transaction(
                ("HSET", f"{group.prefix}users", user.id, json),
                ("SMEMBERS", f"{group.prefix}ur:{user.id}"),
            )
            return sorted(rooms)

        with unavailable():
            found = await in_every(self.layout.groups, rename)
        await self._batches.reindex(user, found)
        return sorted(room for rooms in found for room in rooms)

    # online

    async def connect(self, user: User) -> None:
        async with self._lock:
            group = self.layout.user(user.id)
            await self._registered(
                group, _scripts.CONNECT, self.process, user.id, encode_user(user)
            )
            self._online[user.id] = user

    async def disconnect(self, user_id: str) -> None:
        async with self._lock:
            self._online.pop(user_id, None)
            await self._call(self.layout.user(user_id), _scripts.DISCONNECT, self.process, user_id)

    async def is_online(self, user_id: str) -> bool:
        with unavailable():
            count = await self._wire.call(
                "SCARD", f"{self.layout.user(user_id).prefix}on:{user_id}"
            )
        return bool(count)

    # heartbeat

    async def _beat_forever(self) -> None:
        while True:
            await anyio.sleep(self.heartbeat)
            try:
                await self._beat()
            except Unavailable:
                log.warning("Redis unreachable; presence heartbeat missed")
            except Exception:
                # The heartbeat must go on whatever one beat met; the next one retries.
                log.exception("presence heartbeat failed")

    async def _beat(self) -> None:
        args = (self.process, int(self.expiry * 1000), self._order_wait)
        beats = await self._everywhere(_scripts.BEAT, [args] * len(self.layout.groups))
        for beat in beats:
            if beat is not None:
                await self._announce("leave", beat[1])
                for user_id in beat[2]:  # (a dead process's: no grace to wait out)
                    await self.publish(Envelope.status(user_id, False))
        if None in beats:
            raise Unavailable()  # (the next beat re-asserts this process: see _call)
        known = all(beat[0] for beat in beats)
        if not known or self._dirty:
            if not known:
                log.warning("this process was taken for dead; re-asserting its presence")
            async with self._lock:
                await self._sync()

    async def _sync(self) -> None:
        """Make Redis hold exactly this process's presence, in every group (a room's in the
        room's group, a user's connections in the user's); announce what that changed."""
        layout = self.layout
        held: list[list[str | int]] = [[] for _ in layout.groups]
        for room, users in self._presence.items():
            group = held[layout.room(room).index]
            for user in users.values():
                group += (room, user.id, encode_user(user))
        online: list[list[str | int]] = [[] for _ in layout.groups]
        for user in self._online.values():
            online[layout.user(user.id).index] += (user.id, encode_user(user))
        expiry = int(self.expiry * 1000)
        args = [
            (self.process, expiry, len(rooms) // 3, *rooms, *users)
            for rooms, users in zip(held, online, strict=True)
        ]
        self._dirty = False  # set again if a call fails
        synced = await self._everywhere(_scripts.SYNC, args)
        for result in synced:
            if result is not None:
                await self._announce("join", result[0])
                await self._announce("leave", result[1])
        if None in synced:
            raise Unavailable()

    async def _announce(self, event: Literal["join", "leave"], flat: Sequence[str]) -> None:
        rooms: dict[str, list[User]] = {}
        for i in range(0, len(flat), 3):
            rooms.setdefault(flat[i], []).append(decode_user(flat[i + 1], flat[i + 2]))
        await announce_settled(event, rooms, self._deliver, self.publish)

    # scripts

    async def _registered(self, group: Group, script: str, *args: str | int) -> Any:
        """Run a script that needs this process registered; register (sync) first if not."""
        result = await self._call(group, script, *args)
        if result == -1:
            await self._sync()
            result = await self._call(group, script, *args)
        return result

    async def _call(self, group: Group, script: str, *args: str | int) -> Any:
        """Run a script in ``group`` (its prefix is ``ARGV[1]``, its fence keys ``KEYS``)."""
        try:
            with unavailable():
                return await self._wire.script(
                    self.layout.script(script), group.prefix, *args, keys=group.fence
                )
        except Unavailable:
            self._dirty = True
            raise

    async def _everywhere(self, script: str, args: Sequence[Sequence[str | int]]) -> list[Any]:
        """Run ``script`` in every group at once, group ``i`` with ``args[i]``: each group's
        result, None where Redis was unreachable (after every group's script ran, so what
        the others did is not lost)."""

        async def run(group: Group) -> Any:
            try:
                return await self._call(group, script, *args[group.index])
            except Unavailable:
                return None

        return await in_every(self.layout.groups, run)
