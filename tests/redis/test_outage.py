"""Redis outages: commands answer ``unavailable``, nothing crashes, and the chat resumes."""

from __future__ import annotations

import anyio
import pytest
import redis.asyncio

from chatcore.testing import LocalClient
from chatcore.wire.errors import Unavailable
from tests.redis.stack import (
    ALICE,
    BOB,
    CAROL,
    HEARTBEAT,
    Cluster,
    expect,
    expect_closed,
    redis_cluster,
)
from tests.redis.support import need_redis, redis_prefix, throwaway_redis, unique_prefix

pytestmark = [pytest.mark.anyio, pytest.mark.network]

TRY_AGAIN_LATER = 1013


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
        # Subscriptions come back; frames may have been lost meanwhile, so each process
        # closes its connections with 1013 and the clients resume.
        assert await expect_closed(alice) == TRY_AGAIN_LATER
        assert await expect_closed(bob) == TRY_AGAIN_LATER
        await alice.close()
        await bob.close()
        alice = await LocalClient.connect(cluster.a, ALICE)
        bob = await LocalClient.connect(cluster.b, BOB)
        # b's `rooms` subscription, made once at start-up, is back.
        await bob.call("rooms", watch=True)
        await alice.call("create_room", room="after")
        assert (await expect(bob, "room", event="created"))["room"]["name"] == "after"
        for client in (alice, bob):
            joined = await client.call("join", room="lobby", since=1)
            assert (joined["history"], joined["gap"]) == ([], False)
        await alice.call("send", room="lobby", text="after")
        message = await expect(bob, "message")
        assert (message["id"], message["text"]) == (2, "after")
        members = (await bob.call("members", room="lobby"))["members"]
        assert sorted(u["id"] for u in members) == [ALICE.id, BOB.id]


async def kill_subscription(cluster: Cluster) -> None:
    """Cut process b's pub/sub connection, as a network blip would, and only that."""
    client = redis.asyncio.Redis.from_url(cluster.url, decode_responses=True)
    try:
        name = f"chatcore-{Cluster.broker(cluster.b).process}"
        subscribers = [
            entry["id"]
            for entry in await client.client_list()
            if entry["name"] == name and int(entry["sub"]) > 0
        ]
        assert len(subscribers) == 1
        await client.client_kill_filter(_id=subscribers[0])
    finally:
        await client.aclose()


@pytest.mark.parametrize(("missed", "gap"), [(3, False), (7, True)])
async def test_missed_frames_are_filled_in_or_reported_as_a_gap(missed: int, gap: bool) -> None:
    async with (
        redis_prefix() as (url, prefix),
        redis_cluster(url, prefix, history_size=5) as cluster,
    ):
        alice, bob = await lobby(cluster)
        await alice.call("send", room="lobby", text="seen")
        assert (await expect(bob, "message"))["id"] == 1
        await kill_subscription(cluster)
        for n in range(missed):
            await alice.call("send", room="lobby", text=f"missed {n}")
        assert await expect_closed(bob) == TRY_AGAIN_LATER
        assert alice.close_code is None  # process a lost nothing
        live = [frame["id"] for frame in bob.inbox if frame["type"] == "message"]
        since = max([1, *live])
        await bob.close()
        bob = await LocalClient.connect(cluster.b, BOB)
        joined = await bob.call("join", room="lobby", since=since)
        assert joined["gap"] is gap
        resumed = [m["id"] for m in joined["history"]]
        last = 1 + missed
        if gap:
            assert resumed == list(range(last - 4, last + 1))  # the 5 the history keeps
        else:
            assert resumed == list(range(since + 1, last + 1))
        await alice.call("send", room="lobby", text="live again")
        assert (await expect(bob, "message"))["id"] == last + 1


async def test_lost_presence_is_re_asserted(cluster: Cluster) -> None:
    alice, bob = await lobby(cluster)
    # Redis loses the presence keys (a restart without persistence would lose all of them).
    client = redis.asyncio.Redis.from_url(cluster.url, decode_responses=True)
    try:
        keys = [
            key
            async for key in client.scan_iter(match=f"{cluster.prefix}*")
            if key.removeprefix(cluster.prefix).split(":")[0] in ("procs", "proc", "pm", "ph", "on")
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
        for client in (alice, bob):
            assert await expect_closed(client) == TRY_AGAIN_LATER
