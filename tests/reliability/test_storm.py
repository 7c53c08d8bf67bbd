"""Disconnect storm: many clients in a room lose their sockets at once, without close frames.

Each round opens ``users`` clients, has them join one room, and aborts every socket at once.
The observer must see exactly one ``join`` and one ``leave`` per user, the member list must be
back to the survivors, and the server's task and connection counts back to where they were.
The same users come back each round, so after the first (warm-up) round the server's live
Python objects must not grow with the rounds (a leak of even one object per connection would
show as hundreds); RSS is read after every round and reported, and must stay bounded.
"""

from __future__ import annotations

import asyncio
import collections
import time

import anyio
import pytest

from chatcore.client import ChatClient, Frame
from tests.reliability.support import client, rss_kb, running, stats
from tests.starlette.example_server import ExampleServer

pytestmark = [pytest.mark.network]

GRACE_MS = 300
ROOM = "storm"


async def settled(server: ExampleServer, baseline: dict[str, int]) -> dict[str, int]:
    """Poll ``/debug/stats`` (a real server: no event to await) until its task and connection
    counts are back to ``baseline``'s, for at most 15 s; the last counts."""
    deadline = time.monotonic() + 15
    while True:
        counts = await anyio.to_thread.run_sync(stats, server, True)
        if (
            counts["tasks"] == baseline["tasks"]
            and counts["connections"] == baseline["connections"]
        ):
            return counts
        if time.monotonic() > deadline:
            return counts
        await anyio.sleep(0.1)


async def presence_until(
    watcher: ChatClient, counts: collections.Counter[tuple[str, str]], event: str, total: int
) -> None:
    """Count the watcher's presence events until ``total`` of kind ``event`` arrived."""
    async with asyncio.timeout(60):
        while sum(n for (kind, _), n in counts.items() if kind == event) < total:
            frame: Frame = await watcher.next_event()
            if frame["type"] == "presence":
                counts[frame["event"], frame["user"]["id"]] += 1


def logins(server: ExampleServer, names: list[str]) -> list[dict[str, str]]:
    return [server.login(name) for name in names]


async def enter(member: ChatClient, limit: asyncio.Semaphore) -> None:
    """Connect and join, at most ``limit`` at a time (a flood of handshakes is not the test)."""
    async with limit:
        await member.connect()
        await member.join(ROOM)


async def storm(
    server_class: type[ExampleServer], users: int, rounds: int
) -> tuple[list[int], list[int]]:
    """Run the storm; the server's live objects and RSS (KiB) after each round."""
    rss: list[int] = []
    objects: list[int] = []
    # Every member's join and leave is a presence event here: the room stays under the limit
    # above which it would send occupancy counts instead (large rooms: tests/core/test_large_rooms).
    env = {"CHATCORE_PRESENCE_LIMIT": str(users + 10)}
    with running(server_class, grace_ms=GRACE_MS, env=env) as server:
        watcher = client(server, "Watcher")
        survivor = client(server, "Survivor")
        async with watcher, survivor:
            await watcher.create_room(ROOM)
            await watcher.join(ROOM)
            await survivor.join(ROOM)
            counts: collections.Counter[tuple[str, str]] = collections.Counter()
            while counts["join", "survivor"] == 0:
                await presence_until(watcher, counts, "join", sum(counts.values()) + 1)
            baseline = await anyio.to_thread.run_sync(stats, server, True)
            assert baseline["connections"] == 2
            for round_ in range(rounds):
                counts.clear()
                names = [f"storm-{n}" for n in range(users)]
                cookies = await anyio.to_thread.run_sync(logins, server, names)
                clients = [
                    ChatClient(server.ws_url, cookies=cookie, reconnect=False) for cookie in cookies
                ]
                limit = asyncio.Semaphore(50)
                await asyncio.gather(*(enter(member, limit) for member in clients))
                await presence_until(watcher, counts, "join", users)
                for member in clients:
                    member.abort()  # the TCP connection ends; no close frame is sent
                dropped = time.monotonic()
                await presence_until(watcher, counts, "leave", users)
                took = time.monotonic() - dropped
                # A marker after the leaves: any extra presence event would arrive before it.
                marker = await survivor.send(ROOM, f"after round {round_}")
                while (frame := await watcher.next_event())["type"] != "message":
                    if frame["type"] == "presence":
                        counts[frame["event"], frame["user"]["id"]] += 1
                assert frame["id"] == marker
                expected = {
                    (kind, name.casefold()): 1 for name in names for kind in ("join", "leave")
                }
                assert dict(counts) == expected
                members = await survivor.members(ROOM)
                assert sorted(user["id"] for user in members) == ["survivor", "watcher"]
                after = await settled(server, baseline)
                assert (after["tasks"], after["connections"]) == (baseline["tasks"], 2)
                objects.append(after["objects"])
                for member in clients:
                    await member.close()
                rss.append(await anyio.to_thread.run_sync(rss_kb, server))
                print(
                    f"\nstorm round {round_}: {users} dropped, all leaves in {took:.2f} s "
                    f"(grace {GRACE_MS} ms), tasks {after['tasks']} (baseline "
                    f"{baseline['tasks']}), objects {baseline['objects']} -> {after['objects']}, "
                    f"RSS {rss[-1]} KiB"
                )
    return objects, rss


def assert_no_leak(objects: list[int], rss: list[int], users: int, rss_slack_kb: int) -> None:
    """After the warm-up round, live objects grow by less than one per dropped connection, and
    RSS by less than ``rss_slack_kb`` (the allocator keeps some freed memory)."""
    assert max(objects[1:]) - objects[0] < users, objects
    assert max(rss[1:]) - rss[0] < rss_slack_kb, rss


@pytest.mark.anyio
async def test_a_storm_of_100_drops_leaves_nothing_behind(
    server_class: type[ExampleServer],
) -> None:
    objects, rss = await storm(server_class, users=100, rounds=3)
    assert_no_leak(objects, rss, users=100, rss_slack_kb=8192)


@pytest.mark.soak
@pytest.mark.timeout(240)
@pytest.mark.anyio
async def test_a_storm_of_500_drops_leaves_nothing_behind(
    server_class: type[ExampleServer],
) -> None:
    objects, rss = await storm(server_class, users=500, rounds=5)
    assert_no_leak(objects, rss, users=500, rss_slack_kb=32768)
