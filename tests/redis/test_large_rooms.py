"""Large rooms and online status across two processes on Redis."""

from __future__ import annotations

from collections.abc import Sequence

import anyio
import pytest

from chatcore.redis._presence_batch import BATCH
from chatcore.testing import LocalClient
from chatcore.wire.values import User
from tests.redis.stack import ALICE, BOB, CAROL, EXPIRY, HEARTBEAT, expect, redis_cluster
from tests.redis.support import redis_prefix

pytestmark = [pytest.mark.anyio, pytest.mark.network]


async def test_a_large_room_gets_one_count_for_both_processes_and_no_presence() -> None:
    async with redis_prefix() as (url, prefix), redis_cluster(url, prefix, presence_limit=2) as c:
        alice = await LocalClient.connect(c.a, ALICE)
        bob = await LocalClient.connect(c.b, BOB)
        await alice.call("create_room", room="hall")
        await alice.call("join", room="hall")
        await bob.call("join", room="hall")
        await expect(alice, "presence", event="join", user=BOB.to_wire())
        # Ten more users join on both processes at once: the room is large.
        others = [User(id=f"u{i}", name=f"User {i:02}") for i in range(10)]

        async def join(user: User, index: int) -> None:
            client = await LocalClient.connect(c.a if index % 2 else c.b, user)
            await client.call("join", room="hall")

        async with anyio.create_task_group() as group:
            for index, user in enumerate(others):
                group.start_soon(join, user, index)
        await expect(alice, "occupancy", within=5, count=12)
        await anyio.sleep(1.5)  # any further count would have come by now
        alice.pump()
        counts = [f["count"] for f in alice.inbox if f["type"] == "occupancy"]
        presences = [f for f in alice.inbox if f["type"] == "presence"]
        # At most one count per interval in all; none repeats; no per-user presence above 2.
        assert len(counts) == len(set(counts))
        assert all(p["user"]["id"] in (ALICE.id, BOB.id) for p in presences)
        page = await bob.call("members", room="hall", limit=5, query="user")
        assert [m["name"] for m in page["members"]] == [f"User {i:02}" for i in range(5)]
        assert page["count"] == 12
        more = await alice.call("members", room="hall", limit=5, query="user", after=page["next"])
        assert [m["name"] for m in more["members"]] == [f"User {i:02}" for i in range(5, 10)]


async def test_status_spans_processes_and_a_user_is_online_once() -> None:
    async with redis_prefix() as (url, prefix), redis_cluster(url, prefix) as c:
        alice = await LocalClient.connect(c.a, ALICE)
        assert (await alice.call("watch_users", users=[BOB.id, CAROL.id]))["online"] == []
        bob_a = await LocalClient.connect(c.a, BOB)
        await expect(alice, "status", user=BOB.id, online=True)
        bob_b = await LocalClient.connect(c.b, BOB)
        await bob_a.close()
        await anyio.sleep(0.3)
        alice.pump()
        assert [f for f in alice.inbox if f["type"] == "status"] == []
        await bob_b.close()
        await expect(alice, "status", user=BOB.id, online=False)
        await LocalClient.connect(c.b, CAROL)
        await expect(alice, "status", user=CAROL.id, online=True)
        assert (await alice.call("watch_users", users=[CAROL.id, BOB.id]))["online"] == [CAROL.id]


async def test_a_join_storm_costs_one_presence_script_per_room_per_round_trip() -> None:
    async with redis_prefix() as (url, prefix), redis_cluster(url, prefix) as c:
        broker = c.broker(c.a)
        wire = broker.wire
        scripts: list[int] = []
        run = wire.script

        batch = broker.layout.script(BATCH)

        async def counting(source: str, *args: str | int, keys: Sequence[str] = ()) -> object:
            if source == batch:
                scripts.append((len(args) - 3) // 4)  # operations in the batch
            return await run(source, *args, keys=keys)

        wire.script = counting  # type: ignore[method-assign]
        users = [User(id=f"s{i}", name=f"Storm {i}") for i in range(200)]
        async with anyio.create_task_group() as group:
            for user in users:
                group.start_soon(broker.enter, "storm", user)
        assert sum(scripts) == 200
        assert len(scripts) <= 5, scripts  # not one per join
        page = await broker.members_page("storm", None, 100)
        assert page.count == 200


async def test_a_dead_process_users_leave_a_large_room_as_a_count() -> None:
    async with redis_prefix() as (url, prefix), redis_cluster(url, prefix, presence_limit=2) as c:
        alice = await LocalClient.connect(c.a, ALICE)
        await alice.call("create_room", room="hall")
        await alice.call("join", room="hall")
        doomed = c.server()
        async with doomed:
            others = [User(id=f"u{i}", name=f"User {i}") for i in range(4)]
            for user in others:
                client = await LocalClient.connect(doomed, user)
                await client.call("join", room="hall")
            await expect(alice, "occupancy", within=5, count=5)
            # The process stops dead: no leave, no clean-up, its heartbeat just ends.
        # Whichever process finds it dead announces it: a count, not one leave per user.
        await expect(alice, "occupancy", within=EXPIRY + HEARTBEAT + 3, count=1)
        alice.pump()
        leaves = [f for f in alice.inbox if f["type"] == "presence" and f["event"] == "leave"]
        assert leaves == []
        members = await alice.call("members", room="hall")
        assert [m["id"] for m in members["members"]] == [ALICE.id]
