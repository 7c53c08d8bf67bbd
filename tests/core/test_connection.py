"""The connection as an adapter drives it: a pump task, a reader, and close."""

from __future__ import annotations

import json
from typing import Any

import anyio
import pytest

from chatcore import CloseCode, Closed, Connection

from .kit import Chat, user

pytestmark = pytest.mark.anyio


async def pump(connection: Connection, sent: list[dict[str, Any]]) -> None:
    async for text in connection.frames():
        sent.append(json.loads(text))


async def test_an_adapter_pump_sends_every_frame_then_sees_the_close_code(chat: Chat) -> None:
    connection = await chat.server.connect(user("1"))
    sent: list[dict[str, Any]] = []
    async with anyio.create_task_group() as tg:
        tg.start_soon(pump, connection, sent)
        await connection.receive('{"type": "create_room", "room": "lobby", "ref": 1}')
        await connection.receive('{"type": "join", "room": "lobby", "ref": 2}')
        await connection.receive('{"type": "send", "room": "lobby", "text": "hi", "ref": 3}')
        await anyio.wait_all_tasks_blocked()
        assert [f["type"] for f in sent] == ["welcome", "ok", "presence", "ok", "message", "ok"]
        await chat.server.disconnect_user("1")
    assert connection.close_code is CloseCode.UNAUTHORIZED
    await connection.close()
    assert chat.server.hub.user_conns("1") == set()


async def test_next_frame_waits_for_the_next_frame(chat: Chat) -> None:
    connection = await chat.server.connect(user("1"))
    assert json.loads(await connection.next_frame())["type"] == "welcome"
    got: list[str] = []

    async def wait_one() -> None:
        got.append(await connection.next_frame())

    async with anyio.create_task_group() as tg:
        tg.start_soon(wait_one)
        await anyio.wait_all_tasks_blocked()
        assert got == []
        await connection.receive('{"type": "ping", "ref": "p"}')
    assert [json.loads(text) for text in got] == [{"type": "ok", "ref": "p"}]
    assert connection.user == user("1")
    other = await chat.server.connect(user("1"))
    assert other.id != connection.id


async def test_closing_twice_is_harmless(chat: Chat) -> None:
    connection = await chat.server.connect(user("1"))
    await connection.close()
    await connection.close()
    assert connection.close_code is CloseCode.NORMAL
    await connection.receive('{"type": "ping", "ref": 1}')
    with pytest.raises(Closed):
        connection.next_frame_nowait()


async def test_fan_out_hands_one_encoded_text_to_every_connection(chat: Chat) -> None:
    await chat.server.create_room("lobby")
    connections = [await chat.server.connect(user(user_id)) for user_id in ("1", "1", "2", "3")]
    for connection in connections:
        await connection.receive('{"type": "join", "room": "lobby"}')
    for connection in connections:
        while connection.next_frame_nowait() is not None:
            pass
    await chat.server.post("lobby", "once", sender=user("1"))
    texts = [connection.next_frame_nowait() for connection in connections]
    assert texts[0] is not None
    assert all(text is texts[0] for text in texts)
    assert json.loads(texts[0])["text"] == "once"
