"""Redis outages: commands answer ``unavailable``, nothing crashes, and the chat resumes."""

from __future__ import annotations

import anyio
import pytest
import redis.asyncio

from chatcore import MemoryStore
from chatcore.testing import LocalClient
from chatcore.wire.errors import Unavailable
from tests.redis.stack import (
    ALICE,
    BOB,
    CAROL,
    HEARTBEAT,
    Cluster,
    expect,
    redis_cluster,
)
from tests.redis.support import need_redis, redis_prefix, throwaway_redis, unique_prefix

pytestmark = [pytest.mark.anyio, pytest.mark.network]


async def lobby(cluster: Cluster) -> tuple[LocalClient, LocalClient]:
    alice = await LocalClient.connect(cluster.a, ALICE)
    bob = await LocalClient.connect(cluster.b, BOB)
    await alice.call("create_room", room="lobby")
    await alice.call("join", room="lobby")
    await bob.call("join", room="lobby")
    await expect(alice, "presence", event="join", user=BOB.to_wire())
    return alice, bob


async def test_redis_restarted_mid_chat() -> None:
    need_redis()  # the redis-server program comes with it
    async with throwaway_redis() as server, redis_cluster(server.url, unique_prefix()) as cluster:
        alice, bob = await lobby(cluster)
        await alice.call("send", room="lobby", text="before")
        assert (await expect(bob, "message"))["id"] == 1

        await server.stop()
        # Redis is down: requests that need it get `unavailable`, sockets stay open.
        reply = await alice.request("send", room="lobby", text="during")
        assert (reply["type"], reply["code"]) == ("error", "unavailable")
        reply = await bob.request("members", room="lobby")
        assert (reply["type"], reply["code"]) == ("error", "unavailable")
        assert (await bob.call("ping"))["type"] == "ok"  # no Redis needed: still served
        assert alice.close_code is None
        assert bob.close_code is None
        with pytest.raises(Unavailable):  # an adapter closes such a socket with 1013
            await cluster.a.connect(CAROL)

        await server.start()
        # Subscriptions come back and each process fills its rooms' gaps from the store (here
        # nothing was stored meanwhile): the sockets stay open, nobody reconnects.
        await bob.call("rooms", watch=True)
        # (Room list events published before its subscription is back are not replayed.)
        with anyio.fail_after(5):
            while True:
                if all(Cluster.broker(server).listening for server in (cluster.a, cluster.b)):
                    break
                await anyio.sleep(0.02)  # the broker's state: no event tells of it
        with anyio.fail_after(5):
            while (reply := await alice.request("create_room", room="after"))["type"] == "error":
                assert reply["code"] == "unavailable"  # a connection from before the restart
                await anyio.sleep(0.05)
        assert (await expect(bob, "room", event="created"))["room"]["name"] == "after"
        await alice.call("send", room="lobby", text="after")
        message = await expect(bob, "message")
        assert (message["id"], message["text"]) == (2, "after")
        members = (await bob.call("members", room="lobby"))["members"]
        assert sorted(u["id"] for u in members) == [ALICE.id, BOB.id]
        assert (alice.close_code, bob.close_code) == (None, None)
        assert not [f for f in bob.inbox if f["type"] == "message"]  # nothing twice


async def kill_subscription(cluster: Cluster) -> None:
    """Cut process b's pub/sub connection, as a network blip would, and only that."""
    client = redis.asyncio.Redis.from_url(cluster.url, decode_responses=True)
    try:
        name = f"chatcore-{Cluster.broker(cluster.b).process}"
        subscribers = [
            entry["id"]
            for entry in await client.client_list()
            # (``ssub``: sharded subscriptions)
            if entry["name"] == name and int(entry["sub"]) + int(entry.get("ssub", 0)) > 0
        ]
        assert len(subscribers) == 1
        await client.client_kill_filter(_id=subscribers[0])
    finally:
        await client.aclose()


async def test_messages_missed_by_a_broken_subscription_are_filled_in() -> None:
    async with (
        redis_prefix() as (url, prefix),
        redis_cluster(url, prefix, history_size=5) as cluster,
    ):
        alice, bob = await lobby(cluster)
        await alice.call("send", room="lobby", text="seen")
        assert (await expect(bob, "message"))["id"] == 1
        await alice.call("edit", room="lobby", id=1, text="seen, edited")
        assert (await expect(bob, "message_changed"))["message"]["text"] == "seen, edited"
        await kill_subscription(cluster)
        for n in range(3):
            await alice.call("send", room="lobby", text=f"missed {n}")
        await alice.call("edit", room="lobby", id=2, text="missed 0, edited")
        # Process b resubscribes and reads what it missed; whatever came live is not repeated.
        for id in (2, 3, 4):
            assert (await expect(bob, "message"))["id"] == id
        assert (await expect(bob, "message_changed"))["message"]["id"] == 2
        await alice.call("send", room="lobby", text="live again")
        assert (await expect(bob, "message"))["id"] == 5
        assert bob.close_code is None
        assert cluster.b._gaps.filled == 1
        bob.pump()
        assert not [f for f in bob.inbox if f["type"] in ("message", "message_changed")]


async def test_a_database_store_fills_the_gap_of_a_redis_broker() -> None:
    # ChatBoard's shape: rooms and history in the site's database (here a store both processes
    # share), Redis only the broker; the store stays up while the broker's link is down.
    async with (
        redis_prefix() as (url, prefix),
        redis_cluster(url, prefix, store=MemoryStore()) as cluster,
    ):
        alice, bob = await lobby(cluster)
        await kill_subscription(cluster)
        for n in range(4):
            await alice.call("send", room="lobby", text=f"maybe missed {n}")
        assert [(await expect(bob, "message"))["id"] for _ in range(4)] == [1, 2, 3, 4]
        await alice.call("send", room="lobby", text="live")
        assert (await expect(bob, "message"))["id"] == 5
        assert bob.close_code is None
        assert cluster.b._gaps.filled == 1
        bob.pump()
        assert not [f for f in bob.inbox if f["type"] == "message"]


async def test_lost_presence_is_re_asserted(cluster: Cluster) -> None:
    alice, bob = await lobby(cluster)
    # Redis loses the presence keys (a restart without persistence would lose all of them).
    client = redis.asyncio.Redis.from_url(cluster.url, decode_responses=True)
    try:
        keys = [
            key
            async for key in client.scan_iter(match=f"{cluster.prefix}*")
            # (after the group's hash tag, if any)
            if _kind(key.removeprefix(cluster.prefix)) in ("procs", "proc", "pm", "ph", "on")
        ]
        await client.delete(*keys)
    finally:
        await client.aclose()
    # The next heartbeats put every process's entries back and announce them again.
    await expect(alice, "presence", event="join", user=BOB.to_wire())
    await expect(bob, "presence", event="join", user=ALICE.to_wire())
    members = (await alice.call("members", room="lobby"))["members"]
    assert sorted(u["id"] for u in members) == [ALICE.id, BOB.id]
    reply = await alice.call("send_private", to=BOB.id, text="you are online again")
    assert (await expect(bob, "private"))["id"] == reply["id"]


async def test_a_leave_missed_during_an_outage_is_made_good() -> None:
    need_redis()
    async with throwaway_redis() as server, redis_cluster(server.url, unique_prefix()) as cluster:
        alice, bob = await lobby(cluster)
        carol = await LocalClient.connect(cluster.a, CAROL)
        await carol.call("join", room="lobby")
        await expect(bob, "presence", event="join", user=CAROL.to_wire())
        await server.stop()
        await carol.close()  # its leave cannot be written now
        await server.start()
        # Once Redis is back, process a makes Redis hold what it holds: Carol is gone.
        # Its clients are closed by then, so no frame tells: ask Redis, with a deadline.
        with anyio.fail_after(5):
            while True:
                try:
                    if CAROL not in await cluster.b.broker.members("lobby"):
                        break
                except Unavailable:
                    pass  # a call may still meet a connection from before the restart
                await anyio.sleep(HEARTBEAT)
        assert sorted(u.id for u in await cluster.b.broker.members("lobby")) == [ALICE.id, BOB.id]
        # Nothing was lost that the store does not hold: nobody is closed.
        assert (alice.close_code, bob.close_code) == (None, None)


def _kind(key: str) -> str:
    """The kind of a key after the prefix (``pm`` of ``pm:lobby`` and ``{1b}:pm:lobby``)."""
    parts = key.split(":")
    return parts[1] if parts[0].startswith("{") else parts[0]
