"""The test kit's client: a reply made in another task reaches ``request`` while other tasks
keep running (a Redis broker's heartbeats, a timer), not only once every task is idle."""

from __future__ import annotations

from typing import Any

import anyio
import anyio.lowlevel
import pytest

from chatcore import ChatServer, MemoryBroker, MemoryStore, User
from chatcore.backends.envelope import Envelope, ToRoom
from chatcore.backends.store import Appended
from chatcore.testing import LocalClient
from chatcore.wire.events import MessageEvent
from chatcore.wire.protocol import encode

from .kit import user

pytestmark = pytest.mark.anyio


class LateStore(MemoryStore):
    """Pipelined, so each post runs in a task of its own: its reply comes after ``call`` has
    started waiting."""

    pipelined = True

    def __init__(self, broker: MemoryBroker) -> None:
        super().__init__()
        self.broker = broker

    async def append(
        self,
        room: str,
        sender: User,
        text: str,
        ts: int,
        client_id: str | None = None,
        **fields: Any,
    ) -> Appended:
        appended = await super().append(room, sender, text, ts, client_id, **fields)
        await self.broker.publish(
            Envelope(ToRoom(room), encode(MessageEvent(message=appended.message)))
        )
        await anyio.sleep(0.001)  # the store's answer on its way
        return Appended(appended.message, created=True, published=True)


async def busy() -> None:
    """A task that is never idle when looked at (the limit of periodic work that wakes as
    often as the client would look: two Redis brokers' heartbeats every 0.1 s did)."""
    while True:
        await anyio.lowlevel.checkpoint()


async def test_a_late_reply_is_returned_while_other_tasks_run() -> None:
    broker = MemoryBroker()
    async with ChatServer(store=LateStore(broker), broker=broker) as server:
        alice = await LocalClient.connect(server, user("1"))
        await alice.call("create_room", room="lobby")
        await alice.call("join", room="lobby")
        async with anyio.create_task_group() as group:
            group.start_soon(busy)
            for n in range(3):
                reply = await alice.call("send", room="lobby", text=f"hi {n}")
                assert reply["type"] == "ok"
            group.cancel_scope.cancel()
        assert [m["text"] for m in alice.events("message")] == ["hi 0", "hi 1", "hi 2"]
