"""One example process SIGKILLed: the other announces its users' leave, once, within the bound."""

from __future__ import annotations

import anyio
import pytest

from tests.redis.support import ENGINES, redis_prefix
from tests.scale.pair import example_pair, until, where

pytestmark = [pytest.mark.anyio, pytest.mark.network]

EXPIRY = 1.5  # seconds; the heartbeat is a third of it
BOUND = EXPIRY + EXPIRY / 3  # the documented bound: expiry + heartbeat
SLACK = 1.0  # two busy processes on a small machine


@pytest.mark.parametrize("engine", ENGINES)
async def test_a_killed_process_users_leave_once_within_the_bound(engine: str) -> None:
    async with (
        redis_prefix(engine) as (url, prefix),
        example_pair(url, prefix, expiry=EXPIRY) as pair,
    ):
        alice = await pair.open(0, "Alice")
        bob = await pair.open(1, "Bob")
        zed = await pair.open(1, "Zed", reconnect=False)
        await alice.create_room("hall")
        for client in (alice, bob, zed):
            await client.join("hall")
        await until(alice, "presence", where(event="join", user="zed"))

        pair.kill(1)
        killed = anyio.current_time()
        leaves: set[str] = set()
        with anyio.fail_after(BOUND + SLACK + 1):
            while leaves != {"bob", "zed"}:
                leave, before = await until(alice, "presence", where(event="leave"))
                assert [e for e in before if e["type"] == "presence"] == []
                assert leave["user"]["id"] not in leaves  # announced once
                leaves.add(leave["user"]["id"])
        elapsed = anyio.current_time() - killed
        assert elapsed <= BOUND + SLACK, f"the leave took {elapsed:.2f} s"
        assert [user["id"] for user in await alice.members("hall")] == ["alice"]

        # The process comes back on its port and Bob's client rejoins by itself. Starting it
        # takes several heartbeats of the survivor: none of them may announce a leave again.
        await anyio.to_thread.run_sync(pair.servers[1].start)
        _, before = await until(alice, "presence", where(event="join", user="bob"))
        assert [e for e in before if e["type"] == "presence"] == []
        assert sorted(user["id"] for user in await alice.members("hall")) == ["alice", "bob"]
        assert await bob.members("hall") == await alice.members("hall")
