"""Identity and authority over real sockets: who a client is comes from its session only."""

from __future__ import annotations

import asyncio
import http.client
import json
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import InvalidStatus

from chatcore.client import ChatClient, ReplyError
from tests.reliability.conftest import Connect
from tests.reliability.support import raw_socket
from tests.starlette.example_server import HOST, ExampleServer
from tests.starlette.test_uvicorn import until

pytestmark = [pytest.mark.network]

#: Fields a forger adds to every frame, claiming to be Alice.
FORGED: dict[str, Any] = {
    "from": {"id": "alice", "name": "Alice", "avatar": "/evil.png"},
    "user": {"id": "alice", "name": "Alice"},
    "id": "alice",
    "user_id": "alice",
    "name": "Alice",
    "username": "alice",
    "owner": "alice",
    "sender": "alice",
}


async def ask(ws: ClientConnection, ref: str, **frame: Any) -> dict[str, Any]:
    """Send a frame carrying the forged fields; its reply."""
    await ws.send(json.dumps({**FORGED, **frame, "ref": ref}))
    async with asyncio.timeout(10):
        while True:
            reply: dict[str, Any] = json.loads(await ws.recv())
            if reply.get("ref") == ref:
                return reply


@pytest.mark.anyio
async def test_fields_in_frames_cannot_change_who_the_sender_is(
    server: ExampleServer, connect: Connect
) -> None:
    alice = await connect("Alice")
    bob = await connect("Bob")
    ws = await raw_socket(server, server.login("Mallory"))
    welcome = json.loads(await ws.recv())
    assert welcome["user"] == {"id": "mallory", "name": "Mallory", "avatar": None}
    created = await ask(ws, "c", type="create_room", room="forged", title="Forged")
    assert created["room"]["owner"] == "mallory"
    await bob.join("forged")
    assert (await ask(ws, "j", type="join", room="forged"))["type"] == "ok"
    joined, _ = await until(bob, "presence", lambda e: e["user"]["id"] != "bob")
    assert joined["user"]["id"] == "mallory"
    assert (await ask(ws, "s", type="send", room="forged", text="I am Alice"))["type"] == "ok"
    message, _ = await until(bob, "message")
    assert message["from"] == {"id": "mallory", "name": "Mallory", "avatar": None}
    await ask(ws, "t", type="typing", room="forged")
    typing, _ = await until(bob, "typing")
    assert typing["user"]["id"] == "mallory"
    assert (await ask(ws, "p", type="send_private", to="bob", text="from Alice?"))["type"] == "ok"
    private, _ = await until(bob, "private")
    assert (private["from"]["id"], private["to"]["id"]) == ("mallory", "bob")
    # Alice herself never sees anything sent in her name.
    await alice.join("forged")
    page = await alice.history("forged")
    assert [m["from"]["id"] for m in page["messages"]] == ["mallory"]
    await ws.close()


@pytest.mark.anyio
async def test_only_the_owner_renames_or_deletes_a_room(connect: Connect) -> None:
    owner = await connect("Owner")
    other = await connect("Other")
    await owner.create_room("owned", "Mine")
    await other.join("owned")
    for attempt in (other.update_room("owned", "Theirs"), other.delete_room("owned")):
        with pytest.raises(ReplyError) as refused:
            await attempt
        assert refused.value.code == "forbidden"
    rooms = {room["name"]: room for room in await other.rooms(watch=True)}
    assert (rooms["owned"]["title"], rooms["owned"]["owner"]) == ("Mine", "owner")
    assert (await owner.update_room("owned", "Renamed"))["title"] == "Renamed"
    await owner.delete_room("owned")
    deleted, _ = await until(other, "room", lambda e: e["event"] == "deleted")
    assert deleted["room"]["name"] == "owned"
    assert "owned" not in [room["name"] for room in await other.rooms()]


async def refused_status(server: ExampleServer, cookies: dict[str, str] | None, **kw: Any) -> int:
    with pytest.raises(InvalidStatus) as refused:
        await raw_socket(server, cookies, **kw)
    status: int = refused.value.response.status_code
    return status


@pytest.mark.anyio
async def test_anonymous_forged_and_foreign_sockets_are_refused(server: ExampleServer) -> None:
    cookies = server.login("Visitor")
    assert await refused_status(server, None) == 403
    forged = {name: value[:-4] + "AAAA" for name, value in cookies.items()}
    assert await refused_status(server, forged) == 403
    for origin in ("http://evil.example", f"http://{HOST}:1", "null"):
        assert await refused_status(server, cookies, origin=origin) == 403
    # The same cookie from the site's own origin is let in.
    ws = await raw_socket(server, cookies, origin=server.url)
    assert json.loads(await ws.recv())["user"]["id"] == "visitor"
    await ws.close()


@pytest.mark.anyio
async def test_logging_out_closes_the_users_open_sockets(server: ExampleServer) -> None:
    cookies = server.login("Leaving")
    tabs = [ChatClient(server.ws_url, cookies=cookies) for _ in range(2)]
    for tab in tabs:
        await tab.connect()
    header = "; ".join(f"{k}={v}" for k, v in cookies.items())
    status = await asyncio.to_thread(post, server, "/logout", header)
    assert status == 303
    for tab in tabs:
        closed, _ = await until(tab, "close")
        assert closed["code"] == 4401
        with pytest.raises(Exception, match="closed"):
            await tab.wait_ready()  # 4401 is final: the client does not reconnect
        await tab.close()


def post(server: ExampleServer, path: str, cookie: str) -> int:
    """POST ``path`` with the ``Cookie`` header; the status."""
    connection = http.client.HTTPConnection(HOST, server.port, timeout=10)
    try:
        connection.request("POST", path, headers={"Cookie": cookie})
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()
