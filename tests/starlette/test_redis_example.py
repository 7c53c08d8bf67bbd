"""The example app as two uvicorn processes sharing one chat through Redis."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import anyio
import pytest

from chatcore.client import ChatClient, Frame
from tests.helpers import port_open, require
from tests.starlette.example_server import ExampleServer

pytestmark = [pytest.mark.network, pytest.mark.anyio]

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
def two_processes() -> Iterator[tuple[ExampleServer, ExampleServer]]:
    if not port_open("127.0.0.1", 6379):
        require("Redis", "nothing answers on 127.0.0.1:6379")
    import redis

    prefix = f"test-starlette-{uuid.uuid4().hex[:8]}:"
    servers = (ExampleServer(), ExampleServer())
    try:
        for server in servers:
            server.env.update(CHATCORE_REDIS_URL=REDIS_URL, CHATCORE_REDIS_PREFIX=prefix)
            server.start()
        yield servers
    finally:
        for server in servers:
            server.stop()
        with redis.Redis.from_url(REDIS_URL) as client:
            keys = client.keys(f"{prefix}*")
            if keys:
                client.delete(*keys)


async def next_of(client: ChatClient, kind: str) -> Frame:
    async with asyncio.timeout(5):
        while True:
            event = await client.next_event()
            if event["type"] == kind:
                return event


async def test_users_on_two_processes_chat(
    two_processes: tuple[ExampleServer, ExampleServer],
) -> None:
    one, two = two_processes
    cookies = await anyio.to_thread.run_sync(one.login, "Alice")
    async with (
        ChatClient(one.ws_url, cookies=cookies) as alice,
        ChatClient(two.ws_url, cookies=await anyio.to_thread.run_sync(two.login, "Bob")) as bob,
    ):
        await alice.create_room("across")
        await alice.join("across")
        joined = await bob.join("across")
        assert {user["id"] for user in joined["members"]} == {"alice", "bob"}
        sent = await alice.send("across", "from the first process")
        message = await next_of(bob, "message")
        assert (message["id"], message["text"]) == (sent, "from the first process")
        await bob.send_private("alice", "from the second process")
        private = await next_of(alice, "private")
        assert (private["from"]["name"], private["text"]) == ("Bob", "from the second process")
