"""The native adapter as a library (chatcore_server.ChatApp), over real sockets in this process:
handshakes, logins by token (first frame, refresh, expiry), fan-out, slow consumers."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import SimpleNamespace
from typing import Any, cast
from urllib.parse import parse_qs

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from chatcore import ChatServer, Limits, User
from chatcore.hooks import Hooks
from chatcore_server import ChatApp, Login, LoginRefused, Request, _frames, _http
from tests.reliability.support import StalledSocket
from tests.starlette.example_server import ExampleServer

pytestmark = [pytest.mark.anyio, pytest.mark.network]

HOST = "127.0.0.1"


def by_query(request: Request) -> User | None:
    """The user named by the ``user`` query parameter."""
    name = parse_qs(request.query).get("user", [""])[0]
    return User(id=name, name=name.title()) if name else None


def tokens(token: str) -> Login:
    """A stand-in for JWTs: ``name:expires`` (unix seconds; empty: none); ``bad`` is refused."""
    name, _, expires = token.partition(":")
    if name == "bad":
        raise LoginRefused("bad_signature")
    return Login(User(id=name, name=name.title()), float(expires) if expires else None)


@asynccontextmanager
async def serving(
    limits: Limits | None = None, hooks: Hooks | None = None, **options: Any
) -> AsyncIterator[tuple[ChatApp, str]]:
    """A ChatApp on a free port (its server runs ``hooks``); its ``ws://`` URL."""
    async with ChatServer(limits=limits or Limits(presence_grace=100), hooks=hooks) as server:
        options.setdefault("authenticate", by_query)
        app = ChatApp(server, **options)
        listening = await app.listen(HOST, 0)
        port = listening.sockets[0].getsockname()[1]
        try:
            yield app, f"ws://{HOST}:{port}/ws"
        finally:
            await app.drain(bound=2)


async def frame(ws: ClientConnection, kind: str | None = None) -> dict[str, Any]:
    """The next frame (of type ``kind``), within 5 s."""
    async with asyncio.timeout(5):
        while True:
            data = json.loads(await ws.recv())
            if kind is None or data["type"] == kind:
                return data  # type: ignore[no-any-return]


async def call(ws: ClientConnection, ref: int, kind: str, **fields: Any) -> dict[str, Any]:
    await ws.send(json.dumps({"type": kind, "ref": ref, **fields}))
    async with asyncio.timeout(5):
        while True:
            data = json.loads(await ws.recv())
            if data.get("ref") == ref:
                return data  # type: ignore[no-any-return]


async def closed_with(ws: ClientConnection) -> int | None:
    async with asyncio.timeout(10):
        await ws.wait_closed()
    return ws.close_code


async def test_a_room_gets_each_message_once_and_the_frames_are_built_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with serving() as (_, url):
        sockets = [await connect(f"{url}?user=u{n}") for n in range(5)]
        for ws in sockets:
            await frame(ws, "welcome")
        assert (await call(sockets[0], 1, "create_room", room="lobby"))["type"] == "ok"
        for ws in sockets:
            assert (await call(ws, 2, "join", room="lobby"))["type"] == "ok"
        built: list[bytes] = []
        real = _frames.text_frame

        def counting(payload: bytes) -> bytes:
            built.append(payload)
            return real(payload)

        monkeypatch.setattr(_frames, "text_frame", counting)
        await sockets[0].send(json.dumps({"type": "send", "room": "lobby", "text": "hello"}))
        for ws in sockets:
            assert (await frame(ws, "message"))["text"] == "hello"
        # One frame built for the five recipients.
        assert sum(b'"message"' in payload for payload in built) == 1
        for ws in sockets:
            await ws.close()


async def test_handshakes_without_a_user_a_foreign_origin_or_not_a_websocket_are_refused() -> None:
    async with serving() as (_, url):
        with pytest.raises(InvalidStatus) as refused:
            await connect(url)
        assert refused.value.response.status_code == 403
        with pytest.raises(InvalidStatus) as refused:
            await connect(f"{url}?user=a", origin="http://evil.example")  # type: ignore[arg-type]
        assert refused.value.response.status_code == 403
        with pytest.raises(InvalidStatus) as refused:
            await connect(url.replace("/ws", "/other") + "?user=a")
        assert refused.value.response.status_code == 404
        reader, writer = await asyncio.open_connection(HOST, int(url.split(":")[2].split("/")[0]))
        writer.write(b"GET /ws HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = await asyncio.wait_for(reader.read(4096), 5)
        # Keep-alive: both requests are answered on the one connection.
        assert answer.startswith(b"HTTP/1.1 426 ")
        while answer.count(b"HTTP/1.1") < 2:
            answer += await asyncio.wait_for(reader.read(4096), 5)
        assert b"HTTP/1.1 404 " in answer
        writer.close()


async def test_the_first_frame_logs_in_with_a_token() -> None:
    async with serving(authenticate=None, token_login=tokens, auth_timeout=1) as (_, url):
        async with connect(url) as ws:
            await ws.send(json.dumps({"type": "auth", "token": "ann"}))
            welcome = await frame(ws)
            assert (welcome["type"], welcome["user"]["id"]) == ("welcome", "ann")
        for first in ({"type": "auth", "token": "bad"}, {"type": "ping"}, "not json"):
            async with connect(url) as ws:
                await ws.send(first if isinstance(first, str) else json.dumps(first))
                assert await closed_with(ws) == 4401
        async with connect(url) as ws:  # nothing sent: closed after auth_timeout
            assert await closed_with(ws) == 4401


async def test_an_expired_login_closes_with_4401_unless_refreshed_in_time() -> None:
    async with serving(authenticate=None, token_login=tokens) as (_, url):
        soon = time.time() + 0.5
        async with connect(url) as late, connect(url) as fresh:
            await late.send(json.dumps({"type": "auth", "token": f"ann:{soon}"}))
            await fresh.send(json.dumps({"type": "auth", "token": f"bob:{soon}"}))
            await frame(late, "welcome")
            await frame(fresh, "welcome")
            later = time.time() + 60
            assert await call(fresh, 1, "refresh", token=f"bob:{later}") == {"type": "ok", "ref": 1}
            # Another user's token, or a refused one, is an error and changes nothing.
            wrong = await call(fresh, 2, "refresh", token=f"eve:{later}")
            assert wrong["code"] == "forbidden"
            bad = await call(fresh, 3, "refresh", token="bad")
            assert (bad["code"], bad["field"]) == ("invalid_field", "token")
            assert await closed_with(late) == 4401
            await asyncio.sleep(0.3)
            assert (await call(fresh, 4, "ping"))["type"] == "ok"


async def test_a_client_that_stops_reading_is_closed_with_1013_and_the_bytes_held_stay_bounded() -> (
    None
):
    limits = Limits(
        presence_grace=100, outbox_bytes=200_000, rate=100_000, burst=100_000, close_linger=500
    )
    async with serving(limits, write_buffer=16_384) as (app, url):
        port = int(url.split(":")[2].split("/")[0])
        # (StalledSocket asks only for the URL and the port of what it connects to.)
        where = cast(ExampleServer, SimpleNamespace(ws_url=f"{url}?user=slow", port=port))
        stalled = await asyncio.to_thread(StalledSocket, where, {})
        async with connect(f"{url}?user=fast", max_queue=None) as fast:
            await frame(fast, "welcome")
            await call(fast, 1, "create_room", room="flood")
            await call(fast, 2, "join", room="flood")
            stalled.send({"type": "join", "room": "flood", "ref": 1})
            await asyncio.sleep(0.2)
            text = "ж" * 3_900  # 7,800 bytes of UTF-8 (texts are at most 4,000 characters)
            sent, got = 0, 0
            held = []

            async def read() -> None:
                nonlocal got
                while True:
                    got += json.loads(await fast.recv())["type"] == "message"

            reader = asyncio.create_task(read())
            slow = next(c for c in app._sockets.values() if c is not None and c.user.id == "slow")
            while slow.close_code is None:
                frame_ = {"type": "send", "room": "flood", "text": text}
                await fast.send(json.dumps(frame_, ensure_ascii=False))
                sent += 1
                held.append(_held(app))
                await asyncio.sleep(0.001)
                assert sent < 5000, "the stalled socket was never closed"
            async with asyncio.timeout(10):
                # Every message reaches the reader (polled: the count moves in another task).
                while got < sent and not reader.done():  # noqa: ASYNC110
                    await asyncio.sleep(0.01)
            reader.cancel()
            # Server-side, what is held for the stalled socket stays within the outbox's bytes
            # (plus the transport's high-water mark and one frame).
            assert 200_000 < max(held) <= 200_000 + 16_384 + 8_000
            assert slow.close_code == 1013
            # close_linger later, the socket is ended though its close frame is still unsent.
            async with asyncio.timeout(5):
                while app.sockets > 1:  # noqa: ASYNC110  (the server's state, polled)
                    await asyncio.sleep(0.05)
        frames, code = await asyncio.to_thread(stalled.drain)
        stalled.close()
        assert code is None
        assert 0 < frames < sent


def _held(app: ChatApp) -> int:
    """Bytes held for the slowest socket: its outbox's and its transport's buffer."""
    most = 0
    for socket_, chat in app._sockets.items():
        if chat is None:
            continue
        outbox = chat._session.outbox
        most = max(most, outbox.held + socket_.transport.get_write_buffer_size())
    return most


async def test_a_connection_that_never_finishes_its_request_is_closed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_http, "REQUEST_TIMEOUT", 0.2)
    async with serving() as (_, url):
        port = int(url.split(":")[2].split("/")[0])
        reader, writer = await asyncio.open_connection(HOST, port)
        writer.write(b"GET /ws HTTP/1.1\r\nHost: x\r\n")  # never finished
        async with asyncio.timeout(5):
            assert await reader.read() == b""  # closed by the server
        writer.close()


async def test_a_drain_closes_with_1012_and_returns_after_its_bound_if_a_client_never_answers() -> (
    None
):
    limits = Limits(presence_grace=100, close_linger=60_000)
    async with serving(limits) as (app, url):
        port = int(url.split(":")[2].split("/")[0])
        async with connect(f"{url}?user=ann") as ann:
            await frame(ann, "welcome")
            # A raw socket that never reads, nor answers the close frame.
            where = cast(ExampleServer, SimpleNamespace(ws_url=f"{url}?user=bob", port=port))
            mute = await asyncio.to_thread(StalledSocket, where, {})
            started = asyncio.get_running_loop().time()
            await app.drain(bound=0.5)
            took = asyncio.get_running_loop().time() - started
            assert 0.4 < took < 3
            assert app.sockets == 1  # bob's: still open when the bound ran out
            assert await closed_with(ann) == 1012
            mute.close()
