"""Fixtures of the reliability suite: one example server per module, default limits."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest

from chatcore.client import ChatClient
from tests.reliability.support import client, running
from tests.starlette.example_server import ExampleServer

GRACE_MS = 300

Connect = Callable[..., Awaitable[ChatClient]]


@pytest.fixture(scope="module")
def server() -> Iterator[ExampleServer]:
    """The example app in uvicorn with its default limits (rate, burst, abuse)."""
    with running(grace_ms=GRACE_MS) as server:
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
