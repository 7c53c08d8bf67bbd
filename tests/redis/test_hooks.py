"""Hooks on Redis: pipelined sends through a message hook keep their order, listeners hear
the room's messages in id order, and the offline notifier asks Redis's presence."""

from __future__ import annotations

from collections.abc import Sequence

import anyio
import anyio.lowlevel
import pytest

from chatcore import ChatServer, FakeClock, Limits, MemoryDirectory, User
from chatcore.hooks import ChatEvent, Draft, Hooks, Notice
from chatcore.redis import RedisBroker, RedisStore
from chatcore.testing import LocalClient
from tests.redis.stack import ALICE, BOB, CAROL, EXPIRY, HEARTBEAT
from tests.redis.support import redis_prefix

pytestmark = [pytest.mark.anyio, pytest.mark.network]


def server(url: str, prefix: str, clock: FakeClock, hooks: Hooks | None = None) -> ChatServer:
    broker = RedisBroker(url, prefix=prefix, expiry=EXPIRY, heartbeat=HEARTBEAT, retry=0.2)
    store = RedisStore(url, prefix=prefix, history_size=200, broker=broker)
    return ChatServer(
        store=store,
        broker=broker,
        directory=MemoryDirectory([ALICE, BOB, CAROL]),
        limits=Limits(presence_grace=0, rate=1000, burst=1000),
        clock=clock,
        hooks=hooks,
    )


async def test_pipelined_sends_through_hooks_and_listeners_in_order() -> None:
    hooks = Hooks()
    heard: list[tuple[int, str]] = []
    notices: list[tuple[str, list[str]]] = []

    @hooks.message()
    async def shout(draft: Draft) -> Draft | None:
        if draft.sender.id == BOB.id:
            await anyio.lowlevel.checkpoint()  # a hook that waits, now and then
        return draft.evolve(text=draft.text + "!")

    @hooks.listen("message_posted")
    async def record(event: ChatEvent) -> None:
        assert event.message is not None
        heard.append((event.message.id, event.message.text))

    async def notify(recipient: User, batch: Sequence[Notice]) -> None:
        notices.append((recipient.id, [notice.message.text for notice in batch]))

    hooks.notify_offline(notify, window=1_000)
    clock = FakeClock()
    async with (
        redis_prefix() as (url, prefix),
        server(url, prefix, clock, hooks) as one,
        server(url, prefix, clock) as two,
    ):
        assert one.pipelines_sends
        alice = await LocalClient.connect(one, ALICE)
        bob = await LocalClient.connect(one, BOB)
        await alice.call("create_room", room="lobby")
        await alice.call("join", room="lobby")
        await bob.call("join", room="lobby")
        for n in range(30):
            await alice.send({"type": "send", "room": "lobby", "text": f"a{n}"})
            await bob.send({"type": "send", "room": "lobby", "text": f"b{n}"})
        last = await alice.call("send", room="lobby", text="last")
        with anyio.fail_after(5):
            while len(heard) < 61:
                await one.hooks_idle()
                await anyio.sleep(0.01)  # the sends' posts run in tasks of their own
        assert [message_id for message_id, _ in heard] == list(range(1, 62))
        assert last["id"] == 61
        assert [text for _, text in heard if text.startswith("a")] == [f"a{n}!" for n in range(30)]
        # Carol is online on the other process: no notice; once she is gone, one.
        carol = await LocalClient.connect(two, CAROL)
        direct = (await alice.call("direct", to=CAROL.id))["room"]["name"]
        await alice.call("join", room=direct)
        await alice.call("send", room=direct, text="hi Carol")
        await one.hooks_idle()
        clock.advance(1_000)
        await anyio.wait_all_tasks_blocked()
        assert notices == []
        await carol.close()
        await alice.call("send", room=direct, text="bye Carol")
        await one.hooks_idle()
        clock.advance(1_000)
        for _ in range(500):
            if notices:
                break
            await anyio.sleep(0.01)  # its flush, woken by the clock, runs in a task of its own
        assert notices == [(CAROL.id, ["bye Carol!"])]
