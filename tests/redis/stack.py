"""Two chat servers on Redis in one event loop, and clients that wait for frames.

``CHATCORE_TEST_REDIS_GROUPS=N`` runs their brokers (and so their stores) on the shard-group
layout of a cluster, N groups with sharded pub/sub, on the same single Redis.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import anyio

from chatcore.backends.directory import MemoryDirectory
from chatcore.backends.store import Store
from chatcore.redis import RedisBroker, RedisStore
from chatcore.runtime.outbox import Closed
from chatcore.runtime.server import ChatServer
from chatcore.testing import LocalClient
from chatcore.wire.limits import Limits
from chatcore.wire.values import User

__all__ = (
    "ALICE",
    "BOB",
    "CAROL",
    "EXPIRY",
    "HEARTBEAT",
    "Cluster",
    "expect",
    "expect_closed",
    "layout_url",
    "redis_cluster",
)

ALICE = User(id="1", name="Alice", avatar="/a.png")
BOB = User(id="2", name="Bob")
CAROL = User(id="3", name="Carol")

# A dead process's users leave within EXPIRY + HEARTBEAT seconds.
EXPIRY, HEARTBEAT = 0.4, 0.1
#: The key layout of the servers' brokers: the plain one unless the environment asks.
_GROUPS = os.environ.get("CHATCORE_TEST_REDIS_GROUPS")
LAYOUT: dict[str, Any] = {"groups": int(_GROUPS), "sharded": True} if _GROUPS else {}


def layout_url(url: str) -> str:
    """``url`` with the servers' layout in its query, for backends made elsewhere (a child
    process, an admin's store); redis-py's own client refuses such a URL."""
    if not _GROUPS:
        return url
    return f"{url}{'&' if '?' in url else '?'}groups={_GROUPS}&sharded=true"


Frame = dict[str, Any]


class Cluster:
    """Servers ``a`` and ``b`` as two processes on one Redis, sharing the app's user table."""

    def __init__(
        self,
        url: str,
        prefix: str,
        history_size: int,
        store: Store | None = None,
        auto_create: bool = False,
        presence_limit: int = 200,
    ) -> None:
        self.url, self.prefix = url, prefix
        self.auto_create = auto_create
        self.shared_store = store
        self.directory = MemoryDirectory([ALICE, BOB, CAROL])
        self.limits = Limits(
            presence_grace=0, history_size=history_size, presence_limit=presence_limit
        )
        self.stores: list[RedisStore] = []
        self.a = self.server()
        self.b = self.server()

    def server(self) -> ChatServer:
        broker = RedisBroker(
            self.url, prefix=self.prefix, expiry=EXPIRY, heartbeat=HEARTBEAT, retry=0.2, **LAYOUT
        )
        store: Store
        if self.shared_store is None:
            store = RedisStore(
                self.url, prefix=self.prefix, history_size=self.limits.history_size, broker=broker
            )
            self.stores.append(store)
        else:
            store = self.shared_store
        return ChatServer(
            store=store,
            broker=broker,
            directory=self.directory,
            limits=self.limits,
            auto_create=self.auto_create,
        )

    @staticmethod
    def broker(server: ChatServer) -> RedisBroker:
        assert isinstance(server.broker, RedisBroker)
        return server.broker


@asynccontextmanager
async def redis_cluster(
    url: str,
    prefix: str,
    history_size: int = 50,
    store: Store | None = None,
    auto_create: bool = False,
    presence_limit: int = 200,
) -> AsyncIterator[Cluster]:
    """Two servers on Redis; with ``store``, both use it (as processes share an SQL database)
    and only the broker is Redis."""
    cluster = Cluster(url, prefix, history_size, store, auto_create, presence_limit)
    async with AsyncExitStack() as stack:

        async def close_stores() -> None:
            for store in cluster.stores:
                await store.aclose()

        stack.push_async_callback(close_stores)
        await stack.enter_async_context(cluster.a)
        await stack.enter_async_context(cluster.b)
        yield cluster


async def expect(client: LocalClient, kind: str, within: float = 5, **fields: Any) -> Frame:
    """Wait for the client's next frame of type ``kind`` with these ``fields``; take it out."""
    with anyio.fail_after(within):
        while True:
            client.pump()
            for index, frame in enumerate(client.inbox):
                if frame["type"] == kind and all(frame.get(k) == v for k, v in fields.items()):
                    del client.inbox[index]
                    return frame
            text = await client.connection.next_frame()  # raises Closed once closed
            client.inbox.append(json.loads(text))


async def expect_closed(client: LocalClient, within: float = 5) -> int:
    """Wait until the server closes the client's connection; return the close code."""
    with anyio.fail_after(within), contextlib.suppress(Closed):
        while True:  # until next_frame raises Closed
            client.inbox.append(json.loads(await client.connection.next_frame()))
    code = client.close_code
    assert code is not None
    return int(code)
