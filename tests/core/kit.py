"""Helpers of the core tests: a running server on a fake clock, and named test users."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import attrs

from chatcore import ChatServer, FakeClock, Limits, User
from chatcore.testing import LocalClient

NAMES = {"1": "Alice", "2": "Bob", "3": "Carol", "4": "Dave", "5": "Erin"}


def user(user_id: str, **changes: Any) -> User:
    """Test user ``user_id`` (Alice is "1", Bob "2", Carol "3", ...)."""
    fields: dict[str, Any] = {"id": user_id, "name": NAMES.get(user_id, f"User {user_id}")}
    fields.update(changes)
    return User(**fields)


def wire(user_id: str) -> dict[str, Any]:
    """Test user ``user_id`` as the wire shows it."""
    return user(user_id).to_wire()


@attrs.define
class Chat:
    """A running server and its fake clock."""

    server: ChatServer
    clock: FakeClock

    async def client(self, user_id: str) -> LocalClient:
        """A new connection of test user ``user_id``, its ``welcome`` taken out of the inbox."""
        client = await LocalClient.connect(self.server, user(user_id))
        client.events("welcome")
        return client

    async def advance(self, ms: int) -> None:
        """Move time on and let every timer that ran out do its work."""
        self.clock.advance(ms)
        await anyio.wait_all_tasks_blocked()

    @property
    def limits(self) -> Limits:
        return self.server.limits


@asynccontextmanager
async def running(clock: FakeClock | None = None, **options: Any) -> AsyncIterator[Chat]:
    """A started :class:`ChatServer` on a fake clock; ``options`` go to its constructor."""
    clock = clock or FakeClock()
    async with ChatServer(clock=clock, **options) as server:
        yield Chat(server, clock)


async def lobby(chat: Chat, *user_ids: str, room: str = "lobby") -> list[LocalClient]:
    """Create ``room`` (owned by the first user) and join one client of each user to it."""
    clients = [await chat.client(user_id) for user_id in user_ids]
    await clients[0].call("create_room", room=room)
    for client in clients:
        await client.call("join", room=room)
    for client in clients:
        client.events()
    return clients
