"""A broker that loses its link: each room's gap is filled from the store, with no 1013."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import anyio
import pytest

from chatcore import FakeClock, MemoryBroker, MemoryBus, MemoryStore
from chatcore.backends.envelope import Envelope
from chatcore.backends.store import ChangePage, HistoryPage
from chatcore.runtime._shared_reads import KEPT_MS
from chatcore.testing import LocalClient
from chatcore.wire.errors import Unavailable

from .kit import Chat, running

pytestmark = pytest.mark.anyio

TRY_AGAIN_LATER = 1013


class CuttableBroker(MemoryBroker):
    """A memory broker whose link can break: while cut, nothing published reaches it, as a
    Redis subscription that broke would."""

    cut_off = False

    def cut(self) -> None:
        self.cut_off = True
        assert self._deliver is not None
        self._deliver(Envelope.link(lost=True))

    def restore(self) -> None:
        self.cut_off = False
        assert self._deliver is not None
        self._deliver(Envelope.link(lost=False))

    def _deliver_all(self, envelope: Envelope) -> None:
        channel = envelope.target.channel
        for broker in list(self.bus.brokers.values()):
            if isinstance(broker, CuttableBroker) and broker.cut_off:
                continue
            if channel in broker.channels and broker._deliver is not None:
                broker._deliver(envelope)


class SlowStore(MemoryStore):
    """A store whose reads wait for :attr:`gate` (and may fail), counting them."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.gate: anyio.Event | None = None
        self.changes_gate: anyio.Event | None = None
        self.down = False
        self.reads: list[tuple[str, Any]] = []

    async def _wait(self, kind: str, args: Any) -> None:
        """Count the read; the result is taken before the wait, as Redis answers a read as
        of when it ran whenever its reply is read."""
        self.reads.append((kind, args))
        if self.down:
            raise Unavailable()
        gate = self.changes_gate if kind == "changes" else self.gate
        if gate is not None:
            await gate.wait()

    async def history(
        self, room: str, *, limit: int, after: int | None = None, before: int | None = None
    ) -> HistoryPage:
        page = await super().history(room, limit=limit, after=after, before=before)
        await self._wait("history", (room, limit, after, before))
        return page

    async def changes(self, room: str, *, since: int, limit: int) -> ChangePage:
        page = await super().changes(room, since=since, limit=limit)
        await self._wait("changes", (room, since, limit))
        return page


@asynccontextmanager
async def cut_pair(store: MemoryStore | None = None) -> AsyncIterator[tuple[Chat, Chat]]:
    """Two servers on one bus and store; the second one's broker can be cut."""
    bus, clock = MemoryBus(), FakeClock()
    store = store or MemoryStore()
    async with AsyncExitStack() as stack:
        one = await stack.enter_async_context(
            running(clock=clock, broker=MemoryBroker(bus), store=store)
        )
        two = await stack.enter_async_context(
            running(clock=clock, broker=CuttableBroker(bus), store=store)
        )
        yield one, two


def broker(chat: Chat) -> CuttableBroker:
    assert isinstance(chat.server.broker, CuttableBroker)
    return chat.server.broker


async def settle() -> None:
    await anyio.wait_all_tasks_blocked()


async def hall(one: Chat, two: Chat) -> tuple[LocalClient, list[LocalClient]]:
    alice = await one.client("1")
    await alice.call("create_room", room="hall")
    await alice.call("join", room="hall")
    readers = [await two.client(str(n)) for n in (2, 3)]
    for reader in readers:
        await reader.call("join", room="hall")
    await alice.call("send", room="hall", text="before")
    for client in (alice, *readers):
        client.events()
    return alice, readers


async def test_messages_and_changes_missed_while_cut_arrive_in_order() -> None:
    async with cut_pair() as (one, two):
        alice, readers = await hall(one, two)
        broker(two).cut()
        ids = [(await alice.call("send", room="hall", text=f"missed {n}"))["id"] for n in range(3)]
        await alice.call("edit", room="hall", id=1, text="before, edited")
        await alice.call("edit", room="hall", id=2, text="missed 0, edited")
        await settle()
        assert all(reader.events() == [] for reader in readers)  # nothing came through
        broker(two).restore()
        # Published as soon as the link is back: it must come after the filled ones.
        await alice.call("send", room="hall", text="live")
        await settle()
        for reader in readers:
            events = reader.events()
            assert reader.close_code is None
            seen = [
                (
                    e["type"],
                    e.get("id") or e["message"]["id"],
                    e.get("text") or e["message"]["text"],
                )
                for e in events
                if e["type"] in ("message", "message_changed")
            ]
            # History gives messages in their current state, and the changes follow in order
            # (each after the message it was made after), as a resuming join would.
            assert seen == [
                ("message", ids[0], "missed 0, edited"),
                ("message", ids[1], "missed 1"),
                ("message", ids[2], "missed 2"),
                ("message_changed", 1, "before, edited"),
                ("message_changed", 2, "missed 0, edited"),
                ("message", ids[2] + 1, "live"),
            ]
        assert two.server._gaps.filled == 1


async def test_changes_delivered_before_the_cut_are_not_repeated() -> None:
    async with cut_pair() as (one, two):
        alice, readers = await hall(one, two)
        await alice.call("edit", room="hall", id=1, text="edited live")
        assert [e["type"] for e in readers[0].events()] == ["message_changed"]
        broker(two).cut()
        await alice.call("send", room="hall", text="missed")
        broker(two).restore()
        await settle()
        events = readers[0].events()
        assert [(e["type"], e.get("id")) for e in events] == [("message", 2)]


async def test_a_gap_the_history_no_longer_holds_closes_the_rooms_sockets() -> None:
    async with cut_pair(MemoryStore(history_size=3)) as (one, two):
        alice, readers = await hall(one, two)
        outsider = await two.client("4")  # in no room: keeps its socket
        broker(two).cut()
        for n in range(5):
            await alice.call("send", room="hall", text=f"missed {n}")
        broker(two).restore()
        await settle()
        for reader in readers:
            reader.pump()
            assert reader.close_code == TRY_AGAIN_LATER
        assert outsider.close_code is None
        assert alice.close_code is None


async def test_a_store_that_stays_down_closes_the_rooms_sockets() -> None:
    store = SlowStore()
    async with cut_pair(store) as (one, two):
        alice, readers = await hall(one, two)
        broker(two).cut()
        await alice.call("send", room="hall", text="missed")
        store.down = True
        broker(two).restore()
        with anyio.fail_after(5):
            while readers[0].close_code is None:
                readers[0].pump()
                await anyio.sleep(0.05)  # the fill tries the store a few times, with pauses
        assert readers[1].close_code == TRY_AGAIN_LATER


async def test_a_cut_with_nothing_missed_delivers_nothing_twice() -> None:
    async with cut_pair() as (one, two):
        alice, readers = await hall(one, two)
        broker(two).cut()
        broker(two).restore()
        await alice.call("send", room="hall", text="after")
        await settle()
        assert [(e["type"], e["id"]) for e in readers[0].events()] == [("message", 2)]


async def owned_hall(chat: Chat, posts: int) -> LocalClient:
    """The owner's client, in the room ``hall`` it made, after ``posts`` messages."""
    owner = await chat.client("1")
    await owner.call("create_room", room="hall")
    await owner.call("join", room="hall")
    for n in range(posts):
        await owner.call("send", room="hall", text=f"m {n}")
    return owner


async def test_identical_resume_reads_in_flight_hit_the_store_once() -> None:
    store = SlowStore()
    async with running(store=store) as chat:
        await owned_hall(chat, 5)
        clients = [await chat.client(str(n)) for n in range(2, 22)]
        store.reads.clear()
        store.gate, store.changes_gate = anyio.Event(), anyio.Event()
        replies: list[dict[str, Any]] = []

        async def resume(client: LocalClient) -> None:
            replies.append(await client.call("join", room="hall", since=2))

        async with anyio.create_task_group() as group:
            for client in clients:
                group.start_soon(resume, client)
            await anyio.wait_all_tasks_blocked()
            store.gate.set()
            await anyio.wait_all_tasks_blocked()
            store.changes_gate.set()
        assert [r["gap"] for r in replies] == [False] * 20
        assert all([m["id"] for m in r["history"]] == [3, 4, 5] for r in replies)
        assert store.reads == [
            ("history", ("hall", chat.limits.resume_limit, 2, None)),
            ("changes", ("hall", 2, chat.limits.resume_limit)),
        ]


async def test_a_read_in_flight_is_not_shared_after_a_message_was_delivered() -> None:
    store = SlowStore()
    async with running(store=store) as chat:
        owner = await owned_hall(chat, 1)
        first, second = await chat.client("2"), await chat.client("3")
        store.reads.clear()
        store.gate = anyio.Event()
        replies: dict[str, dict[str, Any]] = {}

        async def resume(name: str, client: LocalClient) -> None:
            replies[name] = await client.call("join", room="hall", since=0)

        async with anyio.create_task_group() as group:
            group.start_soon(resume, "first", first)
            await anyio.wait_all_tasks_blocked()
            # A message stored and delivered after the first read ran: the second joiner is
            # not in the room yet, so it must read for itself to see it.
            await owner.call("send", room="hall", text="two")
            group.start_soon(resume, "second", second)
            await anyio.wait_all_tasks_blocked()
            store.gate.set()
        assert [m["id"] for m in replies["first"]["history"]] == [1]
        assert [m["id"] for m in replies["second"]["history"]] == [1, 2]
        assert len([read for read in store.reads if read[0] == "history"]) == 2


async def test_a_done_read_serves_later_ones_until_the_room_changes() -> None:
    store = SlowStore()
    async with running(store=store) as chat:
        owner = await owned_hall(chat, 3)
        readers = [await chat.client(str(n)) for n in (2, 3, 4)]
        store.reads.clear()
        for reader in readers[:2]:  # one after the other: the second takes the first's page
            joined = await reader.call("join", room="hall", since=1)
            assert [m["id"] for m in joined["history"]] == [2, 3]
        assert [kind for kind, _ in store.reads] == ["history", "changes"]
        await chat.advance(KEPT_MS)  # kept no longer than that
        joined = await readers[0].call("join", room="hall", since=1)
        assert [kind for kind, _ in store.reads] == ["history", "changes"] * 2
        store.reads.clear()
        await owner.call("send", room="hall", text="new")  # delivered here: the token moves
        joined = await readers[2].call("join", room="hall", since=1)
        assert [m["id"] for m in joined["history"]] == [2, 3, 4]
        assert [kind for kind, _ in store.reads] == ["history", "changes"]


async def test_reads_of_a_room_nobody_here_is_in_are_never_shared() -> None:
    store = SlowStore()
    async with running(store=store) as chat:
        await owned_hall(chat, 2)
        store.reads.clear()
        for _ in range(2):
            await chat.server.history("hall", limit=10)  # the owner is in it: shared
        assert len(store.reads) == 1
        for session in list(chat.server.hub.conns.values()):
            await chat.server.disconnect(session)  # nobody here any more: nothing tells of changes
        store.reads.clear()
        for _ in range(2):
            await chat.server.history("hall", limit=10)
        assert len(store.reads) == 2
