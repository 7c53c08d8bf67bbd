"""Two example processes on a Redis Cluster of their own: a master killed, a slot moved.

Each test starts its own 3 masters + 3 replicas (:func:`tests.redis.cluster_support.local_cluster`)
because it kills or reshapes it; the plain two-process suites run on the session's shared
cluster (``tests/scale/test_chat.py`` and the others, parametrized by engine).
"""

from __future__ import annotations

import anyio
import pytest
import redis.asyncio

from chatcore.client import ChatClient, Frame
from tests.redis.cluster_support import LocalCluster, local_cluster
from tests.redis.support import need_redis, unique_prefix
from tests.scale.pair import example_pair, send_when_back, until

pytestmark = [pytest.mark.anyio, pytest.mark.network, pytest.mark.cluster]


async def room_slot(cluster: LocalCluster, prefix: str, room: str) -> tuple[int, int]:
    """The master that holds ``room``'s message log, and the log's hash slot."""
    for port in await cluster.masters():
        client = redis.asyncio.Redis(port=port, decode_responses=True)
        try:
            found = [key async for key in client.scan_iter(match=f"{prefix}*log:{room}")]
            if found:
                return port, int(await client.cluster("KEYSLOT", found[0]))
        finally:
            await client.aclose()
    raise AssertionError(f"no master holds the log of {room}")


async def messages(client: ChatClient, count: int, within: float = 30) -> list[Frame]:
    received: list[Frame] = []
    with anyio.fail_after(within):
        while len(received) < count:
            received.append((await until(client, "message"))[0])
    return received


async def test_the_chat_survives_the_room_master_killed() -> None:
    need_redis()  # the redis-server program comes with it
    prefix = unique_prefix()
    async with local_cluster() as cluster, example_pair(cluster.url, prefix) as pair:
        alice = await pair.open(0, "Alice")
        bob = await pair.open(1, "Bob")
        await alice.create_room("hall")
        for client in (alice, bob):
            await client.join("hall")
        first = [await alice.send("hall", f"before {n}") for n in range(3)]
        assert [m["id"] for m in await messages(bob, 3)] == first

        port, _ = await room_slot(cluster, prefix, "hall")
        await cluster.kill(port)  # the room's master: its replica takes over
        # Meanwhile requests on the room answer `unavailable`; nobody is disconnected
        # for it, and once the replica serves the slot the chat goes on with the next ids.
        after = [await send_when_back(alice, "hall", f"after {n}", within=30) for n in range(3)]
        assert after == [first[-1] + 1, first[-1] + 2, first[-1] + 3]
        got = await messages(bob, 3)
        assert [(m["id"], m["text"]) for m in got] == [(after[n], f"after {n}") for n in range(3)]
        history = (await bob.history("hall"))["messages"]
        assert [m["text"] for m in history] == [f"before {n}" for n in range(3)] + [
            f"after {n}" for n in range(3)
        ]
        assert pair.alive()


async def test_messages_flow_on_while_the_room_slot_migrates() -> None:
    need_redis()
    prefix = unique_prefix()
    fast = {"CHATCORE_RATE": "1000", "CHATCORE_BURST": "1000"}  # Alice sends as fast as acked
    async with local_cluster() as cluster, example_pair(cluster.url, prefix, env=fast) as pair:
        alice = await pair.open(0, "Alice")
        bob = await pair.open(1, "Bob")
        await alice.create_room("hall")
        for client in (alice, bob):
            await client.join("hall")
        await alice.send("hall", "first")
        port, slot = await room_slot(cluster, prefix, "hall")
        target = next(p for p in await cluster.masters() if p != port)
        count = 150
        sent: list[int] = []
        underway = anyio.Event()  # some went before the slot starts moving

        async def talk() -> None:
            for n in range(count):
                sent.append(await send_when_back(alice, "hall", f"m{n}", within=30))
                if len(sent) == count // 3:
                    underway.set()

        async with anyio.create_task_group() as group:
            group.start_soon(talk)
            await underway.wait()
            await cluster.migrate(slot, target)
            moved_at = len(sent)
        assert count // 3 <= moved_at < count  # the slot moved while messages flowed
        # Every message once, in id order, with no hole, on the other process too.
        assert sent == list(range(sent[0], sent[0] + count))
        got = (await messages(bob, count + 1))[1:]
        assert [(m["id"], m["text"]) for m in got] == [(sent[n], f"m{n}") for n in range(count)]
        assert (await room_slot(cluster, prefix, "hall"))[0] == target
        assert pair.alive()
