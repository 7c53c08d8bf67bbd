"""The implementations the conformance suite runs against, and the harness it drives them with.

Adding an implementation
------------------------
Write an async context manager factory and add it to :data:`BROKERS` or :data:`STORES`
(``tests/conformance/backends.py``); every test in ``test_broker.py`` / ``test_store.py`` then
runs against it too, unchanged. A store factory is called with ``history_size`` and yields two
:class:`~chatcore.backends.store.Store` objects on the same data, as two processes would hold them (the
same object twice is fine for a store with no outside state)::

    @asynccontextmanager
    async def orm_store(history_size: int) -> AsyncIterator[tuple[Store, Store]]:
        store = OrmStore(history_size=history_size)
        yield store, store

    STORES["django"] = orm_store

A broker factory yields a :class:`Cluster`: two running brokers that share one backend, as two
server processes would. It may skip (``tests.helpers.require``) when a service is missing.
Add the name to :data:`NETWORK` when the implementation needs a server over a socket.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from functools import partial
from typing import Any

import anyio
import redis.asyncio
from anyio.abc import TaskGroup, TaskStatus

from chatcore.backends.broker import Broker
from chatcore.backends.envelope import Envelope
from chatcore.backends.memory_broker import MemoryBroker, MemoryBus
from chatcore.backends.memory_store import MemoryStore
from chatcore.backends.store import Store
from chatcore.postgres import PostgresBroker
from chatcore.redis import RedisBroker, RedisStore
from tests.postgres.support import postgres_prefix, terminate_listener
from tests.redis.support import redis_prefix

__all__ = (
    "BROKERS",
    "CLUSTER",
    "LOSSY",
    "MORTAL",
    "NETWORK",
    "PIPELINED",
    "STORES",
    "Cluster",
    "Process",
)


class Process:
    """One broker as one server process: what it delivered, and a way to wait for more."""

    def __init__(self, broker: Broker) -> None:
        self.broker = broker
        self.received: list[Envelope] = []
        self._arrived = anyio.Event()
        self._scope: anyio.CancelScope | None = None

    def deliver(self, envelope: Envelope) -> None:
        self.received.append(envelope)
        self._arrived.set()
        self._arrived = anyio.Event()

    async def wait_for(self, count: int, within: float = 5) -> list[Envelope]:
        """Wait until ``count`` envelopes have arrived in all; return them."""
        with anyio.fail_after(within):
            while len(self.received) < count:
                await self._arrived.wait()
        return self.received

    async def run(self, *, task_status: TaskStatus[None]) -> None:
        with anyio.CancelScope() as self._scope:
            await self.broker.run(self.deliver, task_status=task_status)

    def stop(self) -> None:
        if self._scope is not None:
            self._scope.cancel()


class Cluster:
    """Two processes on one backend. ``kill`` stops one without any clean-up, or is None
    when the implementation cannot lose one process alone; ``bound`` is the time (seconds)
    within which a dead process's presence must be gone. ``cut`` breaks one process's link
    once (its broker must notice and reconnect by itself), or is None for a broker whose link
    cannot break."""

    def __init__(
        self,
        a: Process,
        b: Process,
        kill: Callable[[Process], Awaitable[None]] | None = None,
        bound: float = 0.0,
        cut: Callable[[Process], Awaitable[None]] | None = None,
    ) -> None:
        self.a, self.b = a, b
        self.kill = kill
        self.bound = bound
        self.cut = cut


BrokerFactory = Callable[[], AbstractAsyncContextManager[Cluster]]
StoreFactory = Callable[[int], AbstractAsyncContextManager[tuple[Store, Store]]]


@asynccontextmanager
async def _running(a: Process, b: Process) -> AsyncIterator[TaskGroup]:
    async with anyio.create_task_group() as group:
        await group.start(a.run)
        await group.start(b.run)
        yield group
        group.cancel_scope.cancel()


@asynccontextmanager
async def memory_brokers() -> AsyncIterator[Cluster]:
    bus = MemoryBus()
    a, b = Process(MemoryBroker(bus)), Process(MemoryBroker(bus))
    async with _running(a, b):
        yield Cluster(a, b)


# Small timings keep the suite fast: a dead process is gone within 0.5 s.
REDIS_EXPIRY, REDIS_HEARTBEAT = 0.4, 0.1
#: The shard-group layout of a cluster, on the shared (single) Redis: 4 groups, sharded
#: pub/sub (SSUBSCRIBE, SPUBLISH).
GROUPS: dict[str, Any] = {"groups": 4, "sharded": True}


@asynccontextmanager
async def redis_brokers(engine: str = "redis", **layout: Any) -> AsyncIterator[Cluster]:
    async with redis_prefix(engine) as (url, prefix):

        def broker() -> RedisBroker:
            return RedisBroker(
                url,
                prefix=prefix,
                expiry=REDIS_EXPIRY,
                heartbeat=REDIS_HEARTBEAT,
                retry=0.2,
                **layout,
            )

        async def kill(process: Process) -> None:
            process.stop()
            await anyio.wait_all_tasks_blocked()

        async def cut(process: Process) -> None:
            """Kill the process's pub/sub connections in Redis, as a network blip would.

            Every node's connections are listed before any is killed: once one is killed the
            broker subscribes again at once, and a node listed after that would show the new
            connection, whose kill would be a second blip."""
            assert isinstance(process.broker, RedisBroker)
            name = f"chatcore-{process.broker.process}"
            clients = [
                redis.asyncio.Redis.from_url(node, decode_responses=True)
                for node in await _nodes(url)
            ]
            try:
                doomed = []
                for client in clients:
                    for entry in await client.client_list():
                        # (``ssub``: sharded subscriptions)
                        subscribed = int(entry["sub"]) + int(entry.get("ssub", 0))
                        if entry["name"] == name and subscribed > 0:
                            doomed.append((client, entry["id"]))
                assert doomed, "the process has no subscribed connection to cut"
                for client, id_ in doomed:
                    await client.client_kill_filter(_id=id_)
            finally:
                for client in clients:
                    await client.aclose()

        a, b = Process(broker()), Process(broker())
        async with _running(a, b):
            yield Cluster(a, b, kill, REDIS_EXPIRY + REDIS_HEARTBEAT, cut)


async def _nodes(url: str) -> list[str]:
    """The URL of each server a broker of ``url`` talks to: every master of a cluster."""
    if "cluster=true" not in url:
        return [url]
    client = redis.asyncio.Redis.from_url(url.split("?", 1)[0], decode_responses=True)
    try:
        slots = await client.cluster("SLOTS")
    finally:
        await client.aclose()
    return sorted({f"redis://{master[0]}:{master[1]}/0" for _, _, master, *_ in slots})


async def _kill(process: Process) -> None:
    """Stop a broker with no clean-up, as SIGKILL would."""
    process.stop()
    await anyio.wait_all_tasks_blocked()


@asynccontextmanager
async def postgres_brokers() -> AsyncIterator[Cluster]:
    async with postgres_prefix() as (url, prefix):
        a, b = (
            Process(
                PostgresBroker(
                    url, prefix=prefix, expiry=REDIS_EXPIRY, heartbeat=REDIS_HEARTBEAT, retry=0.2
                )
            )
            for _ in range(2)
        )

        async def cut(process: Process) -> None:
            """End the process's listening session in the database, as a network blip would."""
            assert isinstance(process.broker, PostgresBroker)
            await terminate_listener(process.broker)

        async with _running(a, b):
            yield Cluster(a, b, _kill, REDIS_EXPIRY + REDIS_HEARTBEAT, cut)


@asynccontextmanager
async def memory_stores(history_size: int) -> AsyncIterator[tuple[Store, Store]]:
    store = MemoryStore(history_size)
    yield store, store


@asynccontextmanager
async def redis_stores(
    history_size: int, engine: str = "redis", **layout: Any
) -> AsyncIterator[tuple[Store, Store]]:
    async with redis_prefix(engine) as (url, prefix):
        a = RedisStore(url, prefix=prefix, history_size=history_size, **layout)
        b = RedisStore(url, prefix=prefix, history_size=history_size, **layout)
        try:
            yield a, b
        finally:
            with anyio.CancelScope(shield=True):
                await a.aclose()
                await b.aclose()


@asynccontextmanager
async def redis_published_stores(
    history_size: int, engine: str = "redis", **layout: Any
) -> AsyncIterator[tuple[Store, Store]]:
    """Redis stores given their process's broker: each append publishes, and they pipeline."""
    async with redis_prefix(engine) as (url, prefix):
        brokers = [RedisBroker(url, prefix=prefix, **layout) for _ in range(2)]
        a, b = (
            RedisStore(prefix=prefix, history_size=history_size, broker=broker)
            for broker in brokers
        )
        try:
            yield a, b
        finally:
            for broker in brokers:
                broker.wire.close()


BROKERS: dict[str, BrokerFactory] = {
    "memory": memory_brokers,
    "redis": redis_brokers,
    "redis-groups": partial(redis_brokers, **GROUPS),
    "redis-cluster": partial(redis_brokers, "cluster"),
    "postgres": postgres_brokers,
}
STORES: dict[str, StoreFactory] = {
    "memory": memory_stores,
    "redis": redis_stores,
    "redis-published": redis_published_stores,
    "redis-groups": partial(redis_stores, **GROUPS),
    "redis-groups-published": partial(redis_published_stores, **GROUPS),
    "redis-cluster": partial(redis_stores, engine="cluster"),
    "redis-cluster-published": partial(redis_published_stores, engine="cluster"),
}
#: Implementations that talk to a server over a socket (their tests are marked ``network``).
NETWORK: set[str] = {
    "redis",
    "redis-published",
    "redis-groups",
    "redis-groups-published",
    "redis-cluster",
    "redis-cluster-published",
    "postgres",
}
#: Implementations on the session's local Redis Cluster (``make test-cluster``).
CLUSTER: set[str] = {"redis-cluster", "redis-cluster-published"}
#: Stores whose appends may overlap (``Store.pipelined``).
PIPELINED: set[str] = {"redis-published", "redis-groups-published", "redis-cluster-published"}
#: Brokers whose processes can die alone (in-memory "processes" share one process's fate).
MORTAL: set[str] = {"redis", "redis-groups", "redis-cluster", "postgres"}
#: Brokers whose link can break (their ``Cluster.cut``): they must keep the Loss rule.
LOSSY: set[str] = {"redis", "redis-groups", "redis-cluster", "postgres"}
