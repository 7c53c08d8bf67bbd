"""Fixtures of the reliability suite: one example server per module, default limits; every
test runs on each adapter of ``SERVERS`` (uvicorn, and the native adapter)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest

from chatcore.client import ChatClient
from tests.reliability.support import client, running
from tests.starlette.example_server import ExampleServer
from tests.starlette.test_uvicorn import SERVERS

GRACE_MS = 300

Connect = Callable[..., Awaitable[ChatClient]]


@pytest.fixture(scope="module", params=sorted(SERVERS))
def server_class(request: pytest.FixtureRequest) -> type[ExampleServer]:
    """The example in uvicorn ("starlette"), or on the native adapter ("native")."""
    return SERVERS[request.param]


@pytest.fixture(scope="module")
def server(server_class: type[ExampleServer]) -> Iterator[ExampleServer]:
    """The example's chat server with its default limits (rate, burst, abuse)."""
    with running(server_class, grace_ms=GRACE_MS) as server:
        yield server


@pytest.fixture
async def connect(server: ExampleServer) -> AsyncIterator[Connect]:
    """Log a name in and open a connected client for it; all are closed at the end."""
    clients: list[ChatClient] = []

    async def open_client(name: str, **options: Any) -> ChatClient:
        chat = client(server, name, **options)
        await chat.connect()
        clients.append(chat)
        return chat

    yield open_client
    for chat in clients:
        await chat.close()
