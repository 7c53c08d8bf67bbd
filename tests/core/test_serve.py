"""``Connection.serve``: the socket loop every adapter shares, driven by an in-memory socket."""

from __future__ import annotations

import json
from collections import deque
from typing import Any

import anyio
import pytest

from chatcore import CloseCode, Connection, Limits

from .kit import Chat, running, user

pytestmark = pytest.mark.anyio


class Socket:
    """An accepted socket in memory: frames the client sends, frames and the close it gets."""

    def __init__(self) -> None:
        self._frames: deque[str | None] = deque()
        self._arrived = anyio.Event()
        self.sent: list[dict[str, Any]] = []
        self.closed_with: list[CloseCode] = []
        self.stalled = False  # the client stopped reading: every send waits forever
        self.gate: anyio.Event | None = None  # set: each send waits until the gate opens
        self.failure: Exception | None = None  # raised by every send
        self.served = False  # serve returned

    def put(self, frame: str | None) -> None:
        """The client sends ``frame``; None: the client ends the socket."""
        self._frames.append(frame)
        self._arrived.set()

    async def receive(self) -> str | bytes | None:
        while not self._frames:
            self._arrived = anyio.Event()
            await self._arrived.wait()
        return self._frames.popleft()

    async def send(self, text: str) -> None:
        if self.failure is not None:
            raise self.failure
        if self.stalled:
            await anyio.Event().wait()
        if self.gate is not None:
            await self.gate.wait()
        self.sent.append(json.loads(text))

    async def close(self, code: CloseCode) -> None:
        if self.stalled:
            await anyio.Event().wait()
        self.closed_with.append(code)

    def types(self) -> list[str]:
        return [frame["type"] for frame in self.sent]


def is_connected(chat: Chat, user_id: str) -> bool:
    return bool(chat.server.hub.user_conns(user_id))


async def serve(connection: Connection, socket: Socket, **options: Any) -> None:
    await connection.serve(socket.receive, socket.send, socket.close, **options)
    socket.served = True


async def test_frames_flow_until_the_client_ends_the_socket(chat: Chat) -> None:
    connection = await chat.server.connect(user("1"))
    socket = Socket()
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(serve, connection, socket)
        socket.put('{"type": "ping", "ref": 1}')
        socket.put('{"type": "create_room", "room": "lobby", "ref": 2}')
        await anyio.wait_all_tasks_blocked()
        assert socket.types() == ["welcome", "ok", "ok"]
        assert is_connected(chat, "1")
        socket.put(None)  # the client closed, or the socket was lost
        await anyio.wait_all_tasks_blocked()
        assert socket.served
    assert socket.closed_with == []
    assert not is_connected(chat, "1")


async def test_a_binary_frame_is_answered_as_the_core_answers_it(chat: Chat) -> None:
    connection = await chat.server.connect(user("1"))
    frames = iter([b'{"type": "ping"}', None])
    sent: list[str] = []

    async def receive() -> str | bytes | None:
        await anyio.wait_all_tasks_blocked()
        return next(frames)

    async def send(text: str) -> None:
        sent.append(text)

    async def close(code: CloseCode) -> None:
        raise AssertionError(code)

    await connection.serve(receive, send, close)
    assert json.loads(sent[-1])["code"] == "bad_frame"


@pytest.mark.parametrize(
    "code", [CloseCode.UNAUTHORIZED, CloseCode.TRY_AGAIN_LATER, CloseCode.POLICY_VIOLATION]
)
async def test_the_core_closing_sends_its_code_and_ends_the_socket(
    chat: Chat, code: CloseCode
) -> None:
    connection = await chat.server.connect(user("1"))
    socket = Socket()
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(serve, connection, socket)
        await anyio.wait_all_tasks_blocked()
        connection.end(code)
        await anyio.wait_all_tasks_blocked()
        # serve returned without the client ending the socket, nor the linger running out
        assert socket.served
    assert socket.closed_with == [code]
    assert not is_connected(chat, "1")


async def test_a_frame_over_the_hard_cap_closes_with_1009(chat: Chat) -> None:
    connection = await chat.server.connect(user("1"))
    socket = Socket()
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(serve, connection, socket)
        socket.put("x" * (chat.limits.hard_frame_cap + 1))
    assert socket.closed_with == [CloseCode.MESSAGE_TOO_BIG]


async def test_a_client_that_stopped_reading_is_ended_after_the_linger() -> None:
    async with running(limits=Limits(close_linger=1)) as chat:
        connection = await chat.server.connect(user("1"))
        socket = Socket()
        socket.stalled = True
        # Neither the welcome nor the close frame can be sent; the linger ends the socket.
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(serve, connection, socket)
            await anyio.wait_all_tasks_blocked()
            connection.end(CloseCode.TRY_AGAIN_LATER)
        assert socket.closed_with == []
        assert not is_connected(chat, "1")


async def test_a_served_socket_runs_no_task_beside_its_reader(
    chat: Chat, anyio_backend: str
) -> None:
    # On asyncio the frames go out from wherever they are made: no writer task per socket
    # (a join storm's cost); on trio, whose tasks may not finish each other's waits, one.
    # The linger is a deadline set when the core closes the connection, never a task.
    connection = await chat.server.connect(user("1"))
    socket = Socket()
    before = len(anyio.get_running_tasks())
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(serve, connection, socket)
        await anyio.wait_all_tasks_blocked()
        assert socket.types() == ["welcome"]
        expected = 1 if anyio_backend == "asyncio" else 2  # serve's own (the reader) [+ pump]
        assert len(anyio.get_running_tasks()) - before == expected
        socket.put(None)
    assert socket.served


async def test_a_send_that_waits_is_finished_by_a_task_and_the_frames_after_it_follow(
    chat: Chat,
) -> None:
    connection = await chat.server.connect(user("1"))
    socket = Socket()
    socket.gate = anyio.Event()  # the welcome's send waits (the socket's buffer is full)
    before = len(anyio.get_running_tasks())
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(serve, connection, socket)
        for ref in (1, 2, 3):
            socket.put(json.dumps({"type": "ping", "ref": ref}))
        await anyio.wait_all_tasks_blocked()
        assert socket.sent == []  # all held behind the waiting send
        socket.gate.set()
        await anyio.wait_all_tasks_blocked()
        assert socket.types() == ["welcome", "ok", "ok", "ok"]
        assert [frame.get("ref") for frame in socket.sent[1:]] == [1, 2, 3]
        # The task that finished the send is gone with it: the reader alone is left (asyncio).
        assert len(anyio.get_running_tasks()) - before <= 2
        connection.end(CloseCode.GOING_AWAY)
        await anyio.wait_all_tasks_blocked()
        assert socket.closed_with == [CloseCode.GOING_AWAY]
        assert socket.served  # the close frame sent, the reader ended
    assert not is_connected(chat, "1")


async def test_a_close_waits_for_the_send_under_way(chat: Chat) -> None:
    connection = await chat.server.connect(user("1"))
    socket = Socket()
    socket.gate = anyio.Event()
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(serve, connection, socket)
        await anyio.wait_all_tasks_blocked()
        connection.end(CloseCode.GOING_AWAY)
        await anyio.wait_all_tasks_blocked()
        assert socket.closed_with == []  # the welcome's send is still under way
        socket.gate.set()
        await anyio.wait_all_tasks_blocked()
        assert socket.types() == ["welcome"]
        assert socket.closed_with == [CloseCode.GOING_AWAY]
        assert socket.served


async def test_a_socket_closed_before_it_is_served_still_lingers_out() -> None:
    async with running(limits=Limits(close_linger=1)) as chat:
        connection = await chat.server.connect(user("1"))
        connection.end(CloseCode.TRY_AGAIN_LATER)  # closed before serve: the deadline at once
        socket = Socket()
        socket.stalled = True
        with anyio.fail_after(5):
            await serve(connection, socket)
        assert socket.closed_with == []
        assert not is_connected(chat, "1")


@pytest.mark.parametrize("failure", [ConnectionResetError(), OSError()])
async def test_a_send_to_a_lost_socket_ends_it(chat: Chat, failure: Exception) -> None:
    connection = await chat.server.connect(user("1"))
    socket = Socket()
    socket.failure = failure
    await serve(connection, socket)  # returns although the client never ended the socket
    assert not is_connected(chat, "1")


async def test_the_adapter_names_what_its_send_raises_when_the_socket_is_gone(chat: Chat) -> None:
    class Gone(Exception):
        pass

    connection = await chat.server.connect(user("1"))
    socket = Socket()
    socket.failure = Gone()
    await serve(connection, socket, gone=(Gone,))
    assert not is_connected(chat, "1")


async def test_a_cancelled_serve_still_tells_the_core(chat: Chat) -> None:
    connection = await chat.server.connect(user("1"))
    socket = Socket()
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(serve, connection, socket)
        await anyio.wait_all_tasks_blocked()
        tasks.cancel_scope.cancel()
    assert not is_connected(chat, "1")
