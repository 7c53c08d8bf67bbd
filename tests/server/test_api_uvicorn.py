"""The HTTP API over a real socket, on each server of conftest.py: mounted in a Starlette route
on uvicorn, and served by ``chatcore serve`` (the native adapter); chat clients on the same
server's WebSocket see what the API does."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from chatcore.client import Backoff, ChatClient, ClientClosed, Frame
from tests.server.conftest import API_KEY, ApiServer, ServeApi
from tests.starlette.test_uvicorn import until

pytestmark = [pytest.mark.network, pytest.mark.anyio]


@pytest.fixture
async def http(app_server: ApiServer | ServeApi) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"authorization": f"Bearer {API_KEY}"}
    async with httpx.AsyncClient(base_url=app_server.url, headers=headers, timeout=10) as client:
        yield client


async def client_for(server: ApiServer | ServeApi, user: str) -> ChatClient:
    client = ChatClient(server.user_url(user), backoff=Backoff(initial=0.05))
    await client.connect()
    return client


async def next_of(client: ChatClient, kind: str) -> Frame:
    event, _ = await until(client, kind)
    return event


async def test_every_endpoint_over_http(
    app_server: ApiServer | ServeApi, http: httpx.AsyncClient
) -> None:
    created = await http.post("/api/rooms", json={"room": "over-http", "title": "HTTP"})
    assert created.status_code == 201
    assert created.headers["content-type"] == "application/json"
    alice = await client_for(app_server, "alice")
    bob = await client_for(app_server, "bob")
    try:
        await alice.join("over-http")
        published = await http.post(
            "/api/publish", json={"room": "over-http", "text": "from the backend", "meta": {"n": 1}}
        )
        assert published.status_code == 200
        event = await next_of(alice, "message")
        assert {k: v for k, v in event.items() if k != "type"} == published.json()["message"]

        members = await http.get("/api/rooms/over-http/members")
        assert [m["id"] for m in members.json()["members"]] == ["alice"]
        history = await http.get("/api/rooms/over-http/history", params={"limit": 10})
        assert [m["text"] for m in history.json()["messages"]] == ["from the backend"]

        private = await http.post(
            "/api/private", json={"to": "bob", "text": "psst", "from": "alice"}
        )
        assert private.status_code == 200, private.text
        assert (await next_of(bob, "private"))["text"] == "psst"

        room = await http.get("/api/rooms/over-http")
        assert (room.status_code, room.json()["room"]["title"]) == (200, "HTTP")
        renamed = await http.patch("/api/rooms/over-http", json={"title": "Renamed"})
        assert renamed.json()["room"]["title"] == "Renamed"
        updated = await next_of(alice, "room")
        assert (updated["event"], updated["room"]["title"]) == ("updated", "Renamed")

        kicked = await http.post("/api/disconnect", json={"user": "bob"})
        assert kicked.status_code == 200
        with pytest.raises(ClientClosed) as closed:
            await next_of(bob, "none: the socket closes")
        assert closed.value.code == bob.close_code == 4401
        deleted = await http.delete("/api/rooms/over-http")
        assert (deleted.status_code, deleted.content) == (204, b"")
        gone = await next_of(alice, "room")
        assert (gone["event"], gone["room"]["name"]) == ("deleted", "over-http")
    finally:
        await alice.close()
        await bob.close()


async def test_refusals_over_http(
    app_server: ApiServer | ServeApi, http: httpx.AsyncClient
) -> None:
    async with httpx.AsyncClient(base_url=app_server.url, timeout=10) as anonymous:
        refused = await anonymous.post("/api/publish", json={"room": "a", "text": "b"})
    assert (refused.status_code, refused.json()["code"]) == (401, "unauthorized")
    wrong_key = {"authorization": "Bearer not-the-key"}
    wrong = await http.get("/api/rooms/twice", headers=wrong_key)
    assert (wrong.status_code, wrong.json()["code"]) == (401, "unauthorized")
    assert wrong.headers["www-authenticate"] == 'Bearer realm="chatcore"'
    bad: Any = await http.post("/api/publish", content=b"{not json")
    assert (bad.status_code, bad.json()["code"]) == (400, "bad_frame")
    missing = await http.post("/api/publish", json={"room": "nowhere", "text": "b"})
    assert (missing.status_code, missing.json()) == (
        404,
        {"code": "no_such_room", "message": "no such room", "field": "room"},
    )
    exists = await http.post("/api/rooms", json={"room": "twice"})
    assert exists.status_code == 201
    again = await http.post("/api/rooms", json={"room": "twice"})
    assert (again.status_code, json.loads(again.content)["code"]) == (409, "room_exists")
    wrong_method = await http.put("/api/publish")
    assert (wrong_method.status_code, wrong_method.headers["allow"]) == (405, "POST")
