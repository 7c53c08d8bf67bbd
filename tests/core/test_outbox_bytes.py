"""The outbox's byte budget: what a connection can make the server hold is bounded in bytes."""

from __future__ import annotations

import json

import anyio
import pytest

from chatcore import CloseCode, Limits
from chatcore.runtime.outbox import Outbox
from chatcore.testing import LocalClient
from chatcore.wire.protocol import frame_size

from .kit import Chat, lobby, running, user
from .test_outbox_writer import Socket, write_catching

pytestmark = pytest.mark.anyio

BUDGET = 131_072  # the smallest budget the default hard_frame_cap allows
LONG = "ж" * 3990  # about the longest text: ~8,000 bytes of UTF-8


async def long_history(chat: Chat, reader: LocalClient, count: int) -> None:
    """Post ``count`` long messages to the lobby; ``reader``, a member, reads each."""
    for n in range(count):
        await chat.server.post("lobby", f"{n} {LONG}", sender=user("1"))
        reader.events()


async def test_a_reader_that_stops_is_closed_once_its_replies_pass_the_budget() -> None:
    # Before the budget, 512 frames of ~32 KB each could queue: 16 MB for one socket.
    async with running(limits=Limits(outbox_bytes=BUDGET, rate=1000, burst=1000)) as chat:
        (alice,) = await lobby(chat, "1")
        await long_history(chat, alice, 100)
        slow = await chat.server.connect(user("2"))
        await slow.receive(json.dumps({"type": "join", "room": "lobby"}))
        box = chat.server.hub.user_conns("2").pop().outbox
        requests = 0
        while slow.close_code is None:
            await slow.receive(json.dumps({"type": "history", "room": "lobby", "ref": requests}))
            requests += 1
            assert box.held <= BUDGET
        assert slow.close_code is CloseCode.TRY_AGAIN_LATER
        assert requests <= 6  # ~24 KB a reply (at most a quarter of the budget each)
        assert box.held == 0  # a closed outbox holds nothing
        # The others are not affected.
        assert (await alice.call("history", room="lobby", limit=1))["messages"]


async def test_a_history_reply_is_cut_to_a_quarter_of_the_budget_and_says_more() -> None:
    async with running(limits=Limits(outbox_bytes=BUDGET)) as chat:
        (alice,) = await lobby(chat, "1")
        await long_history(chat, alice, 40)
        page = await alice.call("history", room="lobby", limit=40)
        ids = [m["id"] for m in page["messages"]]
        assert ids == list(range(41 - len(ids), 41))  # the newest, in order
        assert 1 <= len(ids) < 40
        assert page["more"] is True
        assert frame_size(json.dumps(page["messages"], ensure_ascii=False)) <= BUDGET // 4
        older = await alice.call("history", room="lobby", before=ids[0], limit=40)
        assert [m["id"] for m in older["messages"]][-1] == ids[0] - 1


async def test_a_resume_cut_to_fit_reports_a_gap_and_a_first_join_does_not() -> None:
    async with running(limits=Limits(outbox_bytes=BUDGET)) as chat:
        (alice,) = await lobby(chat, "1")
        await long_history(chat, alice, 40)
        bob = await chat.client("2")
        first = await bob.call("join", room="lobby")
        assert 1 <= len(first["history"]) < 40
        assert first["history"][-1]["id"] == 40
        assert first["gap"] is False
        await bob.call("leave", room="lobby")
        resumed = await bob.call("join", room="lobby", since=1)
        assert resumed["gap"] is True
        assert resumed["history"][-1]["id"] == 40
        short = await bob.call("join", room="lobby", since=39)
        assert [m["id"] for m in short["history"]] == [40]
        assert short["gap"] is False


def test_frames_are_taken_until_the_budget_and_one_frame_always_fits() -> None:
    box = Outbox(100, budget=1000)
    assert box.put("x" * 5000)  # nothing held: a frame larger than the budget is taken
    assert box.held == 5000
    assert box.get_nowait() == "x" * 5000
    assert box.held == 0
    assert box.put("a" * 600)
    assert box.put("b" * 400)
    assert box.held == 1000
    assert box.put("c") is False
    assert box.close_code is CloseCode.TRY_AGAIN_LATER
    assert box.held == 0


def test_ephemeral_frames_make_room_in_bytes_oldest_first() -> None:
    box = Outbox(100, budget=1000)
    assert box.put("t1" * 100, ephemeral=True)  # 200 bytes
    assert box.put("m" * 500)
    assert box.put("t2" * 100, ephemeral=True)
    assert box.held == 900
    assert box.put("e" * 200, ephemeral=True)  # an ephemeral frame that does not fit: dropped
    assert box.dropped == 1
    assert box.put("n" * 300)  # pushes out the oldest typing notice only
    assert box.dropped == 2
    assert box.held == 1000
    assert [box.get_nowait() for _ in range(3)] == ["m" * 500, "t2" * 100, "n" * 300]
    assert box.close_code is None


def test_non_ascii_frames_count_in_utf8_bytes() -> None:
    box = Outbox(100, budget=1000)
    assert box.put("ж" * 400)
    assert box.held == 800
    assert box.put("😀" * 50)
    assert box.held == 1000


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_a_send_that_waits_holds_its_bytes_until_it_ends() -> None:
    box, socket = Outbox(100, budget=1000), Socket()
    ended: list[CloseCode | Exception] = []
    async with anyio.create_task_group() as tg:
        tg.start_soon(write_catching, box, socket, ended)
        await anyio.wait_all_tasks_blocked()
        assert box.put("a" * 300)  # the socket takes it at once: nothing held
        assert box.held == 0
        socket.gate = anyio.Event()
        assert box.put("b" * 700)  # handed to a send that waits: held
        assert box.held == 700
        assert box.put("c" * 300)
        assert box.held == 1000
        socket.gate.set()
        await anyio.wait_all_tasks_blocked()
        assert box.held == 0
        assert socket.sent == ["a" * 300, "b" * 700, "c" * 300]
        socket.gate = anyio.Event()
        assert box.put("d" * 900)
        assert box.put("e" * 200) is False  # 900 in a waiting send + 200 > 1000
        assert box.close_code is CloseCode.TRY_AGAIN_LATER
        socket.gate.set()
    assert ended == [CloseCode.TRY_AGAIN_LATER]


def test_the_budget_cannot_be_below_the_hard_frame_cap() -> None:
    with pytest.raises(ValueError, match="outbox_bytes"):
        Limits(outbox_bytes=1000)
