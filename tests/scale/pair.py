"""Two processes of the Starlette example (in uvicorn, or on the native adapter) on one Redis,
and clients split across them."""

from __future__ import annotations

import os
import signal
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import anyio
import attrs

from chatcore.client import Backoff, ChatClient, Frame, ReplyError
from tests.redis.stack import layout_url
from tests.redis.support import delete_keys
from tests.starlette.example_server import ExampleServer
from tests.starlette.test_uvicorn import until

__all__ = ("FAST", "Pair", "example_pair", "send_when_back", "until", "where")

#: Clients come back quickly after a process or Redis does.
FAST = Backoff(initial=0.05, maximum=0.3)
GRACE_MS = 300


@attrs.define
class Pair:
    """Two example processes sharing one Redis prefix; :meth:`open` logs a name in on one."""

    servers: tuple[ExampleServer, ExampleServer]
    clients: list[ChatClient] = attrs.field(factory=list)

    async def open(self, process: int, name: str, *, reconnect: bool = True) -> ChatClient:
        """A connected client of ``name`` on process 0 or 1, closed when the pair stops."""
        server = self.servers[process]
        cookies = await anyio.to_thread.run_sync(server.login, name)
        client = ChatClient(server.ws_url, cookies=cookies, backoff=FAST, reconnect=reconnect)
        await client.connect()
        self.clients.append(client)
        return client

    def kill(self, process: int) -> None:
        """SIGKILL one process: no shutdown, no cleanup in Redis."""
        running = self.servers[process].process
        assert running is not None
        os.kill(running.pid, signal.SIGKILL)
        running.wait()

    def alive(self) -> bool:
        return all(s.process is not None and s.process.poll() is None for s in self.servers)


@asynccontextmanager
async def example_pair(
    url: str,
    prefix: str,
    *,
    expiry: float = 15.0,
    urls: tuple[str, str] | None = None,
    env: dict[str, str] | None = None,
    server_class: type[ExampleServer] = ExampleServer,
) -> AsyncIterator[Pair]:
    """Start both processes (at once) on ``url`` under ``prefix``; afterwards stop them, close
    the clients and delete the prefix's keys. ``urls`` gives each process its own way to the
    same Redis (a proxy that a test cuts, for one of them); ``env`` adds to their environment;
    ``server_class`` serves the example otherwise than in uvicorn (tests/server/native_server.py)."""
    servers = (server_class(grace_ms=GRACE_MS), server_class(grace_ms=GRACE_MS))
    for server, server_url in zip(servers, urls or (url, url), strict=True):
        server.env.update(
            CHATCORE_REDIS_URL=layout_url(server_url),
            CHATCORE_REDIS_PREFIX=prefix,
            CHATCORE_REDIS_EXPIRY=str(expiry),
            **(env or {}),
        )
    pair = Pair(servers)
    try:
        async with anyio.create_task_group() as group:
            for server in servers:
                group.start_soon(anyio.to_thread.run_sync, server.start)
        yield pair
    finally:
        with anyio.CancelScope(shield=True):
            for client in pair.clients:
                await client.close()
            for server in servers:
                await anyio.to_thread.run_sync(server.stop)
            await delete_keys(url, prefix)


async def send_when_back(client: ChatClient, room: str, text: str, within: float = 5) -> int:
    """Send, retrying while the server answers ``unavailable`` (a process may still hold a
    connection from before Redis came back; the failed append stored nothing)."""
    with anyio.fail_after(within):
        while True:
            try:
                return await client.send(room, text)
            except ReplyError as error:
                if error.code != "unavailable":
                    raise
            await anyio.sleep(0.1)  # the server said "try again": there is no event to await


def where(**fields: object) -> Callable[[Frame], bool]:
    """A test for :func:`until`: every field equal (``user`` compares its ``id``)."""

    def test(event: Frame) -> bool:
        for key, value in fields.items():
            got = event.get(key)
            if key == "user" and isinstance(got, dict):
                got = got.get("id")
            if got != value:
                return False
        return True

    return test
