"""The adapter through Starlette's TestClient (in memory, no network)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient, WebSocketDenialResponse, WebSocketTestSession
from starlette.types import Message
from starlette.websockets import WebSocket

from chatcore import ChatServer, CloseCode, Limits, User
from chatcore_starlette import ChatEndpoint, chat_lifespan, chat_route

USERS = {"alice": User(id="1", name="Alice"), "bob": User(id="2", name="Bob")}


def by_header(websocket: WebSocket) -> User | None:
    return USERS.get(websocket.headers.get("x-user", ""))


async def by_header_async(websocket: WebSocket) -> User | None:
    return by_header(websocket)


def make_app(server: ChatServer, **options: Any) -> Starlette:
    return Starlette(
        routes=[
            chat_route("/ws", server, by_header, **options),
            chat_route("/async", server, by_header_async),
        ],
        lifespan=chat_lifespan(server),
    )


@pytest.fixture
def server() -> ChatServer:
    return ChatServer(limits=Limits(presence_grace=0))


@pytest.fixture
def client(server: ChatServer) -> Iterator[TestClient]:
    with TestClient(make_app(server)) as client:
        yield client


class Socket:
    """A TestClient socket that keeps the events that arrive while waiting for a reply."""

    def __init__(self, ws: WebSocketTestSession) -> None:
        self.ws = ws
        self.events: list[dict[str, Any]] = []

    def call(self, kind: str, ref: int, **fields: Any) -> dict[str, Any]:
        self.ws.send_json({"type": kind, "ref": ref, **fields})
        return self.reply(ref)

    def reply(self, ref: int | str) -> dict[str, Any]:
        while True:
            frame: dict[str, Any] = self.ws.receive_json()
            if frame.get("ref") == ref:
                return frame
            self.events.append(frame)

    def next(self) -> dict[str, Any]:
        if self.events:
            return self.events.pop(0)
        frame: dict[str, Any] = self.ws.receive_json()
        return frame


def test_a_socket_without_a_user_is_refused_with_403(client: TestClient) -> None:
    with pytest.raises(WebSocketDenialResponse) as refused:
        client.websocket_connect("/ws").__enter__()
    assert refused.value.status_code == 403
    with pytest.raises(WebSocketDenialResponse) as refused:
        client.websocket_connect("/async", headers={"x-user": "mallory"}).__enter__()
    assert refused.value.status_code == 403


def test_an_async_authenticate_is_awaited(client: TestClient) -> None:
    with client.websocket_connect("/async", headers={"x-user": "bob"}) as ws:
        assert ws.receive_json()["user"] == {"id": "2", "name": "Bob", "avatar": None}


def test_a_foreign_origin_is_refused_and_the_own_origin_allowed(client: TestClient) -> None:
    alice = {"x-user": "alice"}
    with pytest.raises(WebSocketDenialResponse) as refused:
        client.websocket_connect(
            "/ws", headers={**alice, "origin": "https://evil.example"}
        ).__enter__()
    assert refused.value.status_code == 403
    with client.websocket_connect("/ws", headers={**alice, "origin": "http://testserver"}) as ws:
        assert ws.receive_json()["type"] == "welcome"


def test_the_own_host_on_another_scheme_is_refused(client: TestClient) -> None:
    # The socket is ws://testserver: a page of https://testserver is another origin.
    with pytest.raises(WebSocketDenialResponse) as refused:
        client.websocket_connect(
            "/ws", headers={"x-user": "alice", "origin": "https://testserver"}
        ).__enter__()
    assert refused.value.status_code == 403


def test_allowed_origins_are_the_only_ones_allowed(server: ChatServer) -> None:
    app = make_app(server, allowed_origins=["https://app.example/"])
    alice = {"x-user": "alice"}
    with TestClient(app) as client:
        with client.websocket_connect("/ws", headers={**alice, "origin": "https://app.example"}):
            pass
        with pytest.raises(WebSocketDenialResponse):
            client.websocket_connect(
                "/ws", headers={**alice, "origin": "http://testserver"}
            ).__enter__()


def test_frames_flow_both_ways(client: TestClient) -> None:
    with (
        client.websocket_connect("/ws", headers={"x-user": "alice"}) as alice_ws,
        client.websocket_connect("/ws", headers={"x-user": "bob"}) as bob_ws,
    ):
        alice, bob = Socket(alice_ws), Socket(bob_ws)
        welcome = alice.next()
        assert (welcome["type"], welcome["user"]["id"], welcome["protocol"]) == ("welcome", "1", 1)
        assert bob.next()["type"] == "welcome"
        assert alice.call("create_room", 1, room="lobby")["room"]["owner"] == "1"
        assert alice.call("join", 2, room="lobby")["members"] == [USERS["alice"].to_wire()]
        assert alice.next()["event"] == "join"  # her own arrival
        joined = bob.call("join", 1, room="lobby")
        assert {user["id"] for user in joined["members"]} == {"1", "2"}
        assert alice.next() == {
            "type": "presence",
            "room": "lobby",
            "event": "join",
            "user": {"id": "2", "name": "Bob", "avatar": None},
        }
        bob.ws.send_text(json.dumps({"type": "send", "room": "lobby", "text": "hi", "ref": "b"}))
        message = alice.next()
        assert (message["type"], message["text"], message["from"]["id"]) == ("message", "hi", "2")
        assert bob.reply("b") == {"type": "ok", "ref": "b", "id": message["id"]}
        assert bob.events[-1] == message  # the sender's own copy


def test_bad_frames_get_error_frames_and_the_socket_stays_open(client: TestClient) -> None:
    with client.websocket_connect("/ws", headers={"x-user": "alice"}) as ws:
        socket = Socket(ws)
        socket.next()
        ws.send_bytes(b'{"type": "ping"}')
        assert socket.next()["code"] == "bad_frame"
        ws.send_text("not json")
        assert socket.next()["code"] == "bad_frame"
        ws.send_text('{"type": "fly", "ref": 7}')
        assert socket.next() == {
            "type": "error",
            "ref": 7,
            "code": "unknown_type",
            "message": "unknown frame type 'fly'",
            "field": "type",
        }
        assert socket.call("join", 8, room="nowhere")["code"] == "no_such_room"
        assert socket.call("ping", 9) == {"type": "ok", "ref": 9}


def test_a_frame_over_the_hard_cap_closes_with_1009(client: TestClient) -> None:
    with client.websocket_connect("/ws", headers={"x-user": "alice"}) as ws:
        ws.receive_json()
        ws.send_text("x" * (Limits().hard_frame_cap + 1))
        assert ws.receive() == {"type": "websocket.close", "code": 1009, "reason": ""}


def test_a_disconnect_ends_presence(client: TestClient, server: ChatServer) -> None:
    with client.websocket_connect("/ws", headers={"x-user": "alice"}) as alice_ws:
        alice = Socket(alice_ws)
        alice.next()
        alice.call("create_room", 1, room="lobby")
        alice.call("join", 2, room="lobby")
        assert alice.next()["event"] == "join"
        with client.websocket_connect("/ws", headers={"x-user": "bob"}) as bob_ws:
            bob = Socket(bob_ws)
            bob.next()
            bob.call("join", 1, room="lobby")
            assert alice.next()["event"] == "join"
        assert alice.next() == {
            "type": "presence",
            "room": "lobby",
            "event": "leave",
            "user": {"id": "2", "name": "Bob", "avatar": None},
        }
        members = alice.call("members", 3, room="lobby")["members"]
        assert [user["id"] for user in members] == ["1"]
    assert server.hub.conns == {}


@pytest.mark.anyio
async def test_server_shutdown_closes_sockets_with_1001() -> None:
    """Driven as raw ASGI: the server stops while the socket is open."""
    server = ChatServer()
    endpoint = ChatEndpoint(server, lambda websocket: USERS["alice"])
    to_app, app_inbox = anyio.create_memory_object_stream[Message](10)
    sent: list[Message] = []
    welcomed, closed = anyio.Event(), anyio.Event()

    async def send(message: Message) -> None:
        sent.append(message)
        if message["type"] == "websocket.send":
            welcomed.set()
        if message["type"] == "websocket.close":
            closed.set()

    scope = {"type": "websocket", "path": "/ws", "headers": [], "query_string": b""}
    with anyio.fail_after(5):
        async with to_app, app_inbox, anyio.create_task_group() as tasks:
            async with server:
                await to_app.send({"type": "websocket.connect"})
                tasks.start_soon(endpoint, scope, app_inbox.receive, send)
                await welcomed.wait()
            await closed.wait()
            await to_app.send({"type": "websocket.disconnect", "code": 1001})
    assert [message["type"] for message in sent] == [
        "websocket.accept",
        "websocket.send",
        "websocket.close",
    ]
    assert sent[-1]["code"] == CloseCode.GOING_AWAY
    assert server.hub.conns == {}


def test_the_documented_wiring_runs() -> None:
    """The first example of docs/starlette.md, as written."""
    document = Path(__file__).resolve().parents[2] / "docs" / "starlette.md"
    code = re.findall(r"^```python\n(.*?)^```", document.read_text(), re.MULTILINE | re.DOTALL)[0]
    namespace: dict[str, Any] = {"__name__": "__example__"}
    exec(compile(code, "starlette.md#1", "exec"), namespace)
    with TestClient(namespace["app"]) as client:
        with pytest.raises(WebSocketDenialResponse) as refused:
            client.websocket_connect("/ws").__enter__()
        assert refused.value.status_code == 403
