"""The PostgreSQL broker: fan-out over ``LISTEN``/``NOTIFY`` and presence in tables, for sites
with a database and no Redis.

Theory of operation
-------------------
Each process has two connections: one for commands (every call one statement: a function
of :mod:`._schema`), and one that only listens. The listener ``LISTEN``\\ s once per wanted
channel (not once per socket) and hands each notification, decoded once, to ``deliver`` in
PostgreSQL's order (commit order: the same in every process). Room messages and changes go
through functions that keep a room's id order (see :mod:`._schema`). A payload too long for
``NOTIFY`` travels as the id of a stored row, read back by the listener before the next one.

:meth:`~PostgresBroker.subscribe` queues the ``LISTEN`` for the listener task and wakes it with
a notification on the process's own channel; it returns once the ``LISTEN`` has run, so nothing
published afterwards is missed.

Presence and heartbeats work as in the Redis broker: a deadline per process in the database
(its clock), pushed forward every ``heartbeat`` seconds; the heartbeat that removes a dead
process announces its users' ``leave`` where no other process holds them, once.

Outages: commands raise ``Unavailable``. When the listening connection breaks, the listener
delivers ``Envelope.link(lost=True)`` to its own process at once, reconnects with backoff and
listens again; once every channel is heard it delivers ``Envelope.link(lost=False)``, and the
runtime fills each room's gap from the store (the broker contract's Loss rule). Presence is
re-asserted at the next heartbeat.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Sequence
from typing import Any, Literal

import anyio
import psycopg
from anyio.abc import TaskStatus

from ..backends._codec import decode_envelope, encode_envelope
from ..backends._room_batches import RoomBatches
from ..backends.broker import Deliver
from ..backends.envelope import Envelope, RoomRemoved, ToRoom
from ..backends.presence import (
    Claim,
    MembersPage,
    PresenceChange,
    announce_settled,
    member_key,
    query_key,
)
from ..wire.errors import Unavailable, UsageError
from ..wire.values import User
from ._link import LOST, Link, check_prefix, close, connect, create_tables, resolve_url
from ._schema import channel_name, statements

__all__ = ("PostgresBroker",)

#: A batched presence operation: ("j", user, name, avatar, key) joins, ("l", user, "", None, "")
#: leaves (see ``P presence_batch``).
_Op = tuple[str, str, str, str | None, str]

log = logging.getLogger("chatcore.postgres")

#: PostgreSQL channel names kept, hashed once each (a cache, emptied when full).
_NAMES_KEPT = 4_096


class PostgresBroker:
    """A :class:`~chatcore.backends.broker.Broker` over PostgreSQL, for many server processes.

    ``url`` (``postgres://user@host/db``, or any libpq connection string) defaults to
    ``$CHATCORE_POSTGRES_URL``. Tables, functions and channels start with ``prefix``; the
    broker creates them on its first start (the role needs ``CREATE`` on the schema then).
    A dead process's users leave within ``expiry + heartbeat`` seconds (20 by default).
    ``timeout`` bounds each call; ``retry`` is the longest pause between reconnects; a room
    message published before its predecessor waits for it up to ``order_wait`` seconds.
    Commands share ``connections`` connections (besides the one that listens).
    """

    #: A room's messages are notified in id order, and changes after their message.
    orders_messages = True

    def __init__(
        self,
        url: str | None = None,
        *,
        prefix: str = "chatcore_",
        expiry: float = 15.0,
        heartbeat: float | None = None,
        timeout: float = 5.0,
        retry: float = 2.0,
        order_wait: float = 0.5,
        connections: int = 4,
    ) -> None:
        heartbeat = expiry / 3 if heartbeat is None else heartbeat
        if not 0 < heartbeat < expiry:
            raise UsageError("the heartbeat must be positive and shorter than the expiry")
        self.url = resolve_url(url)
        self.prefix = check_prefix(prefix)
        self.expiry = expiry
        self.heartbeat = heartbeat
        self.timeout = timeout
        self.retry = retry
        self._order_wait = int(order_wait * 1000)
        self.process = secrets.token_hex(8)
        name = f"chatcore-{self.process}"
        self._link = Link(self.url, timeout, name, connections, self.prefix)
        self._deliver: Deliver | None = None
        self._channels: set[str] = set()
        # The listener and the PostgreSQL channels it listens to (see _apply for the order).
        self._listener: psycopg.AsyncConnection[Any] | None = None
        self._listening: set[str] = set()
        self._pending: list[anyio.Event] = []
        # Whether the wanted channels changed since the listener last caught up.
        self._changed = True
        self._names: dict[str, str] = {}
        self._wake = f"{self.prefix}w_{self.process}"
        # What this process holds, to re-assert after an outage.
        self._presence: dict[str, dict[str, User]] = {}
        self._online: dict[str, User] = {}
        self._dirty = False
        self._lock = anyio.Lock()
        self._sql = statements(self.prefix)
        # A room's joins and leaves that come together go in one call.
        self._batches: RoomBatches[_Op] = RoomBatches(self._presence_batch)

    @property
    def listening(self) -> bool:
        """True while the listening connection hears every wanted channel, so nothing
        published is missed."""
        return self._listener is not None

    def pg_channel(self, channel: str) -> str:
        """The PostgreSQL channel of a broker channel (``room:lobby`` ...)."""
        name = self._names.get(channel)
        if name is None:
            if len(self._names) >= _NAMES_KEPT:
                self._names.clear()
            name = self._names[channel] = channel_name(self.prefix, channel)
        return name

    # lifecycle

    async def run(self, deliver: Deliver, *, task_status: TaskStatus[None]) -> None:
        self._deliver = deliver
        try:
            await self.create_tables()
            async with anyio.create_task_group() as group:
                await group.start(self._listen)
                async with self._lock:
                    await self._sync()
                group.start_soon(self._beat_forever)
                task_status.started()
        finally:
            self._deliver = None
            self._presence.clear()
            self._online.clear()
            self._channels.clear()
            await self.aclose()

    async def aclose(self) -> None:
        """Close the connection for commands (``run`` does it when it ends; a process that
        only publishes, like :class:`chatcore.emitter.Emitter`, calls it)."""
        await self._link.aclose()

    async def create_tables(self) -> None:
        """Create (or bring up to date) the broker's tables and functions, unless they are."""
        await create_tables(self.url, self.prefix, self.timeout)

    async def _listen(self, *, task_status: TaskStatus[None]) -> None:
        started = lost = False
        delay = 0.0
        while True:
            listener: psycopg.AsyncConnection[Any] | None = None
            try:
                with anyio.fail_after(self.timeout):
                    listener = await connect(self.url, self.timeout, f"chatcore-{self.process}-l")
                self._listening = set()
                self._changed = True
                await self._apply(listener)
                self._listener = listener
                if lost:
                    # Every channel is heard again: the runtime fills what was missed.
                    self._link_notice(lost=False)
                    lost = False
                if not started:
                    task_status.started()
                    started = True
                delay = 0.0
                while True:
                    await self._apply(listener)
                    batch = [
                        n async for n in listener.notifies(timeout=self.heartbeat, stop_after=1)
                    ]
                    if not batch:
                        with anyio.fail_after(self.timeout):  # is the link alive?
                            await listener.execute("SELECT 1")
                    for notify in batch:
                        await self._on_notify(listener, notify.channel, notify.payload)
            except LOST as error:
                if not started:
                    raise Unavailable("PostgreSQL is unreachable") from error
                log.warning("PostgreSQL listener lost (%s); reconnecting", error)
                if not lost:
                    self._link_notice(lost=True)
                lost = True
                self._dirty = True
            finally:
                self._listener = None
                self._listening = set()
                for event in self._pending:
                    event.set()
                self._pending.clear()
                await close(listener, self.timeout)
            delay = min(self.retry, delay * 2 or self.retry / 16)
            await anyio.sleep(delay)

    async def _apply(self, listener: psycopg.AsyncConnection[Any]) -> None:
        """``LISTEN``/``UNLISTEN`` until the listener hears exactly the wanted channels; then
        wake the subscribers that waited for it."""
        while self._changed or self._pending:
            self._changed = False
            waiting, self._pending = self._pending, []
            wanted = {self.pg_channel(channel) for channel in self._channels} | {self._wake}
            # A name leaves _listening before its UNLISTEN and enters it after its LISTEN,
            # so subscribe() never takes a channel for heard when it is not.
            stale = self._listening - wanted
            self._listening -= stale
            for name in stale:
                await listener.execute(f'UNLISTEN "{name}"')
            for name in wanted - self._listening:
                await listener.execute(f'LISTEN "{name}"')
                self._listening.add(name)
            for event in waiting:
                event.set()

    async def _on_notify(
        self, listener: psycopg.AsyncConnection[Any], name: str, data: str
    ) -> None:
        if name == self._wake or self._deliver is None:
            return
        if data.startswith("@"):
            # Too long for NOTIFY: stored, read back here before anything after it is delivered.
            if not data[1:].isdigit():
                log.error("dropped a malformed notification on %s", name)
                return
            with anyio.fail_after(self.timeout):
                cursor = await listener.execute(self._sql["payload"], [int(data[1:])])
                row = await cursor.fetchone()
            if row is None:
                log.error("a stored payload on %s is gone (older than ten minutes?)", name)
                return
            data = row[0]
        try:
            envelope = decode_envelope(data)
        except (ValueError, TypeError, LookupError):
            log.exception("dropped a malformed envelope on %s", name)
            return
        channel = envelope.target.channel
        if channel not in self._channels or self.pg_channel(channel) != name:
            return  # unsubscribed since (its UNLISTEN may still be queued)
        if isinstance(envelope.effect, RoomRemoved):
            self._presence.pop(envelope.effect.room, None)
        try:
            self._deliver(envelope)
        except Exception:
            log.exception("delivering an envelope on %s failed", channel)

    def _link_notice(self, lost: bool) -> None:
        """Tell this process's server that notifications may be missed from now on
        (``lost``), or that every channel is heard again (it then fills the gaps from the
        store)."""
        if self._deliver is not None:
            try:
                self._deliver(Envelope.link(lost))
            except Exception:
                log.exception("the link notice failed")

    # fan-out

    async def publish(self, envelope: Envelope) -> None:
        data = encode_envelope(envelope)
        name = self.pg_channel(envelope.target.channel)
        target = envelope.target
        if envelope.message_id is not None and isinstance(target, ToRoom):
            # A room's messages go out in id order, whichever process appended them.
            args: list[Any] = [target.room, name, envelope.message_id, data, self._order_wait]
            await self._link.rows(self._sql["message"], args)
        elif envelope.after is not None and isinstance(target, ToRoom):
            message, version = envelope.version or (None, None)
            args = [target.room, name, envelope.after, data, self._order_wait, message, version]
            await self._link.rows(self._sql["change"], args)
        else:
            await self._link.rows(self._sql["notify"], [name, data])

    async def subscribe(self, channel: str) -> None:
        self._channels.add(channel)
        listener = self._listener
        if listener is None:
            raise Unavailable()
        if self.pg_channel(channel) in self._listening:
            return
        heard = anyio.Event()
        self._changed = True
        self._pending.append(heard)
        await self._link.rows(self._sql["notify"], [self._wake, ""])
        with anyio.move_on_after(self.timeout):
            await heard.wait()
        if not heard.is_set() or self._listener is not listener:
            raise Unavailable()

    async def unsubscribe(self, channel: str) -> None:
        # The UNLISTEN runs when the listener next wakes; until then deliveries are filtered.
        self._channels.discard(channel)
        self._changed = True

    # presence

    async def join(self, room: str, user: User) -> bool:
        return (await self.enter(room, user)).changed

    async def leave(self, room: str, user_id: str) -> bool:
        return (await self.exit(room, user_id)).changed

    async def enter(self, room: str, user: User) -> PresenceChange:
        op = ("j", user.id, user.name, user.avatar, member_key(user))
        change = await self._batches.run(room, op)
        self._presence.setdefault(room, {})[user.id] = user
        return change

    async def exit(self, room: str, user_id: str) -> PresenceChange:
        users = self._presence.get(room)
        if users is not None:
            users.pop(user_id, None)
            if not users:
                del self._presence[room]
        return await self._batches.run(room, ("l", user_id, "", None, ""))

    async def _presence_batch(self, room: str, ops: Sequence[_Op]) -> list[PresenceChange]:
        """One room's joins and leaves that came together, in one call (see ``_batch``)."""
        data = json.dumps(ops)
        async with self._lock:
            flat = await self._call("presence_batch", self.process, room, data)
            if flat is None:  # taken for dead, or not registered yet
                await self._sync()
                flat = await self._call("presence_batch", self.process, room, data)
        return [PresenceChange(flat[i] == 1, int(flat[i + 1])) for i in range(0, len(flat), 2)]

    async def members(self, room: str) -> list[User]:
        rows = await self._link.rows(self._sql["members"], [room])
        return [User(id=id_, name=name, avatar=avatar) for id_, name, avatar in rows]

    async def members_page(
        self, room: str, after: str | None, limit: int, query: str | None = None
    ) -> MembersPage:
        prefix = None if query is None else query_key(query)
        found = _json(await self._call("members_page", room, after, limit, prefix))
        rows = found["members"]
        members = [User(id=id_, name=name, avatar=avatar) for id_, name, avatar, _ in rows]
        following = rows[limit - 1][3] if len(rows) > limit else None
        return MembersPage(members[:limit], int(found["count"]), following)

    async def claim_occupancy(
        self, room: str, now: int, interval: int, limit: int, scale: int = 0
    ) -> Claim:
        count, announce, retry = await self._call("claim", room, now, interval, limit, scale)
        return Claim(int(count), announce == 1, retry == 1)

    async def counts(self, rooms: list[str]) -> dict[str, int]:
        if not rooms:
            return {}
        found = dict(await self._link.rows(self._sql["counts"], [rooms]))
        return {room: int(found.get(room, 0)) for room in rooms}

    async def clear(self, room: str) -> None:
        async with self._lock:
            self._presence.pop(room, None)
            await self._call("clear", room)

    async def update_user(self, user: User) -> list[str]:
        for users in self._presence.values():
            if user.id in users:
                users[user.id] = user
        if user.id in self._online:
            self._online[user.id] = user
        args = [user.id, user.name, user.avatar, member_key(user)]
        rows = await self._link.rows(self._sql["update_user"], args)
        return [room for (room,) in rows]

    # online

    async def connect(self, user: User) -> None:
        await self.come_online(user)

    async def disconnect(self, user_id: str) -> None:
        await self.go_offline(user_id)

    async def come_online(self, user: User) -> bool:
        async with self._lock:
            args = [user.id, user.name, user.avatar, member_key(user)]
            first = await self._registered("come_online", *args)
            self._online[user.id] = user
        return bool(first == 1)

    async def go_offline(self, user_id: str) -> bool:
        async with self._lock:
            self._online.pop(user_id, None)
            last = await self._call("go_offline", self.process, user_id)
        return bool(last == 1)

    async def is_online(self, user_id: str) -> bool:
        return bool(await self.online([user_id]))

    async def online(self, user_ids: list[str]) -> list[str]:
        if not user_ids:
            return []
        found = {user_id for (user_id,) in await self._link.rows(self._sql["online"], [user_ids])}
        return [user_id for user_id in user_ids if user_id in found]

    # heartbeat

    async def _beat_forever(self) -> None:
        while True:
            await anyio.sleep(self.heartbeat)
            try:
                await self._beat()
            except Unavailable:
                log.warning("PostgreSQL unreachable; presence heartbeat missed")
            except Exception:
                # The heartbeat must go on whatever one beat met; the next one retries.
                log.exception("presence heartbeat failed")

    async def _beat(self) -> None:
        result = _json(
            await self._call("beat", self.process, int(self.expiry * 1000), self._order_wait)
        )
        await self._announce("leave", result["left"])
        for user_id in result["offline"]:  # (a dead process's: no grace to wait out)
            await self.publish(Envelope.status(user_id, False))
        if not result["known"] or self._dirty:
            if not result["known"]:
                log.warning("this process was taken for dead; re-asserting its presence")
            async with self._lock:
                await self._sync()

    async def _sync(self) -> None:
        """Make the tables hold exactly this process's presence; announce what that changed."""
        held = [
            [room, user.id, user.name, user.avatar, member_key(user)]
            for room, users in self._presence.items()
            for user in users.values()
        ]
        online = [
            [user.id, user.name, user.avatar, member_key(user)] for user in self._online.values()
        ]
        self._dirty = False  # set again if this call fails
        result = _json(
            await self._call(
                "sync", self.process, int(self.expiry * 1000), json.dumps(held), json.dumps(online)
            )
        )
        await self._announce("join", result["joined"])
        await self._announce("leave", result["left"])

    async def _announce(
        self, event: Literal["join", "leave"], rows: Sequence[Sequence[Any]]
    ) -> None:
        rooms: dict[str, list[User]] = {}
        for room, user_id, name, avatar in rows:
            rooms.setdefault(room, []).append(User(id=user_id, name=name, avatar=avatar))
        await announce_settled(event, rooms, self._deliver, self.publish)

    # calls

    async def _registered(self, name: str, *args: Any) -> Any:
        """Call a function that needs this process registered; register (sync) first if not."""
        result = await self._call(name, self.process, *args)
        if result == -1:
            await self._sync()
            result = await self._call(name, self.process, *args)
        return result

    async def _call(self, name: str, *args: Any) -> Any:
        try:
            return await self._link.value(self._sql[name], args)
        except Unavailable:
            self._dirty = True
            raise


def _json(value: Any) -> Any:
    """A ``jsonb`` result: psycopg loads it already; a text one is parsed."""
    return json.loads(value) if isinstance(value, str) else value
