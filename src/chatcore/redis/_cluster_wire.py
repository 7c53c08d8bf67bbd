"""Redis Cluster over chatcore's lean connections: :class:`ClusterWire`, a :class:`Wire` in
all it offers, routing each command to the master serving its key's hash slot.

It reads the slot map with ``CLUSTER SLOTS`` from any node it knows (the URL's first, then
the ones the map names) and keeps one :class:`Wire` per master. A command goes by its key:
the first argument of most commands, ``KEYS[1]`` of a script (``EVALSHA``/``EVAL``), the
shared slot of a transaction's keyed commands; one without a key (``PING``, ``SCRIPT``,
``TIME``) goes to any master. :meth:`ClusterWire.calls` sends the commands for each master
pipelined on its connection, in their order, before it waits for any, and gives the replies
back in the caller's order.

Redis says when a command did not run, and only then is it sent again:

- ``MOVED``: the slot has a new owner; the map notes it (and is read again in the
  background) and the command goes there.
- ``ASK``: the slot is migrating and the keys are not here; ``ASKING`` and the command go to
  the importing node, once per attempt.
- ``TRYAGAIN``: a multi-key command (a script's two fence keys) during a migration; sent
  again after 10 ms, doubling to 100 ms, until the wire's timeout has passed since the call
  began, then raised (``TryAgainError``).
- ``NOSCRIPT``: :meth:`Wire.script` sends ``EVAL`` (through the routing again: per node).
- ``CLUSTERDOWN`` is raised (and the map read again).

Redirections and the errors raised when they do not end are redis-py's types
(``MovedError``, ``AskError``, ``TryAgainError``, ``ClusterDownError``), which
:func:`~chatcore.redis._client.unavailable` treats as an outage, as it does a lost
connection. A connection failure raises ``ConnectionError`` and starts a watch of the map in
the background: it is read again every quarter second (one read at a time) until the failed
node serves no slot (a replica took over) or 30 seconds passed; from then on its slots' calls
go to the new master.

:meth:`ClusterWire.pubsub` gives a :class:`ClusterSubscriber`: sharded pub/sub
(``SSUBSCRIBE``), one connection per master, one ``SSUBSCRIBE`` per hash slot (Redis refuses
channels of several slots in one), all messages in one stream in the order they arrived.
When a node's connection is lost, or Redis unsubscribes a channel nobody asked to leave (Redis
7 does so when the channel's slot moves to another node), ``get_message`` raises
``ConnectionError`` (after the messages received before): the broker then subscribes again
on a new subscriber, which finds the channels' current nodes.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter, deque
from collections.abc import Sequence
from typing import Any

import redis.crc
import redis.exceptions

from ..wire.errors import UsageError
from ._wire import _PLAIN_KIND, Endpoint, Subscriber, Wire, _pack, _PushProtocol

__all__ = ("ClusterSubscriber", "ClusterWire", "command_slot", "key_slot")

SLOTS = 16384
Address = tuple[str, int]
Command = tuple[str | int, ...]

_FIRST_DELAY, _LAST_DELAY = 0.01, 0.1  # between tries after TRYAGAIN
_MAX_HOPS = 16  # MOVED and ASK replies for one command before giving up
_WATCH_EVERY, _WATCH_FOR = 0.25, 30.0  # the map, after a node failed
_SCRIPTS = frozenset({"EVAL", "EVALSHA", "EVAL_RO", "EVALSHA_RO", "FCALL", "FCALL_RO"})
_KEYLESS = frozenset(
    {
        "ASKING",
        "CLIENT",
        "CLUSTER",
        "COMMAND",
        "CONFIG",
        "DBSIZE",
        "DISCARD",
        "ECHO",
        "EXEC",
        "FUNCTION",
        "INFO",
        "LASTSAVE",
        "MULTI",
        "PING",
        "PUBLISH",
        "READONLY",
        "ROLE",
        "SCRIPT",
        "TIME",
        "WAIT",
    }
)
_CONNECTION_ERRORS = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    OSError,
    asyncio.TimeoutError,
)


def key_slot(key: str) -> int:
    """The hash slot of ``key``: CRC16 (XMODEM) of the key, or of its ``{hash tag}``, modulo
    16384 (redis-py's function)."""
    return redis.crc.key_slot(key.encode("utf-8", "surrogatepass"))


def command_slot(command: Command) -> int | None:
    """The hash slot ``command`` runs in: of ``KEYS[1]`` for a script, of the first
    argument otherwise; None for a command without a key."""
    name = str(command[0]).upper()
    if name in _SCRIPTS:
        if len(command) > 3 and int(command[2]) > 0:
            return key_slot(str(command[3]))
        return None
    if name in _KEYLESS or len(command) < 2:
        return None
    return key_slot(str(command[1]))


def _redirection(replies: Sequence[Any]) -> redis.exceptions.ResponseError | None:
    """The first reply saying its command did not run here (MOVED, ASK, TRYAGAIN)."""
    for reply in replies:
        if isinstance(reply, redis.exceptions.AskError | redis.exceptions.TryAgainError):
            return reply
    return None


def _retrieve(task: asyncio.Task[Any]) -> None:
    """A background task's failure is known to its next caller: no "never retrieved"."""
    if not task.cancelled():
        task.exception()


class ClusterWire(Wire):
    """Commands routed over a Redis Cluster, one :class:`Wire` per master; see the module
    doc. ``endpoint`` is the node to start from (the URL's), with the greeting every node's
    connection sends (AUTH, CLIENT SETNAME) and the TLS context."""

    cluster = True

    def __init__(self, endpoint: Endpoint, *, timeout: float = 5.0) -> None:
        super().__init__(endpoint, timeout=timeout)
        if isinstance(endpoint.address, str):
            raise UsageError("a Redis Cluster node is a host and port, not a socket")
        self._seed: Address = endpoint.address
        self._nodes: dict[Address, Wire] = {}
        self._slots: list[Address | None] | None = None
        self._known: list[Address] = []  # masters, then replicas, of the last map read
        self._reading: asyncio.Task[None] | None = None
        self._watching: asyncio.Task[None] | None = None
        self._failed: set[Address] = set()

    # the map

    def _node(self, address: Address) -> Wire:
        wire = self._nodes.get(address)
        if wire is None:
            endpoint = Endpoint(address, self.endpoint.hello, self.endpoint.ssl)
            wire = self._nodes[address] = Wire(endpoint, timeout=self._timeout)
        return wire

    async def _map(self) -> list[Address | None]:
        if self._slots is None:
            await self.refresh()
        assert self._slots is not None
        return self._slots

    def _address(self, slots: list[Address | None], slot: int | None) -> Address:
        """The master serving ``slot`` (any, for None)."""
        any_master = (a for a in slots if a is not None)
        address = next(any_master, None) if slot is None else slots[slot]
        if address is None:
            self._stale()
            raise redis.exceptions.ClusterDownError(f"no master serves hash slot {slot}")
        return address

    @property
    def masters(self) -> list[Address]:
        """The masters of the slot map last read (empty before the first call)."""
        return list(dict.fromkeys(a for a in self._slots or () if a is not None))

    async def refresh(self) -> None:
        """Read the slot map again, from the first node that answers (one read at a time: a
        caller during one waits for it). ``ConnectionError`` when none answers."""
        reading = self._reading
        if reading is None or reading.done():
            reading = self._reading = asyncio.get_running_loop().create_task(self._read_map())
            reading.add_done_callback(_retrieve)
        await asyncio.shield(reading)

    async def _read_map(self) -> None:
        candidates = list(dict.fromkeys([*self._known, self._seed]))
        # Nodes seen failing last: each may cost a timeout.
        candidates.sort(key=lambda address: address in self._failed)
        problems = []
        for address in candidates:
            probe = Wire(
                Endpoint(address, self.endpoint.hello, self.endpoint.ssl), timeout=self._timeout
            )
            try:
                reply = await probe.call("CLUSTER", "SLOTS")
            except redis.exceptions.ResponseError as error:
                if "cluster support disabled" in str(error):
                    raise UsageError(
                        f"{address[0]}:{address[1]} is not a Redis Cluster node ({error}): "
                        "drop cluster=true from the URL"
                    ) from error
                problems.append(f"{address[0]}:{address[1]}: {error}")
                continue
            except (redis.exceptions.RedisError, *_CONNECTION_ERRORS) as error:
                problems.append(f"{address[0]}:{address[1]}: {error}")
                continue
            finally:
                probe.close()
            self._install(reply, address[0])
            return
        raise redis.exceptions.ConnectionError(
            "no Redis Cluster node gave its slot map (" + "; ".join(problems) + ")"
        )

    def _install(self, reply: list[Any], host: str) -> None:
        slots: list[Address | None] = [None] * SLOTS
        masters: list[Address] = []
        replicas: list[Address] = []
        for start, end, master, *others in reply:
            # A node that does not know its own address names it "" (or "?").
            nodes = [
                (str(n[0]) if n[0] not in ("", "?") else host, int(n[1])) for n in (master, *others)
            ]
            slots[int(start) : int(end) + 1] = [nodes[0]] * (int(end) - int(start) + 1)
            masters.append(nodes[0])
            replicas.extend(nodes[1:])
        self._slots = slots
        self._known = list(dict.fromkeys([*masters, *replicas]))
        self._failed.intersection_update(masters)
        # Connections to nodes that serve no slot any more close, unless replies are due.
        for address in [a for a in self._nodes if a not in masters]:
            if self._nodes[address].idle:
                self._nodes.pop(address).close()

    def _stale(self, failed: Address | None = None) -> None:
        """The map may be out of date: read it again in the background; after ``failed``
        failed, keep reading it until that node serves no slot (or the watch's bound)."""
        loop = asyncio.get_running_loop()
        if failed is None:
            reading = self._reading
            if reading is None or reading.done():
                self._reading = reading = loop.create_task(self._read_map())
                reading.add_done_callback(_retrieve)
            return
        self._failed.add(failed)
        if self._watching is None or self._watching.done():
            self._watching = loop.create_task(self._watch())
            self._watching.add_done_callback(_retrieve)

    async def _watch(self) -> None:
        loop = asyncio.get_running_loop()
        until = loop.time() + _WATCH_FOR
        while loop.time() < until:
            with contextlib.suppress(redis.exceptions.RedisError):
                await self.refresh()
            if not self._failed.intersection(self.masters):
                return
            await asyncio.sleep(_WATCH_EVERY)

    def _moved(self, error: redis.exceptions.AskError) -> None:
        if self._slots is not None:
            self._slots[error.slot_id] = (error.host, error.port)
        self._stale()  # more slots may have moved with it

    # commands

    async def _submit(
        self, address: Address, commands: Sequence[Command]
    ) -> list[asyncio.Future[Any]]:
        try:
            futures = await self._node(address).submit(*commands)
        except _CONNECTION_ERRORS as error:
            self._stale(address)
            raise redis.exceptions.ConnectionError(
                f"cannot reach Redis Cluster node {address[0]}:{address[1]} ({error!r})"
            ) from error
        if self._failed:
            self._failed.discard(address)  # connected: no need to watch for its failover
        return futures

    async def _gather(
        self, sent: list[tuple[Address, list[asyncio.Future[Any]]]]
    ) -> list[list[Any]]:
        """The replies of each node's futures; the first connection failure raised once all
        came (each failed node's map watch started)."""
        results: list[list[Any]] = []
        failure: BaseException | None = None
        for address, futures in sent:
            replies = []
            for future in futures:
                try:
                    replies.append(await future)
                except _CONNECTION_ERRORS as error:
                    if failure is None:
                        self._stale(address)
                        failure = error
                    replies.append(None)
            results.append(replies)
        if failure is not None:
            if isinstance(failure, redis.exceptions.RedisError):
                raise failure
            raise redis.exceptions.ConnectionError(str(failure)) from failure
        return results

    async def _send_to(self, address: Address, unit: Sequence[Command]) -> list[Any]:
        (replies,) = await self._gather([(address, await self._submit(address, unit))])
        return replies

    async def call(self, *args: str | int) -> Any:
        slots, slot = self._slots, command_slot(args)
        if slots is None or slot is None or (address := slots[slot]) is None:
            (reply,) = await self._pipeline((args,))
        else:  # (the common case, in short)
            (future,) = await self._submit(address, (args,))
            try:
                reply = await future
            except _CONNECTION_ERRORS:
                await self._gather([(address, [future])])  # raises it, the watch started
                raise
            if isinstance(reply, redis.exceptions.AskError | redis.exceptions.TryAgainError):
                (reply,) = await self._follow((args,), slot, reply)
            elif isinstance(reply, redis.exceptions.ClusterDownError):
                self._stale()
        if isinstance(reply, redis.exceptions.RedisError):
            raise reply
        return reply

    async def calls(self, *commands: Command) -> list[Any]:
        replies = await self._pipeline(commands)
        for reply in replies:
            if isinstance(reply, redis.exceptions.RedisError):
                raise reply
        return replies

    async def _pipeline(self, commands: Sequence[Command]) -> list[Any]:
        slots_map = await self._map()
        slots = [command_slot(command) for command in commands]
        # Commands without a key go with the first keyed one.
        default = next((slot for slot in slots if slot is not None), None)
        groups: dict[Address, list[int]] = {}
        for index, slot in enumerate(slots):
            address = self._address(slots_map, default if slot is None else slot)
            groups.setdefault(address, []).append(index)
        sent: list[tuple[Address, list[asyncio.Future[Any]]]] = []
        try:
            for address, indexes in groups.items():
                futures = await self._submit(address, [commands[i] for i in indexes])
                sent.append((address, futures))
        finally:
            if len(sent) < len(groups):  # a node unreachable: the others' replies still come
                with contextlib.suppress(*_CONNECTION_ERRORS):
                    await self._gather(sent)
        replies: list[Any] = [None] * len(commands)
        for (_, indexes), got in zip(groups.items(), await self._gather(sent), strict=True):
            for index, reply in zip(indexes, got, strict=True):
                replies[index] = reply
        for index, reply in enumerate(replies):
            if isinstance(reply, redis.exceptions.ClusterDownError):
                self._stale()
            elif _redirection((reply,)) is not None:
                slot = default if slots[index] is None else slots[index]
                (replies[index],) = await self._follow((commands[index],), slot, reply)
        return replies

    async def _follow(
        self, unit: Sequence[Command], slot: int | None, reply: redis.exceptions.ResponseError
    ) -> list[Any]:
        """Send ``unit`` (one command, or a whole transaction) again after the redirection
        ``reply``, as often as Redis redirects it (see the module doc); its replies."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._timeout
        delay = _FIRST_DELAY
        hops = 0
        redirection: redis.exceptions.ResponseError | None = reply
        while redirection is not None:
            asking = False
            if isinstance(redirection, redis.exceptions.AskError):
                hops += 1
                if hops > _MAX_HOPS:
                    raise redirection
                if isinstance(redirection, redis.exceptions.MovedError):
                    self._moved(redirection)
                else:
                    asking = True
                address = (redirection.host, redirection.port)
            else:  # TRYAGAIN
                if loop.time() + delay > deadline:
                    raise redirection
                await asyncio.sleep(delay)
                delay = min(delay * 2, _LAST_DELAY)
                address = self._address(await self._map(), slot)
            if asking:
                replies = (await self._send_to(address, [("ASKING",), *unit]))[1:]
            else:
                replies = await self._send_to(address, unit)
            redirection = _redirection(replies)
        return replies

    async def transaction(self, *commands: Command) -> list[Any]:
        """Run ``commands`` in one MULTI/EXEC on the master of their keys' hash slot (a
        :class:`UsageError` if they have keys of several slots)."""
        slots = {command_slot(command) for command in commands} - {None}
        if len(slots) > 1:
            raise UsageError(
                "a transaction on Redis Cluster needs all its keys in one hash slot "
                f"(these are in slots {sorted(s for s in slots if s is not None)})"
            )
        slot = slots.pop() if slots else None
        unit: list[Command] = [("MULTI",), *commands, ("EXEC",)]
        replies = await self._send_to(self._address(await self._map(), slot), unit)
        redirection = _redirection(replies)
        if redirection is not None:
            replies = await self._follow(unit, slot, redirection)
        for reply in replies[1:-1]:  # QUEUED, or why not
            if isinstance(reply, redis.exceptions.ClusterDownError):
                self._stale()
            if isinstance(reply, redis.exceptions.RedisError):
                raise reply
        done = replies[-1]
        if isinstance(done, redis.exceptions.RedisError):
            raise done
        for reply in done:
            if isinstance(reply, redis.exceptions.RedisError):
                raise reply
        return list(done)

    def close(self) -> None:
        """Close every node's connection (a later call opens new ones) and stop watching the
        map (a read under way ends by itself: callers may be waiting for it)."""
        if self._watching is not None:
            self._watching.cancel()
            self._watching = None
        nodes, self._nodes = self._nodes, {}
        for wire in nodes.values():
            wire.close()

    def pubsub(self, *, sharded: bool = False) -> Subscriber:
        """A :class:`ClusterSubscriber` (sharded pub/sub: the only kind chatcore uses on a
        cluster, where a plain ``PUBLISH`` is copied to every node)."""
        if not sharded:
            raise UsageError(
                "plain pub/sub on Redis Cluster copies every message to every node: "
                "use sharded pub/sub (pubsub(sharded=True), SPUBLISH)"
            )
        return ClusterSubscriber(self)


class _NodePushes(_PushProtocol):
    """A master's sharded pub/sub connection. A redirection in reply to ``SSUBSCRIBE`` (the
    map was out of date) closes it, as any reply that is not a message does; it is kept in
    :attr:`redirection` so the map can be mended before the broker subscribes again."""

    redirection: redis.exceptions.AskError | None = None

    def unasked(self, reply: Any) -> None:
        if isinstance(reply, redis.exceptions.AskError):  # (or MovedError)
            self.redirection = reply
        super().unasked(reply)


class ClusterSubscriber(Subscriber):
    """Sharded pub/sub over a Redis Cluster, with :class:`Subscriber`'s methods; see the
    module doc of ``_cluster_wire``."""

    def __init__(self, wire: ClusterWire) -> None:
        super().__init__(wire.endpoint, wire._timeout, sharded=True)
        self._wire = wire
        self._nodes: dict[Address, _NodePushes] = {}
        self._where: dict[str, Address] = {}  # each channel's node, as subscribed
        self._leaving: Counter[str] = Counter()  # unsubscribes asked, not yet confirmed
        self._pushes: deque[list[Any]] = deque()  # every node's, in arrival order
        self._connecting = asyncio.Lock()
        self._left: int | None = None  # messages still to give before raising the loss

    async def _node(self, address: Address) -> _NodePushes:
        protocol = self._nodes.get(address)
        if protocol is None:
            async with self._connecting:
                protocol = self._nodes.get(address)
                if protocol is None:
                    endpoint = Endpoint(address, self._endpoint.hello, self._endpoint.ssl)
                    try:
                        protocol = await asyncio.wait_for(
                            endpoint.open(_NodePushes, self._timeout), self._timeout
                        )
                    except (redis.exceptions.RedisError, *_CONNECTION_ERRORS) as error:
                        self._wire._stale(address)
                        raise redis.exceptions.ConnectionError(
                            f"cannot reach Redis Cluster node {address[0]}:{address[1]} ({error!r})"
                        ) from error
                    protocol.pushes = self._pushes
                    self._nodes[address] = protocol
        if protocol.closed or protocol.transport is None:
            raise redis.exceptions.ConnectionError("a pub/sub connection is closed")
        return protocol

    async def _by_slot(self, channels: Sequence[str], command: str) -> None:
        slots_map = await self._wire._map()
        groups: dict[int, list[str]] = {}
        for channel in channels:
            groups.setdefault(key_slot(channel), []).append(channel)
        for slot, names in groups.items():
            if command == "SSUBSCRIBE":
                address = self._wire._address(slots_map, slot)
            else:
                address = self._where.get(names[0]) or self._wire._address(slots_map, slot)
            protocol = await self._node(address)
            assert protocol.transport is not None
            protocol.transport.write(_pack((command, *names)))
            if command == "SSUBSCRIBE":
                self._where.update(dict.fromkeys(names, address))

    async def subscribe(self, *channels: str) -> None:
        await self._by_slot(channels, "SSUBSCRIBE")

    async def unsubscribe(self, *channels: str) -> None:
        channels = channels or tuple(self._where)
        self._leaving.update(channels)
        await self._by_slot(channels, "SUNSUBSCRIBE")

    def _lost(self) -> bool:
        """Whether a node's connection closed; the map is then mended or read again."""
        for address, protocol in self._nodes.items():
            if protocol.closed:
                redirection = protocol.redirection
                if isinstance(redirection, redis.exceptions.MovedError):
                    self._wire._moved(redirection)
                elif redirection is not None:
                    self._wire._stale()
                else:
                    self._wire._stale(address)
                return True
        return False

    async def get_message(self, timeout: None = None) -> dict[str, Any]:  # noqa: ASYNC109 (as PubSub)
        pushes = self._pushes
        while True:
            if self._left is None and self._lost():
                self._left = len(pushes)  # what came before the loss was seen
            if self._left == 0:
                raise redis.exceptions.ConnectionError("a pub/sub connection was lost")
            if pushes:
                break
            if not self._nodes:
                raise redis.exceptions.ConnectionError("not subscribed")
            wake = asyncio.get_running_loop().create_future()
            for protocol in self._nodes.values():
                protocol.wake = wake
            try:
                await wake
            finally:
                for protocol in self._nodes.values():
                    protocol.wake = None
        if self._left is not None:
            self._left -= 1
        kind, channel, data = pushes.popleft()
        if kind == "sunsubscribe":
            if self._leaving[channel] > 0:
                self._leaving[channel] -= 1
                if not self._leaving[channel]:
                    del self._leaving[channel]
                    self._where.pop(channel, None)
            else:
                self._wire._stale()
                raise redis.exceptions.ConnectionError(
                    f"Redis unsubscribed {channel!r} (its hash slot moved to another node)"
                )
        return {"type": _PLAIN_KIND.get(kind, kind), "channel": channel, "data": data}

    async def aclose(self) -> None:
        nodes, self._nodes = self._nodes, {}
        for protocol in nodes.values():
            if protocol.transport is not None:
                protocol.transport.close()
