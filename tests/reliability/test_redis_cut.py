"""The network between two example processes and Redis cut for 10 s: nobody crashes, no
acknowledged message is lost, requests meanwhile are refused, and presence converges."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from chatcore.client import ChatClient, ConnectionLost, ReplyError
from tests.redis.support import redis_prefix
from tests.reliability.test_privacy import Recorder
from tests.scale.pair import Pair, example_pair, send_when_back
from tests.starlette.example_server import ExampleServer

pytestmark = [pytest.mark.anyio, pytest.mark.network, pytest.mark.soak]

CUT = 10.0
TRY_AGAIN_LATER = 1013


class CuttableProxy:
    """A TCP proxy to Redis on a free port whose :meth:`cut` drops every connection and
    resets new ones until :meth:`restore`, as a failed link between the hosts would."""

    def __init__(self, host: str, port: int) -> None:
        self.upstream = (host, port)
        self.cut_off = False
        self._writers: set[asyncio.StreamWriter] = set()
        self._server: asyncio.Server | None = None
        self._accepted: set[asyncio.Transport] = set()  # every client side, from its accept
        self.refused = 0

    @property
    def url(self) -> str:
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return f"redis://127.0.0.1:{port}/0"

    async def start(self) -> None:
        proxy = self

        class Tracked(asyncio.StreamReaderProtocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                assert isinstance(transport, asyncio.Transport)
                proxy._accepted.add(transport)
                super().connection_made(transport)

        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: Tracked(asyncio.StreamReader(), self._accept), "127.0.0.1", 0
        )

    async def close(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        # A connection accepted just now may not have reached _accept yet: close it too.
        for transport in self._accepted:
            transport.abort()
        self._accepted.clear()

    def cut(self) -> None:
        self.cut_off = True
        for writer in list(self._writers):
            writer.transport.abort()  # a reset, no orderly close
        self._writers.clear()

    def restore(self) -> None:
        self.cut_off = False

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.cut_off:
            self.refused += 1
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            writer.transport.abort()
            return
        self._writers |= {writer, up_writer}
        try:
            await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        finally:
            for end in (writer, up_writer):
                self._writers.discard(end)
                end.transport.abort()

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.transport.abort()  # one side ended: end the other, as a cut link would


@asynccontextmanager
async def proxied_pair(
    server_class: type[ExampleServer],
) -> AsyncIterator[tuple[CuttableProxy, Pair]]:
    async with redis_prefix() as (url, prefix):
        host, port = url.removeprefix("redis://").split("/")[0].split(":")
        proxy = CuttableProxy(host, int(port))
        await proxy.start()
        try:
            # A short expiry: each process's deadline passes during the cut, so both must
            # find themselves taken for dead and come back.
            pair_of = example_pair(proxy.url, prefix, expiry=3.0, server_class=server_class)
            async with pair_of as pair:
                yield proxy, pair
        finally:
            await proxy.close()


async def probe(client: ChatClient, text: str) -> str:
    """One ``send`` during the cut, without the client's retry: what became of it."""
    client.timeout = 2.0
    try:
        reply = await client.request("send", room="hall", text=text)
    except ReplyError as error:
        return error.code
    except (ConnectionLost, TimeoutError):
        return f"socket closed ({client.close_code})"
    finally:
        client.timeout = 10.0
    return f"ok {reply['id']}"


async def member_ids(client: ChatClient) -> list[str]:
    return sorted(user["id"] for user in await client.members("hall"))


async def test_a_ten_second_cut_to_redis_loses_nothing_acknowledged(
    server_class: type[ExampleServer],
) -> None:
    async with proxied_pair(server_class) as (proxy, pair):
        names = (("Alice", 0), ("Bob", 1), ("Carol", 0), ("Dave", 1))
        clients = [await pair.open(process, name) for name, process in names]
        alice, bob, carol, dave = clients
        recorders = [Recorder(client) for client in clients]
        for recorder in recorders:
            recorder.start()
        await alice.create_room("hall")
        for client in clients:
            await client.join("hall")
        acked = [await client.send("hall", f"before {n}") for n, client in enumerate(clients)]

        proxy.cut()
        cut_at = time.monotonic()
        outcomes: list[str] = []
        await dave.close()  # his tab goes while his process cannot tell Redis
        while time.monotonic() - cut_at < CUT - 1:
            for n, client in enumerate((alice, bob)):
                outcomes.append(await probe(client, f"during {len(outcomes)}.{n}"))
            await asyncio.sleep(0.5)  # a request every half second while the link is down
        assert pair.alive()
        await asyncio.sleep(max(0.0, CUT - (time.monotonic() - cut_at)))  # the cut's length
        proxy.restore()
        restored_at = time.monotonic()

        counted = Counter(o if not o.startswith("ok") else "ok" for o in outcomes)
        # Whatever was acknowledged meanwhile must be kept like the rest (none expected).
        acked += [int(o.split()[1]) for o in outcomes if o.startswith("ok")]
        assert set(counted) <= {"unavailable", f"socket closed ({TRY_AGAIN_LATER})"}, outcomes
        assert counted["unavailable"] > 0, outcomes

        for n, client in enumerate((alice, bob, carol)):
            acked.append(await send_when_back(client, "hall", f"after {n}", within=15))
        assert pair.alive()

        # Each acknowledged id is in the room's history once, and reached each client that
        # stayed (live, or replayed when it resumed) exactly once.
        history = (await carol.history("hall", limit=100))["messages"]
        ids = [m["id"] for m in history]
        assert len(ids) == len(set(ids)), ids
        assert set(acked) <= set(ids), (acked, ids)
        for recorder in recorders[:3]:
            await recorder.wait_for(lambda e: e.get("id") == max(acked), within=10)
            got = Counter(e["id"] for e in recorder.events if e["type"] == "message")
            assert [got[i] for i in acked] == [1] * len(acked), (recorder.client.user, got)
            assert all(count == 1 for count in got.values()), (recorder.client.user, got)
            # Never closed: each process filled its rooms' gaps from the store once back.
            closes = [e["code"] for e in recorder.events if e["type"] == "close"]
            assert closes == [], (recorder.client.user, closes)

        # Presence converges: Dave left during the cut; both processes agree on the rest.
        deadline = time.monotonic() + 15
        while True:
            lists = [await member_ids(client) for client in (alice, bob, carol)]
            if all(members == ["alice", "bob", "carol"] for members in lists):
                break
            assert time.monotonic() < deadline, lists
            await asyncio.sleep(0.2)  # polling the servers' view: there is no event for "agreed"
        converged = time.monotonic() - restored_at
        # Dave is offline everywhere: his process forgot him although Redis was unreachable.
        with pytest.raises(ReplyError) as refused:
            await alice.send_private("dave", "still there?")
        assert refused.value.code == "recipient_unavailable"
        assert pair.alive()
        sessions = [client.sessions for client in (alice, bob, carol)]
        print(  # the figures for docs/reliability.md
            f"during the cut {dict(counted)}, {proxy.refused} Redis connections refused;"
            f" {len(acked)} acknowledged ids kept once each; sessions {sessions};"
            f" presence agreed {converged:.1f} s after the restore"
        )
