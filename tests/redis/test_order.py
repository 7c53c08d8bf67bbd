"""A room's messages keep their id order across processes, whichever store holds them."""

from __future__ import annotations

import json
import random
from collections.abc import Mapping
from typing import Any

import anyio
import pytest

from chatcore.backends.envelope import Envelope, ToRoom
from chatcore.backends.memory_store import MemoryStore
from chatcore.backends.store import Appended
from chatcore.redis import RedisBroker
from chatcore.testing import LocalClient
from chatcore.wire.values import User
from tests.conformance.backends import Process
from tests.redis.stack import ALICE, BOB, expect, redis_cluster
from tests.redis.support import redis_prefix

pytestmark = [pytest.mark.anyio, pytest.mark.network]


class SlowStore(MemoryStore):
    """A store that, like a database, takes a moment to answer after the message has its id."""

    async def append(
        self,
        room: str,
        sender: User,
        text: str,
        ts: int,
        client_id: str | None = None,
        *,
        reply_to: int | None = None,
        meta: Mapping[str, Any] | None = None,
    ) -> Appended:
        appended = await super().append(
            room, sender, text, ts, client_id, reply_to=reply_to, meta=meta
        )
        await anyio.sleep(random.uniform(0, 0.004))
        return appended


@pytest.mark.parametrize("store", ["redis", "shared"])
async def test_two_processes_writing_at_once(store: str) -> None:
    # "shared": one store object for both servers stands for the SQL database two processes
    # share (ChatBoard); the server publishes and the broker keeps the order.
    shared = SlowStore() if store == "shared" else None
    async with redis_prefix() as (url, prefix), redis_cluster(url, prefix, store=shared) as cluster:
        alice = await LocalClient.connect(cluster.a, ALICE)
        bob = await LocalClient.connect(cluster.b, BOB)
        await alice.call("create_room", room="lobby")
        await alice.call("join", room="lobby")
        await bob.call("join", room="lobby")

        async def chat(client: LocalClient) -> None:
            for n in range(20):
                await client.call("send", room="lobby", text=f"{client.user.name} {n}")

        async with anyio.create_task_group() as group:
            group.start_soon(chat, alice)
            group.start_soon(chat, bob)
        for client in (alice, bob):
            ids = [(await expect(client, "message"))["id"] for _ in range(40)]
            assert ids == list(range(1, 41))


def message(room: str, id: int) -> Envelope:
    frame = f'{{"type":"message","id":{id},"room":"{room}","text":"m"}}'
    return Envelope(ToRoom(room), frame, message_id=id)


async def test_a_message_waits_for_its_predecessor_or_the_order_wait() -> None:
    async with redis_prefix() as (url, prefix):
        broker = RedisBroker(url, prefix=prefix, expiry=2, heartbeat=0.1, order_wait=0.3)
        process = Process(broker)
        async with anyio.create_task_group() as group:
            await group.start(process.run)
            await broker.subscribe("room:lobby")
            await broker.publish(message("lobby", 1))
            await broker.publish(message("lobby", 3))  # 2 is on its way from elsewhere
            await broker.publish(message("lobby", 2))
            received = await process.wait_for(3)
            assert [json.loads(e.frame or "")["id"] for e in received] == [1, 2, 3]
            # 5 waits for 4, which never comes: it goes out after the order wait.
            await broker.publish(message("lobby", 5))
            started = anyio.current_time()
            received = await process.wait_for(4, within=3)
            assert json.loads(received[3].frame or "")["id"] == 5
            assert 0.25 <= anyio.current_time() - started <= 1.5
            # A late message is published at once.
            await broker.publish(message("lobby", 4))
            received = await process.wait_for(5)
            assert json.loads(received[4].frame or "")["id"] == 4
            # Other frames are not held back.
            await broker.publish(Envelope(ToRoom("lobby"), '{"type":"typing"}', ephemeral=True))
            assert (await process.wait_for(6))[5].frame == '{"type":"typing"}'
            group.cancel_scope.cancel()
