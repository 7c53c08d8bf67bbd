"""The connection quota at the Starlette handshake, and an app served by TestClient twice."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator

import pytest
import websockets
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from chatcore import ChatServer, CloseCode, Limits
from tests.starlette.example_server import ExampleServer
from tests.starlette.test_adapter import Socket, make_app


def test_an_app_served_by_a_second_test_client_has_no_members_of_the_first() -> None:
    # The default grace: the first client's socket is closed but its user is still in the
    # room (for 5 s) when that TestClient stops the server.
    app = make_app(ChatServer())
    with (
        TestClient(app) as client,
        client.websocket_connect("/ws", headers={"x-user": "alice"}) as ws,
    ):
        alice = Socket(ws)
        alice.next()  # welcome
        assert alice.call("create_room", 1, room="lobby")["type"] == "ok"
        assert alice.call("join", 2, room="lobby")["type"] == "ok"
    with (
        TestClient(app) as client,
        client.websocket_connect("/ws", headers={"x-user": "bob"}) as ws,
    ):
        bob = Socket(ws)
        bob.next()
        joined = bob.call("join", 1, room="lobby")
        assert [member["name"] for member in joined["members"]] == ["Bob"]
        assert joined["room"]["members"] == 1


def test_one_socket_too_many_for_a_user_is_closed_with_4429() -> None:
    app = make_app(ChatServer(limits=Limits(connections_per_user=2)))
    with TestClient(app) as client, contextlib.ExitStack() as sockets:
        for _ in range(2):
            ws = sockets.enter_context(client.websocket_connect("/ws", headers={"x-user": "alice"}))
            assert ws.receive_json()["type"] == "welcome"
        with (
            client.websocket_connect("/ws", headers={"x-user": "alice"}) as ws,
            pytest.raises(WebSocketDisconnect) as closed,
        ):
            ws.receive_json()
        assert closed.value.code == CloseCode.QUOTA_EXCEEDED
        assert "connections_per_user" in closed.value.reason
        with client.websocket_connect("/ws", headers={"x-user": "bob"}) as ws:
            assert ws.receive_json()["type"] == "welcome"


@pytest.fixture(scope="module")
def example() -> Iterator[ExampleServer]:
    server = ExampleServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.network
@pytest.mark.anyio
async def test_uvicorn_closes_a_users_socket_past_connections_per_user(
    example: ExampleServer,
) -> None:
    cookie = "; ".join(f"{k}={v}" for k, v in example.login("mallory").items())
    allowed = Limits().connections_per_user  # the example runs with the defaults
    async with contextlib.AsyncExitStack() as sockets:
        for _ in range(allowed):
            ws = await sockets.enter_async_context(
                websockets.connect(example.ws_url, additional_headers={"Cookie": cookie})
            )
            assert json.loads(await ws.recv())["type"] == "welcome"
        async with websockets.connect(
            example.ws_url, additional_headers={"Cookie": cookie}
        ) as refused:
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await refused.recv()
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 4429
        assert "connections_per_user" in closed.value.rcvd.reason
        other = "; ".join(f"{k}={v}" for k, v in example.login("someone-else").items())
        async with websockets.connect(example.ws_url, additional_headers={"Cookie": other}) as ws:
            assert json.loads(await ws.recv())["type"] == "welcome"
