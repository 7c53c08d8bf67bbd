"""The room cache of the Redis store: a send reads its room from memory, never a stale one."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import anyio
import pytest

from chatcore.redis import RedisStore
from chatcore.runtime.server import ChatServer
from chatcore.testing import LocalClient
from chatcore.wire.values import Room
from tests.redis.stack import ALICE, BOB, Cluster, expect, layout_url
from tests.redis.test_outage import kill_subscription

pytestmark = [pytest.mark.anyio, pytest.mark.network]


def store_of(cluster: Cluster, index: int) -> RedisStore:
    return cluster.stores[index]


def cached(store: RedisStore, name: str) -> Room | None:
    """The room as the store's cache holds it (None when not cached)."""
    return store._rooms.get(name)


async def until(check: Callable[[], Awaitable[bool] | bool]) -> None:
    """Wait (5 s at most) until ``check()`` is true: it depends on a message from Redis."""
    with anyio.fail_after(5):
        while True:
            result = check()
            if await result if isinstance(result, Awaitable) else result:
                return
            await anyio.sleep(0.005)


async def title(server: ChatServer, name: str) -> str:
    return (await server.get_room(name)).title


async def test_a_change_in_one_process_is_forgotten_in_the_other(cluster: Cluster) -> None:
    await cluster.a.create_room("lobby", "Lobby")
    b = store_of(cluster, 1)
    assert (await cluster.b.get_room("lobby")).title == "Lobby"
    assert cached(b, "lobby") is not None
    await cluster.a.update_room("lobby", "The lobby")
    await until(lambda: cached(b, "lobby") is None)
    assert (await cluster.b.get_room("lobby")).title == "The lobby"
    await cluster.a.delete_room("lobby")
    await until(lambda: cached(b, "lobby") is None)
    assert await cluster.b.store.get_room("lobby") is None


async def test_a_store_without_a_broker_still_announces_its_changes(cluster: Cluster) -> None:
    # An admin script with a bare store (same prefix) retitles a room the servers cached.
    await cluster.a.create_room("lobby", "Lobby")
    await cluster.a.get_room("lobby")
    await cluster.b.get_room("lobby")
    admin = RedisStore(layout_url(cluster.url), prefix=cluster.prefix)
    try:
        await admin.update_room("lobby", "Renamed")
    finally:
        await admin.aclose()
    for server in (cluster.a, cluster.b):
        await until(lambda: _is(title(server, "lobby"), "Renamed"))  # noqa: B023


async def test_the_event_of_a_change_comes_after_the_cache_forgot(cluster: Cluster) -> None:
    alice = await LocalClient.connect(cluster.a, ALICE)
    bob = await LocalClient.connect(cluster.b, BOB)
    await alice.call("create_room", room="lobby", title="Lobby")
    await bob.call("join", room="lobby")
    await bob.call("send", room="lobby", text="reads the room into b's cache")
    await alice.call("update_room", room="lobby", title="New")
    await expect(bob, "room", event="updated")
    # b heard the change before the event that announces it: its next read is fresh.
    assert (await cluster.b.get_room("lobby")).title == "New"


async def test_the_cache_is_emptied_when_the_subscription_is_lost(cluster: Cluster) -> None:
    await cluster.a.create_room("lobby", "Lobby")
    b = store_of(cluster, 1)
    await cluster.b.get_room("lobby")
    assert cached(b, "lobby") is not None
    await kill_subscription(cluster)
    # Changes published until the subscription is back are lost to b: it forgets every room.
    await until(lambda: cached(b, "lobby") is None)
    await cluster.a.update_room("lobby", "While b was deaf")
    assert await title(cluster.b, "lobby") == "While b was deaf"
    broker = Cluster.broker(cluster.b)
    await until(lambda: broker.listening)
    await cluster.a.update_room("lobby", "Heard again")
    await until(lambda: _is(title(cluster.b, "lobby"), "Heard again"))


async def _is(value: Awaitable[str], expected: str) -> bool:
    return await value == expected
