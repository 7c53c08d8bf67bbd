"""The slow-consumer policy: ephemeral frames go first, then the connection closes with 1013."""

from __future__ import annotations

import json
from typing import Any

import anyio
import pytest

from chatcore import CloseCode, Closed, Connection, Limits

from .kit import Chat, lobby, running, user

pytestmark = pytest.mark.anyio

OUTBOX = 8


def drain(connection: Connection) -> list[dict[str, Any]]:
    """Every frame queued for ``connection``."""
    frames = []
    while (text := connection.next_frame_nowait()) is not None:
        frames.append(json.loads(text))
    return frames


async def slow_member(chat: Chat) -> Connection:
    """A connection of Bob in the lobby that never reads: welcome and its own join queued."""
    connection = await chat.server.connect(user("2"))
    await connection.receive(json.dumps({"type": "join", "room": "lobby"}))
    return connection


async def typing_notices(chat: Chat, count: int) -> None:
    """Alice types ``count`` times, far enough apart for each notice to pass the throttle."""
    alice = chat.server.hub.user_conns("1")
    assert alice
    for _ in range(count):
        await chat.advance(chat.limits.typing_interval)
        await chat.server.typing(next(iter(alice)), "lobby")


async def test_ephemeral_frames_make_room_for_chat_frames_and_none_is_lost() -> None:
    async with running(limits=Limits(outbox=OUTBOX)) as chat:
        alice, carol = await lobby(chat, "1", "3")
        slow = await slow_member(chat)
        await typing_notices(chat, OUTBOX - 2)  # fills the outbox: 2 chat frames, 6 typing
        await typing_notices(chat, 1)  # dropped on arrival
        for n in range(OUTBOX - 2):  # each pushes out the oldest typing notice
            await alice.call("send", room="lobby", text=f"m{n}")
        assert slow.close_code is None
        frames = drain(slow)
        assert [f["type"] for f in frames] == ["welcome", "presence"] + ["message"] * (OUTBOX - 2)
        assert [f["text"] for f in frames[2:]] == [f"m{n}" for n in range(OUTBOX - 2)]
        (bob,) = chat.server.hub.user_conns("2")
        assert bob.outbox.dropped == (OUTBOX - 2) + 1
        assert len(carol.events("message")) == OUTBOX - 2


async def test_an_outbox_full_of_chat_frames_closes_with_1013_and_spares_the_others() -> None:
    async with running(limits=Limits(outbox=OUTBOX)) as chat:
        alice, carol = await lobby(chat, "1", "3")
        slow = await slow_member(chat)
        for n in range(OUTBOX - 2):
            await alice.call("send", room="lobby", text=f"m{n}")
        still_open = slow.close_code
        assert still_open is None
        await alice.call("send", room="lobby", text="one too many")
        assert slow.close_code is CloseCode.TRY_AGAIN_LATER
        with pytest.raises(Closed) as closed:
            slow.next_frame_nowait()
        assert closed.value.code is CloseCode.TRY_AGAIN_LATER
        assert [frame async for frame in slow.frames()] == []
        await slow.receive(json.dumps({"type": "ping", "ref": 1}))  # ignored once closed
        for client in (alice, carol):
            assert [f["text"] for f in client.events("message")][-1] == "one too many"
            assert client.close_code is None
        assert (await carol.call("send", room="lobby", text="still fine"))["id"] == OUTBOX
        # The adapter closes the socket; Bob, with no other connection, leaves after the grace.
        await slow.close()
        await chat.advance(chat.limits.presence_grace)
        assert [(f["event"], f["user"]["id"]) for f in alice.events("presence")] == [
            ("join", "2"),
            ("leave", "2"),
        ]


async def test_a_slow_consumer_resumes_without_losing_messages() -> None:
    async with running(limits=Limits(outbox=OUTBOX)) as chat:
        (alice,) = await lobby(chat, "1")
        slow = await slow_member(chat)
        for n in range(OUTBOX * 2):
            await alice.call("send", room="lobby", text=f"m{n}")
        assert slow.close_code is CloseCode.TRY_AGAIN_LATER
        await slow.close()
        again = await chat.client("2")
        joined = await again.call("join", room="lobby", since=OUTBOX - 2)
        assert joined["gap"] is False
        assert [m["id"] for m in joined["history"]] == list(range(OUTBOX - 1, OUTBOX * 2 + 1))


async def test_a_reader_that_keeps_up_is_never_closed() -> None:
    async with running(limits=Limits(outbox=OUTBOX)) as chat:
        alice, bob = await lobby(chat, "1", "2")
        for n in range(OUTBOX * 5):
            await chat.advance(1000 // chat.limits.rate)
            await alice.call("send", room="lobby", text=f"m{n}")
            assert len(bob.events("message")) == 1
        assert bob.close_code is None


async def test_wait_closed_wakes_when_the_server_closes_the_connection() -> None:
    async with running(limits=Limits(outbox=OUTBOX)) as chat:
        (alice,) = await lobby(chat, "1")
        slow = await slow_member(chat)
        codes: list[CloseCode] = []

        async def watch() -> None:
            codes.append(await slow.wait_closed())

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(watch)
            await anyio.wait_all_tasks_blocked()
            assert codes == []  # open: the watcher waits
            for n in range(OUTBOX):
                await alice.call("send", room="lobby", text=f"m{n}")
        assert codes == [CloseCode.TRY_AGAIN_LATER]
        assert await slow.wait_closed() is CloseCode.TRY_AGAIN_LATER  # at once, once closed


async def test_when_closed_calls_back_with_the_code_at_the_close_or_at_once() -> None:
    async with running(limits=Limits(outbox=OUTBOX)) as chat:
        (alice,) = await lobby(chat, "1")
        slow = await slow_member(chat)
        codes: list[CloseCode] = []
        slow.when_closed(codes.append)
        assert codes == []  # open
        for n in range(OUTBOX):
            await alice.call("send", room="lobby", text=f"m{n}")
        assert codes == [CloseCode.TRY_AGAIN_LATER]
        slow.when_closed(codes.append)  # closed already: at once
        assert codes == [CloseCode.TRY_AGAIN_LATER] * 2
