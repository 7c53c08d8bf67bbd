"""200 clients on two example processes through a Redis restart and a 10 s network cut: no
reconnect storm. Each process fills its rooms' gaps from the store once Redis is back, so no
socket is closed, no acknowledged message is lost and none arrives twice or out of order."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from chatcore.client import ChatClient, ReplyError
from tests.redis.support import need_redis, redis_prefix, throwaway_redis, unique_prefix
from tests.reliability.test_redis_cut import CuttableProxy
from tests.scale.pair import Pair, example_pair
from tests.starlette.example_server import ExampleServer

pytestmark = [pytest.mark.anyio, pytest.mark.network, pytest.mark.soak]

CLIENTS = 200
CUT = 10.0
ROOM = "hall"


class RawClient:
    """A socket that records every frame as the server sent it (no client-side dedup) and
    how it ended."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.frames: list[dict[str, Any]] = []
        self.close_code: int | None = None
        self.arrived = asyncio.Event()
        self._task = asyncio.create_task(self._read())

    @classmethod
    async def open(cls, pair: Pair, process: int, name: str) -> RawClient:
        server = pair.servers[process]
        cookies = await anyio.to_thread.run_sync(server.login, name)
        cookie = "; ".join(f"{k}={v}" for k, v in cookies.items())
        ws = await connect(server.ws_url, additional_headers={"Cookie": cookie}, open_timeout=30)
        return cls(ws)

    async def _read(self) -> None:
        try:
            async for data in self.ws:
                self.frames.append(json.loads(data))
                self.arrived.set()
        except ConnectionClosed:
            pass
        self.close_code = self.ws.close_code
        self.arrived.set()

    async def until(self, test: Callable[[RawClient], bool]) -> None:
        while not test(self):
            assert self.close_code is None, self.close_code
            self.arrived.clear()
            await self.arrived.wait()

    async def request(self, kind: str, **fields: Any) -> None:
        await self.ws.send(json.dumps({"type": kind, **fields}))

    def message_ids(self) -> list[int]:
        return [f["id"] for f in self.frames if f.get("type") == "message"]

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.ws.close()
        await asyncio.gather(self._task, return_exceptions=True)


async def crowd(pair: Pair) -> list[RawClient]:
    """CLIENTS sockets, half on each process, all in the room."""
    opened: list[RawClient] = []

    async def one(n: int) -> None:
        client = await RawClient.open(pair, n % 2, f"user{n:03d}")
        opened.append(client)
        await client.request("join", room=ROOM, ref=1)

    for start in range(0, CLIENTS, 20):  # logins in small waves: the machine is shared
        async with anyio.create_task_group() as group:
            for n in range(start, min(start + 20, CLIENTS)):
                group.start_soon(one, n)
    with anyio.fail_after(30):
        for client in opened:
            await client.until(lambda c: any(f.get("ref") == 1 for f in c.frames))
    return opened


async def storm(
    pair: Pair, outage: Callable[[], Awaitable[None]], senders: tuple[int, ...]
) -> dict[str, Any]:
    """CLIENTS sockets in one room while ChatClients on ``senders`` post and ``outage`` runs;
    then every socket must hold every acknowledged id once, in order, and still be open."""
    owner = await pair.open(0, "owner")
    await owner.create_room(ROOM)
    await owner.join(ROOM)
    clients = await crowd(pair)
    posters = [owner if p == 0 else await pair.open(p, f"poster{p}") for p in senders]
    for poster in posters:
        await poster.join(ROOM)
    acked: list[int] = []
    stop = anyio.Event()

    async def post(poster: ChatClient) -> None:
        n = 0
        while not stop.is_set():
            poster.timeout = 2.0
            try:
                reply = await poster.request("send", room=ROOM, text=f"{poster.user['id']} {n}")
                acked.append(reply["id"])
            except ReplyError as error:
                if error.code != "unavailable":
                    raise
            except TimeoutError:
                pass
            n += 1
            await anyio.sleep(0.1)

    started = time.monotonic()
    async with anyio.create_task_group() as group:
        for poster in posters:
            group.start_soon(post, poster)
        await anyio.sleep(1)
        await outage()
        await anyio.sleep(3)  # messages flow again after the outage
        stop.set()
    assert pair.alive()
    last = max(acked)
    with anyio.fail_after(30):
        for client in clients:
            await client.until(lambda c: last in c.message_ids())
    duplicates = missing = disorder = 0
    for client in clients:
        ids = client.message_ids()
        counts = Counter(ids)
        duplicates += sum(n - 1 for n in counts.values())
        missing += len(set(acked) - set(ids))
        disorder += sum(1 for a, b in itertools.pairwise(ids) if b <= a)
    closed = Counter(c.close_code for c in clients if c.close_code is not None)
    figures = {
        "clients": len(clients),
        "acknowledged": len(acked),
        "missing": missing,
        "duplicates": duplicates,
        "out_of_order": disorder,
        "closed": dict(closed),
        "seconds": round(time.monotonic() - started, 1),
    }
    print(f"outage storm: {figures}")  # the figures for docs/reliability.md
    assert (missing, duplicates, disorder, dict(closed)) == (0, 0, 0, {}), figures
    assert len(set(acked)) == len(acked)
    for client in clients:
        await client.close()
    return figures


async def test_two_hundred_clients_ride_out_a_redis_restart(
    server_class: type[ExampleServer],
) -> None:
    need_redis()  # the redis-server program comes with it
    async with (
        throwaway_redis() as redis,
        example_pair(redis.url, unique_prefix(), server_class=server_class) as pair,
    ):

        async def restart() -> None:
            await redis.stop()
            await anyio.sleep(2)
            await redis.start()

        await storm(pair, restart, senders=(0, 1))


@asynccontextmanager
async def one_cuttable(
    url: str, prefix: str, server_class: type[ExampleServer]
) -> AsyncIterator[tuple[CuttableProxy, Pair]]:
    """Process 1 reaches Redis through a proxy a test cuts; process 0 directly."""
    host, port = url.removeprefix("redis://").split("/")[0].split(":")
    proxy = CuttableProxy(host, int(port))
    await proxy.start()
    try:
        pair_of = example_pair(url, prefix, urls=(url, proxy.url), server_class=server_class)
        async with pair_of as pair:
            yield proxy, pair
    finally:
        await proxy.close()


async def test_two_hundred_clients_ride_out_a_ten_second_cut(
    server_class: type[ExampleServer],
) -> None:
    async with (
        redis_prefix() as (url, prefix),
        one_cuttable(url, prefix, server_class) as (proxy, pair),
    ):

        async def cut() -> None:
            proxy.cut()
            await anyio.sleep(CUT)
            proxy.restore()

        # Process 0 keeps posting through the cut: process 1's hundred sockets must get
        # those messages once it is back, from the store.
        figures = await storm(pair, cut, senders=(0, 1))
        assert figures["acknowledged"] > CUT * 5
