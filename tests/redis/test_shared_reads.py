"""A reconnect wave on Redis: a hundred identical resumes read the room's history once or so."""

from __future__ import annotations

import anyio
import pytest

from chatcore.testing import LocalClient
from chatcore.wire.values import User
from tests.redis.stack import ALICE, redis_cluster
from tests.redis.support import redis_prefix

pytestmark = [pytest.mark.anyio, pytest.mark.network]

WAVE = 100


async def test_a_wave_of_identical_resumes_reads_the_store_about_once() -> None:
    async with redis_prefix() as (url, prefix), redis_cluster(url, prefix) as cluster:
        alice = await LocalClient.connect(cluster.a, ALICE)
        await alice.call("create_room", room="lobby")
        await alice.call("join", room="lobby")
        for n in range(5):
            await alice.call("send", room="lobby", text=f"m {n}")
        server = cluster.b
        users = [User(id=f"w{n}", name=f"W {n}") for n in range(WAVE)]
        clients = [await LocalClient.connect(server, user) for user in users]
        reads = server._reads
        before = (reads.reads, reads.shared)
        replies: list[list[int]] = []

        async def resume(client: LocalClient) -> None:
            joined = await client.call("join", room="lobby", since=2)
            replies.append([m["id"] for m in joined["history"]])

        async with anyio.create_task_group() as group:
            for client in clients:
                group.start_soon(resume, client)
        made, shared = reads.reads - before[0], reads.shared - before[1]
        print(f"{WAVE} resumes: {made} store reads, {shared} shared")  # figures for the docs
        assert replies == [[3, 4, 5]] * WAVE
        # Each resume reads history and changes: 2 * WAVE without sharing. The joins arrive
        # over a few turns of the loop, so a few reads start before the rest can share them.
        assert made + shared == 2 * WAVE
        assert made <= 2 * WAVE // 5, (made, shared)
