"""``ChatSockets.serve`` on a FastAPI WebSocket route whose user comes from a dependency, through
Starlette's TestClient (in memory, no network)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

import pytest
from fastapi import Depends, FastAPI, Header, WebSocket
from starlette.testclient import TestClient, WebSocketDenialResponse

from chatcore import ChatServer, CloseCode, Limits, User
from chatcore_starlette import ChatSockets, chat_lifespan, chat_route

USERS = {"alice-token": User(id="1", name="Alice"), "bob-token": User(id="2", name="Bob")}


def token_user(x_token: Annotated[str, Header()] = "") -> User | None:
    return USERS.get(x_token)


def make_app(server: ChatServer) -> FastAPI:
    app = FastAPI(lifespan=chat_lifespan(server))
    sockets = ChatSockets(server)
    foreign_ok = ChatSockets(server, allowed_origins=["https://app.example"])

    @app.websocket("/ws")
    async def chat(websocket: WebSocket, user: Annotated[User | None, Depends(token_user)]) -> None:
        await sockets.serve(websocket, user)

    # The plain route, without dependencies, in a FastAPI app.
    app.router.routes.append(
        chat_route("/plain", server, lambda ws: token_user(ws.query_params.get("t", "")))
    )

    @app.websocket("/listed")
    async def listed(
        websocket: WebSocket, user: Annotated[User | None, Depends(token_user)]
    ) -> None:
        await foreign_ok.serve(websocket, user)

    return app


@pytest.fixture
def server() -> ChatServer:
    return ChatServer(limits=Limits(presence_grace=0))


@pytest.fixture
def client(server: ChatServer) -> Iterator[TestClient]:
    with TestClient(make_app(server)) as client:
        yield client


def test_a_socket_without_a_user_is_refused_with_403(client: TestClient) -> None:
    for headers in ({}, {"x-token": "mallory-token"}):
        with pytest.raises(WebSocketDenialResponse) as refused:
            client.websocket_connect("/ws", headers=headers).__enter__()
        assert refused.value.status_code == 403
        assert refused.value.text == "log in first"


def test_a_foreign_origin_is_refused_with_403(client: TestClient) -> None:
    alice = {"x-token": "alice-token"}
    with pytest.raises(WebSocketDenialResponse) as refused:
        client.websocket_connect(
            "/ws", headers={**alice, "origin": "https://evil.example"}
        ).__enter__()
    assert (refused.value.status_code, refused.value.text) == (403, "this origin may not connect")
    with client.websocket_connect("/ws", headers={**alice, "origin": "http://testserver"}) as ws:
        assert ws.receive_json()["type"] == "welcome"
    with client.websocket_connect(
        "/listed", headers={**alice, "origin": "https://app.example"}
    ) as ws:
        assert ws.receive_json()["type"] == "welcome"
    with pytest.raises(WebSocketDenialResponse):
        client.websocket_connect(
            "/listed", headers={**alice, "origin": "http://testserver"}
        ).__enter__()


def test_the_dependencys_user_chats(client: TestClient) -> None:
    with (
        client.websocket_connect("/ws", headers={"x-token": "alice-token"}) as alice,
        client.websocket_connect("/ws", headers={"x-token": "bob-token"}) as bob,
    ):
        assert alice.receive_json()["user"] == {"id": "1", "name": "Alice", "avatar": None}
        assert bob.receive_json()["user"]["id"] == "2"
        alice.send_json({"type": "create_room", "ref": 1, "room": "r"})
        assert alice.receive_json()["type"] == "ok"
        for ws in (alice, bob):
            ws.send_json({"type": "join", "ref": 2, "room": "r"})
            while (frame := ws.receive_json()).get("ref") != 2:
                pass
            assert frame["type"] == "ok"
        alice.send_json({"type": "send", "ref": 3, "room": "r", "text": "hi"})
        while (frame := bob.receive_json())["type"] != "message":
            pass
        assert (frame["text"], frame["from"]["id"]) == ("hi", "1")
        bob.send_bytes(b"binary")
        while (frame := bob.receive_json())["type"] != "error":
            pass
        assert frame["code"] == "bad_frame"


def test_the_server_closing_a_socket_closes_it_with_its_code(
    client: TestClient, server: ChatServer
) -> None:
    with client.websocket_connect("/ws", headers={"x-token": "alice-token"}) as alice:
        alice.receive_json()
        client.portal.call(server.disconnect_user, "1")  # type: ignore[union-attr]
        message = alice.receive()
        assert (message["type"], message["code"]) == ("websocket.close", CloseCode.UNAUTHORIZED)


def test_chat_route_works_in_a_fastapi_app(client: TestClient) -> None:
    with client.websocket_connect("/plain?t=bob-token") as bob:
        assert bob.receive_json()["user"]["id"] == "2"
    with pytest.raises(WebSocketDenialResponse) as refused:
        client.websocket_connect("/plain").__enter__()
    assert refused.value.status_code == 403
