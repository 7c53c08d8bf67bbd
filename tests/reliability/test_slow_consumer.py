"""Slow consumers: clients that stop reading while others chat at load.

A stalled socket's kernel buffers fill, then its outbox (``Limits.outbox`` frames); one more
chat frame closes it with 1013 and the frames queued for it are dropped, so server memory stays
bounded. If it reads again soon it gets the 1013 close frame; if it never does, the adapter ends
the socket after ``Limits.close_linger`` and its user leaves the room after the grace.
The other users must get every message, with a p99 latency within 2x of a run without it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Iterator

import anyio
import pytest

from chatcore import Limits
from chatcore.client import ChatClient
from tests.reliability.support import NO_LIMITS, StalledSocket, client, p99, rss_kb, running, stats
from tests.starlette.example_server import ExampleServer
from tests.starlette.test_uvicorn import until

pytestmark = [pytest.mark.network]

GRACE_MS = 300
TEXT = "x" * 3000  # large frames fill the stalled sockets' buffers sooner
#: Scheduling noise on a shared 2-core machine, allowed on top of the 2x p99 bound.
NOISE = 0.010


class Load:
    """``chatters`` clients in one room, each posting ``rate`` messages a second."""

    def __init__(self, chatters: list[ChatClient], room: str, rate: float) -> None:
        self.chatters = chatters
        self.room = room
        self.rate = rate
        self.sent_at: dict[str, float] = {}
        self.latencies: list[float] = []
        self.received = [0] * len(chatters)
        self.stop = asyncio.Event()
        self.progress = asyncio.Event()

    async def post(self, index: int) -> int:
        """Post until stopped; the number of messages posted."""
        start, n = time.monotonic(), 0
        while not self.stop.is_set():
            key = f"{index}-{n}"
            self.sent_at[key] = time.monotonic()
            await self.chatters[index].send(self.room, f"{key} {TEXT}")
            n += 1
            # Pacing (not waiting for an event): a steady offered load, as users would post.
            await asyncio.sleep(max(0.0, start + n / self.rate - time.monotonic()))
        return n

    async def read(self, index: int) -> None:
        """Receive the others' messages as they come, recording each one's latency."""
        chatter = self.chatters[index]
        while True:
            event = await chatter.next_event()
            if event["type"] != "message" or event["from"]["id"] == chatter.user["id"]:
                continue
            key = event["text"].split(" ", 1)[0]
            self.latencies.append(time.monotonic() - self.sent_at[key])
            self.received[index] += 1
            self.progress.set()

    async def run(self, while_running: Awaitable[object]) -> None:
        """Post until ``while_running`` is done, then check every message reached everyone."""
        readers = [asyncio.create_task(self.read(i)) for i in range(len(self.chatters))]
        posters = [asyncio.create_task(self.post(i)) for i in range(len(self.chatters))]
        try:
            await while_running
        finally:
            self.stop.set()
        posted = await asyncio.gather(*posters)
        expected = [sum(posted) - mine for mine in posted]
        try:
            async with asyncio.timeout(30):
                while self.received != expected:
                    self.progress.clear()
                    await self.progress.wait()
        finally:
            for reader in readers:
                reader.cancel()
            await asyncio.gather(*readers, return_exceptions=True)


@contextlib.contextmanager
def chat_server(server_class: type[ExampleServer]) -> Iterator[ExampleServer]:
    with running(server_class, grace_ms=GRACE_MS, env=NO_LIMITS) as server:
        yield server


async def wait_stats(server: ExampleServer, key: str, value: int, within: float) -> list[int]:
    """Poll ``/debug/stats`` (no event to await on a real server) until ``key`` is ``value``;
    the server's RSS (KiB) at each poll."""
    rss: list[int] = []
    deadline = time.monotonic() + within
    while (await anyio.to_thread.run_sync(stats, server))[key] != value:
        rss.append(await anyio.to_thread.run_sync(rss_kb, server))
        assert time.monotonic() < deadline, f"{key} never reached {value}"
        await asyncio.sleep(0.1)
    return rss


async def timed(seconds: float) -> None:
    await asyncio.sleep(seconds)


async def polled(server: ExampleServer, seconds: float) -> None:
    """Ask for ``/debug/stats`` as :func:`wait_stats` does, for ``seconds``: both runs of a
    comparison then carry the same measuring load."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        await anyio.to_thread.run_sync(stats, server)
        await asyncio.sleep(0.1)


async def members(observer: ChatClient, room: str) -> list[str]:
    return sorted(user["id"] for user in await observer.members(room))


@pytest.mark.anyio
async def test_a_stalled_reader_is_closed_with_1013_and_memory_stays_bounded(
    server_class: type[ExampleServer],
) -> None:
    with chat_server(server_class) as server:
        chatters = [client(server, f"Chatter{n}") for n in range(3)]
        async with contextlib.AsyncExitStack() as stack:
            for chatter in chatters:
                await stack.enter_async_context(chatter)
            await chatters[0].create_room("slow")
            for chatter in chatters:
                await chatter.join("slow")
            # Warm-up: the server's memory with this load and nobody stalled.
            await Load(chatters, "slow", rate=50).run(asyncio.ensure_future(timed(1.0)))
            baseline = rss_kb(server)
            comes_back = StalledSocket(server, server.login("Returning"))
            never_reads = StalledSocket(server, server.login("Gone"))
            for stalled in (comes_back, never_reads):
                stalled.send({"type": "join", "room": "slow"})
            load = Load(chatters, "slow", rate=100)
            overflow = asyncio.ensure_future(wait_stats(server, "closing", 2, within=60))
            await load.run(overflow)
            rss = overflow.result()
            # Read again at once: everything buffered, then the close frame.
            frames, code = await anyio.to_thread.run_sync(comes_back.drain)
            assert code == 1013
            # The one that never reads is ended after the linger; both leave after the grace.
            await wait_stats(server, "connections", 3, within=Limits().close_linger / 1000 + 10)
            left: set[str] = set()
            while left != {"returning", "gone"}:
                leave, _ = await until(chatters[1], "presence", lambda e: e["event"] == "leave")
                left.add(leave["user"]["id"])
            assert await members(chatters[1], "slow") == ["chatter0", "chatter1", "chatter2"]
            _, code_lost = await anyio.to_thread.run_sync(never_reads.drain, 5)
            assert code_lost is None  # ended without a close frame: it could not be written
            for stalled in (comes_back, never_reads):
                stalled.close()
        peak = max([baseline, *rss])
        print(
            f"\nslow consumer: overflow after {sum(load.received)} deliveries, the returning "
            f"one read {frames} frames then 1013; RSS {baseline} KiB before, peak {peak} KiB"
        )
        assert peak - baseline < 16 * 1024


async def latencies(chatters: list[ChatClient], until_done: Awaitable[object]) -> list[float]:
    load = Load(chatters, "paced", rate=50)
    await load.run(until_done)
    return load.latencies


@pytest.mark.soak
@pytest.mark.timeout(240)
@pytest.mark.anyio
async def test_stalled_readers_do_not_slow_the_others_down(
    server_class: type[ExampleServer],
) -> None:
    with chat_server(server_class) as server:
        chatters = [client(server, f"Paced{n}") for n in range(4)]
        async with contextlib.AsyncExitStack() as stack:
            for chatter in chatters:
                await stack.enter_async_context(chatter)
            await chatters[0].create_room("paced")
            for chatter in chatters:
                await chatter.join("paced")
            await latencies(chatters, asyncio.ensure_future(timed(2)))  # warm-up
            alone = await latencies(chatters, asyncio.ensure_future(polled(server, 10)))
            stalled = [StalledSocket(server, server.login(f"Stalled{n}")) for n in range(3)]
            for socket in stalled:
                socket.send({"type": "join", "room": "paced"})
            # At least as long, and until every stalled socket overflowed and was ended.
            ended = wait_stats(server, "connections", 4, within=60)
            beside = await latencies(chatters, asyncio.gather(polled(server, 10), ended))
            for socket in stalled:
                socket.close()
        print(
            f"\nlatency, 4 chatters x 50 msg/s, {len(TEXT)} chars: alone p50 "
            f"{sorted(alone)[len(alone) // 2] * 1000:.1f} ms p99 {p99(alone) * 1000:.1f} ms "
            f"({len(alone)} deliveries); beside 3 stalled readers p50 "
            f"{sorted(beside)[len(beside) // 2] * 1000:.1f} ms p99 {p99(beside) * 1000:.1f} ms "
            f"({len(beside)} deliveries)"
        )
        # 2x, plus 10 ms for the scheduling noise of a shared 2-core machine (seen: 7.4 ms alone,
        # 15.6 ms beside once); stalled readers that held the others up would cost far more.
        assert p99(beside) <= 2 * p99(alone) + NOISE
