"""Pipelined sends: a connection's ``send`` frames overlap when the backends keep order.

The store here is a :class:`MemoryStore` that says it is pipelined: it takes the id at once,
then holds each append until the test opens its gate, then publishes the message itself, as
the Redis store does in one script.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest

from chatcore import ChatServer, FakeClock, Limits, MemoryBroker, MemoryStore, User
from chatcore.backends.envelope import Envelope, ToRoom
from chatcore.backends.store import Appended
from chatcore.runtime.connection import PIPELINE_DEPTH
from chatcore.testing import LocalClient
from chatcore.wire.errors import CloseCode, Unavailable
from chatcore.wire.events import MessageEvent
from chatcore.wire.protocol import encode

from .kit import user

pytestmark = pytest.mark.anyio


class GatedStore(MemoryStore):
    """Pipelined: each append takes its id and publishes at once, as one Redis script would,
    then waits for its gate before it returns (the script's reply on its way)."""

    pipelined = True

    def __init__(self, broker: MemoryBroker) -> None:
        super().__init__()
        self.broker = broker
        self.gates: list[anyio.Event] = []
        self.fail_text: str | None = None

    async def append(
        self,
        room: str,
        sender: User,
        text: str,
        ts: int,
        client_id: str | None = None,
        **fields: Any,
    ) -> Appended:
        gate = anyio.Event()
        self.gates.append(gate)
        if text == self.fail_text:  # the backend is down: the error comes back later
            await gate.wait()
            raise Unavailable()
        appended = await super().append(room, sender, text, ts, client_id, **fields)
        frame = encode(MessageEvent(message=appended.message))
        await self.broker.publish(Envelope(ToRoom(room), frame))
        await gate.wait()
        return Appended(appended.message, created=True, published=True)

    def open_all(self) -> None:
        for gate in self.gates:
            gate.set()


@asynccontextmanager
async def gated() -> AsyncIterator[tuple[ChatServer, GatedStore, LocalClient]]:
    broker = MemoryBroker()
    store = GatedStore(broker)
    limits = Limits(rate=1_000, burst=1_000)
    async with ChatServer(store=store, broker=broker, clock=FakeClock(), limits=limits) as server:
        alice = await LocalClient.connect(server, user("1"))
        await alice.call("create_room", room="lobby")
        await alice.call("join", room="lobby")
        alice.events()
        yield server, store, alice


def frame(ref: int, **fields: Any) -> str:
    return json.dumps({"ref": ref, **fields})


def send(ref: int, text: str) -> str:
    return frame(ref, type="send", room="lobby", text=text)


# On trio the tasks come from the server's task group instead of asyncio's own.
@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
async def test_sends_overlap_and_keep_their_order() -> None:
    async with gated() as (server, store, alice):
        assert server.pipelines_sends
        # Ten rounds: trio runs a batch of tasks either in order or reversed, at random.
        for first in range(1, 41, 4):
            numbers = range(first, first + 4)
            with anyio.fail_after(1):  # none of these waits for its append
                for n in numbers:
                    await alice.connection.receive(send(n, f"m{n}"))
            await anyio.wait_all_tasks_blocked()
            assert len(store.gates) == first + 3  # all four in flight at once
            assert alice.events("ok") == []
            store.open_all()
            await anyio.wait_all_tasks_blocked()
            frames = alice.events()
            replies = [f for f in frames if f["type"] == "ok"]
            messages = [f for f in frames if f["type"] == "message"]
            # The ids follow the frames. (Replies come as each post ends: in order on
            # asyncio, in any order on trio, whose scheduler promises none.)
            assert sorted((r["ref"], r["id"]) for r in replies) == [(n, n) for n in numbers]
            assert [(m["id"], m["text"]) for m in messages] == [(n, f"m{n}") for n in numbers]


async def test_another_command_waits_for_the_sends_before_it() -> None:
    async with gated() as (_, store, alice):
        await alice.connection.receive(send(1, "first"))
        async with anyio.create_task_group() as group:
            group.start_soon(alice.connection.receive, frame(2, type="ping"))
            await anyio.wait_all_tasks_blocked()
            assert alice.events("ok") == []  # the ping is held behind the send
            store.open_all()
        assert [r["ref"] for r in alice.events("ok")] == [1, 2]


async def test_at_most_the_pipeline_depth_is_in_flight() -> None:
    async with gated() as (_, store, alice):
        for n in range(PIPELINE_DEPTH):
            await alice.connection.receive(send(n, f"m{n}"))
        async with anyio.create_task_group() as group:
            group.start_soon(alice.connection.receive, send(PIPELINE_DEPTH, "one too many"))
            await anyio.wait_all_tasks_blocked()
            assert len(store.gates) == PIPELINE_DEPTH
            store.gates[0].set()
            await anyio.wait_all_tasks_blocked()
            assert len(store.gates) == PIPELINE_DEPTH + 1  # one ended, the next started
            store.open_all()
            await anyio.wait_all_tasks_blocked()
            store.open_all()
        assert len(alice.events("ok")) == PIPELINE_DEPTH + 1


async def test_a_failed_post_answers_its_own_ref_and_the_checks_still_come_first() -> None:
    async with gated() as (_, store, alice):
        store.fail_text = "doomed"
        await alice.connection.receive(send(1, "doomed"))
        await alice.connection.receive(send(2, "fine"))
        await alice.connection.receive(send(3, "   "))  # refused before anything is stored
        await alice.connection.receive(frame(4, type="send", room="nowhere", text="x"))
        errors = alice.events("error")
        assert [(e["ref"], e["code"]) for e in errors] == [
            (3, "invalid_field"),
            (4, "no_such_room"),
        ]
        await anyio.wait_all_tasks_blocked()
        store.open_all()
        await anyio.wait_all_tasks_blocked()
        frames = alice.events()
        # (Replies to pipelined sends come as each ends: on trio in any order.)
        assert sorted((f["ref"], f["type"]) for f in frames if "ref" in f) == [
            (1, "error"),
            (2, "ok"),
        ]
        assert next(f for f in frames if f.get("ref") == 1)["code"] == "unavailable"


async def test_stopping_the_server_cancels_the_sends_in_flight() -> None:
    with anyio.fail_after(2):
        async with gated() as (_, store, alice):
            await alice.connection.receive(send(1, "never"))
            await anyio.wait_all_tasks_blocked()
            assert len(store.gates) == 1
    assert [f["type"] for f in alice.pump()] == []  # no reply, no message: it was cancelled
    assert alice.close_code == CloseCode.GOING_AWAY


async def test_in_one_process_a_send_is_done_when_receive_returns(chat: Any) -> None:
    # The in-memory store and broker: nothing to overlap, the old order exactly.
    assert not chat.server.pipelines_sends
    alice = await chat.client("1")
    await alice.call("create_room", room="lobby")
    await alice.call("join", room="lobby")
    alice.events()
    await alice.connection.receive(send(7, "now"))
    kinds = [f["type"] for f in alice.pump()]
    assert kinds == ["message", "ok"]


class GatedOrderingBroker(MemoryBroker):
    """A broker that orders a room's messages itself; its publishes wait for a gate."""

    orders_messages = True

    def __init__(self) -> None:
        super().__init__()
        self.gate: anyio.Event | None = None

    async def publish(self, envelope: Envelope) -> None:
        if self.gate is not None and envelope.frame and '"type":"message"' in envelope.frame:
            await self.gate.wait()
        await super().publish(envelope)


async def test_with_an_ordering_broker_the_next_append_does_not_wait_for_the_publish() -> None:
    broker = GatedOrderingBroker()
    store = MemoryStore()
    async with ChatServer(store=store, broker=broker, clock=FakeClock()) as server:
        assert server.pipelines_sends
        await server.create_room("lobby")
        broker.gate = anyio.Event()
        async with anyio.create_task_group() as group:
            group.start_soon(lambda: server.post("lobby", "one", sender=user("1")))
            group.start_soon(lambda: server.post("lobby", "two", sender=user("2")))
            await anyio.wait_all_tasks_blocked()
            # Both are stored while the first publish is still held (in the order the tasks
            # started: trio promises none).
            page = await store.history("lobby", limit=10)
            assert sorted(m.text for m in page.messages) == ["one", "two"]
            broker.gate.set()
