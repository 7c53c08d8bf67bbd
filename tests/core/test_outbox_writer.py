"""Outbox.write_all: on asyncio, frames for an idle socket are sent from put(), the rest by the
writer task; on trio, every frame by the writer task."""

from __future__ import annotations

import anyio
import pytest

from chatcore import CloseCode
from chatcore.runtime._inline import start
from chatcore.runtime.outbox import Outbox

pytestmark = pytest.mark.anyio

#: The tests of sends started inside put(), which only asyncio allows.
inline = pytest.mark.parametrize("anyio_backend", ["asyncio"])


class Socket:
    """A socket double: records what it sends; can be made to wait (full buffer) or fail."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.gate: anyio.Event | None = None  # while unset, sends wait
        self.failure: Exception | None = None
        self.waiting = 0  # sends under way that wait on the gate
        self.abandoned = 0  # sends that were ended before they finished

    async def send(self, text: str) -> None:
        if self.failure is not None:
            raise self.failure
        gate = self.gate
        if gate is not None and not gate.is_set():
            self.waiting += 1
            try:
                await gate.wait()
            except BaseException:
                self.abandoned += 1
                raise
            finally:
                self.waiting -= 1
            if self.failure is not None:
                raise self.failure
        self.sent.append(text)


async def write_catching(box: Outbox, socket: Socket, ended: list[CloseCode | Exception]) -> None:
    """Run the outbox's writer; keep the close code it returns, or the OSError it raises (the
    socket is gone)."""
    try:
        ended.append(await box.write_all(socket.send))
    except OSError as error:
        ended.append(error)


@inline
async def test_a_frame_for_an_idle_socket_is_sent_inside_put() -> None:
    box, socket = Outbox(8), Socket()
    box.put("welcome")  # queued before the writer starts: the writer sends it first
    async with anyio.create_task_group() as tg:
        tg.start_soon(box.write_all, socket.send)
        await anyio.wait_all_tasks_blocked()
        assert socket.sent == ["welcome"]
        for text in ("a", "b", "c"):
            assert box.put(text)
            assert socket.sent[-1] == text  # no checkpoint in between: put() sent it
        assert len(box) == 0
        box.close(CloseCode.NORMAL)
    assert socket.sent == ["welcome", "a", "b", "c"]


@inline
async def test_frames_wait_behind_a_send_that_waits_and_keep_their_order() -> None:
    box, socket = Outbox(8), Socket()
    codes: list[CloseCode | Exception] = []
    async with anyio.create_task_group() as tg:
        tg.start_soon(write_catching, box, socket, codes)
        await anyio.wait_all_tasks_blocked()
        socket.gate = anyio.Event()
        box.put("1")  # starts inline, then waits on the full socket
        box.put("2")
        box.put("3", ephemeral=True)
        assert socket.sent == []
        assert len(box) == 2
        await anyio.wait_all_tasks_blocked()
        assert socket.waiting == 1
        assert socket.sent == []
        socket.gate.set()
        await anyio.wait_all_tasks_blocked()
        assert socket.sent == ["1", "2", "3"]
        box.put("4")  # idle again: inline
        assert socket.sent == ["1", "2", "3", "4"]
        box.close(CloseCode.GOING_AWAY)
    assert codes == [CloseCode.GOING_AWAY]


@inline
async def test_a_full_outbox_behind_a_stuck_socket_still_closes_with_1013() -> None:
    box, socket = Outbox(2), Socket()
    socket.gate = anyio.Event()
    codes: list[CloseCode | Exception] = []
    async with anyio.create_task_group() as tg:
        tg.start_soon(write_catching, box, socket, codes)
        await anyio.wait_all_tasks_blocked()
        for text in ("1", "2", "3"):  # 1 is in the socket, 2 and 3 fill the outbox
            assert box.put(text)
        assert box.put("4") is False
        assert box.close_code is CloseCode.TRY_AGAIN_LATER
        socket.gate.set()  # the send under way ends; nothing queued is sent after the close
    assert codes == [CloseCode.TRY_AGAIN_LATER]
    assert socket.sent == ["1"]


@inline
async def test_a_send_failing_inside_put_is_raised_by_the_writer() -> None:
    box, socket = Outbox(8), Socket()
    raised: list[CloseCode | Exception] = []
    async with anyio.create_task_group() as tg:
        tg.start_soon(write_catching, box, socket, raised)
        await anyio.wait_all_tasks_blocked()
        socket.failure = OSError("reset")
        assert box.put("lost") is True  # put() itself never raises
        box.put("queued")  # the socket is gone: no more sends from put()
    assert [str(error) for error in raised] == ["reset"]
    assert socket.sent == []


async def test_a_send_failing_after_it_waited_is_raised_by_the_writer() -> None:
    box, socket = Outbox(8), Socket()
    socket.gate = anyio.Event()
    raised: list[CloseCode | Exception] = []
    async with anyio.create_task_group() as tg:
        tg.start_soon(write_catching, box, socket, raised)
        await anyio.wait_all_tasks_blocked()
        box.put("1")
        await anyio.wait_all_tasks_blocked()
        socket.failure = OSError("reset")
        socket.gate.set()
    assert [str(error) for error in raised] == ["reset"]


async def test_cancelling_the_writer_ends_a_send_that_waits() -> None:
    box, socket = Outbox(8), Socket()
    socket.gate = anyio.Event()
    async with anyio.create_task_group() as tg:
        tg.start_soon(box.write_all, socket.send)
        await anyio.wait_all_tasks_blocked()
        box.put("1")
        await anyio.wait_all_tasks_blocked()
        assert socket.waiting == 1
        tg.cancel_scope.cancel()
    assert socket.abandoned == 1
    assert socket.waiting == 0
    box.put("2")  # the writer is gone: queued, not sent
    assert socket.sent == []
    assert len(box) == 1


async def test_an_unfinished_send_the_writer_never_reached_is_closed() -> None:
    box, socket = Outbox(8), Socket()
    socket.gate = anyio.Event()
    with anyio.CancelScope() as scope:
        scope.cancel()
        await box.write_all(socket.send)  # cancelled at its first wait...
    assert socket.waiting == 0
    rest = start(socket.send("x"))  # ...and a started send can be abandoned cleanly
    assert rest is not None
    assert socket.waiting == 1
    rest.close()
    assert socket.waiting == 0
    assert socket.abandoned == 1


async def test_start_returns_none_for_a_coroutine_that_never_waits() -> None:
    socket = Socket()
    assert start(socket.send("x")) is None
    assert socket.sent == ["x"]
    socket.gate = anyio.Event()
    rest = start(socket.send("y"))
    assert rest is not None
    socket.gate.set()
    await rest
    assert socket.sent == ["x", "y"]


async def test_a_send_that_waits_is_finished_by_the_writer_on_every_backend() -> None:
    # Fan-out puts from another task; the send has to wait, then resumes. On trio, a send
    # started in the publisher's task and finished in the writer's corrupted trio's scheduler.
    box, socket = Outbox(8), Socket()
    codes: list[CloseCode | Exception] = []
    async with anyio.create_task_group() as tg:
        tg.start_soon(write_catching, box, socket, codes)
        await anyio.wait_all_tasks_blocked()
        socket.gate = anyio.Event()

        async def publish() -> None:
            for text in ("1", "2", "3"):
                assert box.put(text)

        tg.start_soon(publish)
        await anyio.wait_all_tasks_blocked()
        assert socket.waiting == 1
        socket.gate.set()
        await anyio.wait_all_tasks_blocked()
        assert socket.sent == ["1", "2", "3"]
        tg.start_soon(publish)
        await anyio.wait_all_tasks_blocked()
        assert socket.sent == ["1", "2", "3"] * 2
        box.close(CloseCode.NORMAL)
    assert codes == [CloseCode.NORMAL]
