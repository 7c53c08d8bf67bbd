"""The HTTP API driven in-process against a real ChatServer (memory backends): every endpoint and
every error. tests/server/test_api_uvicorn.py serves it over a real socket."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest

from chatcore import ChatServer, FakeClock, Limits, User
from chatcore.testing import LocalClient
from chatcore_server.api import SERVER_USER, Api, HttpRequest, HttpResponse

pytestmark = pytest.mark.anyio

KEY = "test-api-key"
ALICE = User(id="1", name="Alice")
BOB = User(id="2", name="Bob")


@pytest.fixture
async def server() -> AsyncIterator[ChatServer]:
    async with ChatServer(clock=FakeClock(), limits=Limits(history_page=5)) as server:
        yield server


@pytest.fixture
def api(server: ChatServer) -> Api:
    return Api(server, api_key=KEY)


async def call(
    api: Api,
    method: str,
    path: str,
    body: Any = None,
    *,
    query: str = "",
    key: str | None = KEY,
    raw: bytes | None = None,
) -> HttpResponse:
    headers = {"content-type": "application/json"}
    if key is not None:
        headers["authorization"] = f"Bearer {key}"
    data = raw if raw is not None else b"" if body is None else json.dumps(body).encode()
    request = HttpRequest(method=method, path=path, query=query, headers=headers, body=data)
    return await api(request)


def error(response: HttpResponse) -> tuple[int, str, str | None]:
    body = response.json()
    assert ("content-type", "application/json") in response.headers
    return response.status, body["code"], body.get("field")


async def test_publish_reaches_the_room_in_wire_form(server: ChatServer, api: Api) -> None:
    await server.create_room("lobby")
    alice = await LocalClient.connect(server, ALICE)
    await alice.call("join", room="lobby")
    response = await call(
        api, "POST", "/api/publish", {"room": "lobby", "text": " hello ", "meta": {"k": 1}}
    )
    assert response.status == 200
    assert ("content-type", "application/json") in response.headers
    body = response.json()
    assert body["created"] is True
    sent = body["message"]
    assert (sent["id"], sent["text"], sent["meta"]) == (1, "hello", {"k": 1})
    assert sent["from"] == SERVER_USER.to_wire()
    await anyio.wait_all_tasks_blocked()
    [event] = alice.events("message")
    del event["type"]
    assert event == sent  # the same JSON the protocol sends


async def test_publish_from_a_user_object_a_known_id_with_client_id_and_reply(
    server: ChatServer, api: Api
) -> None:
    await server.create_room("lobby")
    await LocalClient.connect(server, BOB)  # the directory knows Bob now
    sender = {"id": "9", "name": "Nine", "avatar": "/9.png"}
    first = await call(
        api,
        "POST",
        "/api/publish",
        {"room": "lobby", "text": "a", "from": sender, "client_id": "c1"},
    )
    assert first.json()["message"]["from"] == sender
    again = await call(
        api,
        "POST",
        "/api/publish",
        {"room": "lobby", "text": "a", "from": sender, "client_id": "c1"},
    )
    assert again.json() == {**first.json(), "created": False}
    reply = await call(
        api, "POST", "/api/publish", {"room": "lobby", "text": "b", "from": "2", "reply_to": 1}
    )
    assert reply.json()["message"]["from"] == BOB.to_wire()
    assert reply.json()["message"]["reply_to"] == 1


async def test_publish_errors(server: ChatServer, api: Api) -> None:
    await server.create_room("lobby")
    cases: list[tuple[Any, tuple[int, str, str | None]]] = [
        ({"room": "nowhere", "text": "hi"}, (404, "no_such_room", "room")),
        ({"room": "lobby"}, (400, "invalid_field", "text")),
        ({"room": "lobby", "text": "   "}, (400, "invalid_field", "text")),
        ({"room": "lobby", "text": "x" * 5000}, (400, "invalid_field", "text")),
        ({"room": "Bad Name!", "text": "hi"}, (400, "invalid_field", "room")),
        ({"room": "lobby", "text": "hi", "meta": [1]}, (400, "invalid_field", "meta")),
        ({"room": "lobby", "text": "hi", "reply_to": 99}, (400, "invalid_field", "reply_to")),
        ({"room": "lobby", "text": "hi", "from": "nobody"}, (404, "no_such_user", "from")),
        ({"room": "lobby", "text": "hi", "from": {"name": "x"}}, (400, "invalid_field", "from")),
        ({"room": "lobby", "text": "hi", "from": 3}, (400, "invalid_field", "from")),
        ([1, 2], (400, "bad_frame", None)),
    ]
    for body, expected in cases:
        assert error(await call(api, "POST", "/api/publish", body)) == expected, body
    deep = b'{"room": "lobby", "text": "hi", "meta": {"x": ' + b"[" * 5000 + b"]" * 5000 + b"}}"
    assert error(await call(api, "POST", "/api/publish", raw=deep))[:2] == (400, "bad_frame")
    nan = b'{"room": "lobby", "text": "hi", "meta": {"x": NaN}}'
    assert error(await call(api, "POST", "/api/publish", raw=nan))[:2] == (400, "invalid_field")


async def test_bad_json_is_400_bad_frame(api: Api) -> None:
    for raw in (b"", b"{", b"\xff\xfe", b"[" * 60_000, b'"text"'):
        assert error(await call(api, "POST", "/api/publish", raw=raw)) == (400, "bad_frame", None)


async def test_the_api_key_is_required(server: ChatServer, api: Api) -> None:
    for key in (None, "wrong", "", KEY + "x"):
        response = await call(api, "POST", "/api/publish", {"room": "a", "text": "b"}, key=key)
        assert error(response) == (401, "unauthorized", None), key
        assert ("www-authenticate", 'Bearer realm="chatcore"') in response.headers
    lower = HttpRequest(
        method="GET",
        path="/api/rooms/lobby/members",
        headers={"authorization": f"bearer {KEY}"},
    )
    assert (await api(lower)).status == 404  # the scheme is case-insensitive: past the key
    basic = HttpRequest(
        method="GET", path="/api/rooms/x/members", headers={"authorization": f"Basic {KEY}"}
    )
    assert error(await api(basic))[1] == "unauthorized"
    closed = Api(server, api_key=None)  # no key configured: the API is off
    assert error(await call(closed, "POST", "/api/disconnect", {"user": "1"}))[0] == 401


async def test_unknown_paths_and_methods(api: Api) -> None:
    assert error(await call(api, "GET", "/api/nothing")) == (404, "not_found", None)
    assert error(await call(api, "GET", "/elsewhere")) == (404, "not_found", None)
    assert error(await call(api, "GET", "/api/rooms/a/b/c")) == (404, "not_found", None)
    response = await call(api, "GET", "/api/publish")
    assert error(response) == (405, "method_not_allowed", None)
    assert ("allow", "POST") in response.headers
    response = await call(api, "POST", "/api/rooms/lobby")
    assert ("allow", "DELETE, GET, PATCH") in response.headers
    # The method is checked before the key, the key before the body.
    assert error(await call(api, "POST", "/api/publish", raw=b"{", key=None))[0] == 401


async def test_a_body_over_the_hard_cap_is_413(server: ChatServer, api: Api) -> None:
    big = b" " * (server.limits.hard_frame_cap + 1)
    assert error(await call(api, "POST", "/api/publish", raw=big)) == (413, "too_large", None)


async def test_private_reaches_both_users(server: ChatServer, api: Api) -> None:
    alice = await LocalClient.connect(server, ALICE)
    bob = await LocalClient.connect(server, BOB)
    response = await call(api, "POST", "/api/private", {"to": "2", "text": "psst", "from": "1"})
    assert response.status == 200
    private = response.json()["private"]
    assert (private["from"], private["to"], private["text"]) == (
        ALICE.to_wire(),
        BOB.to_wire(),
        "psst",
    )
    await anyio.wait_all_tasks_blocked()
    for client in (alice, bob):
        [event] = client.events("private")
        assert event == {"type": "private", **private}
    from_server = await call(api, "POST", "/api/private", {"to": "2", "text": "hi"})
    assert from_server.json()["private"]["from"] == SERVER_USER.to_wire()


async def test_private_errors(server: ChatServer, api: Api) -> None:
    await LocalClient.connect(server, ALICE)
    carol = await LocalClient.connect(server, User(id="3", name="Carol"))
    await carol.close()
    await anyio.wait_all_tasks_blocked()
    cases: list[tuple[Any, tuple[int, str, str | None]]] = [
        ({"to": "nobody", "text": "hi"}, (404, "no_such_user", "to")),
        ({"to": "1", "text": "hi", "from": "1"}, (400, "invalid_field", "to")),
        ({"to": "1"}, (400, "invalid_field", "text")),
        ({"text": "hi"}, (400, "invalid_field", "to")),
        ({"to": 1, "text": "hi"}, (400, "invalid_field", "to")),
    ]
    for body, expected in cases:
        assert error(await call(api, "POST", "/api/private", body)) == expected, body
    # Carol is known but has no open connection (after her grace period).
    offline = await call(api, "POST", "/api/private", {"to": "3", "text": "hi"})
    assert error(offline) == (409, "recipient_unavailable", "to")


async def test_rooms_create_read_rename_delete(server: ChatServer, api: Api) -> None:
    watcher = await LocalClient.connect(server, BOB)
    await watcher.call("rooms", watch=True)
    created = await call(api, "POST", "/api/rooms", {"room": "kitchen", "title": "Kitchen"})
    assert created.status == 201
    assert created.json()["room"] == {
        "name": "kitchen",
        "title": "Kitchen",
        "owner": None,
        "members": 0,
        "kind": "group",
        "private": False,
    }
    owned = await call(
        api, "POST", "/api/rooms", {"room": "den", "owner": {"id": "1", "name": "A"}}
    )
    assert owned.json()["room"]["owner"] == "1"
    assert (await call(api, "GET", "/api/rooms/kitchen")).json()["room"]["title"] == "Kitchen"
    renamed = await call(api, "PATCH", "/api/rooms/kitchen", {"title": "Big kitchen"})
    assert (renamed.status, renamed.json()["room"]["title"]) == (200, "Big kitchen")
    deleted = await call(api, "DELETE", "/api/rooms/kitchen")
    assert (deleted.status, deleted.body) == (204, b"")
    await anyio.wait_all_tasks_blocked()
    events = [(e["event"], e["room"]["name"]) for e in watcher.events("room")]
    assert events == [
        ("created", "kitchen"),
        ("created", "den"),
        ("updated", "kitchen"),
        ("deleted", "kitchen"),
    ]
    assert error(await call(api, "GET", "/api/rooms/kitchen")) == (404, "no_such_room", "room")


async def test_room_errors(server: ChatServer, api: Api) -> None:
    await server.create_room("lobby")
    assert error(await call(api, "POST", "/api/rooms", {"room": "lobby"})) == (
        409,
        "room_exists",
        "room",
    )
    assert error(await call(api, "POST", "/api/rooms", {"title": "x"}))[1:] == (
        "invalid_field",
        "room",
    )
    assert error(await call(api, "POST", "/api/rooms", {"room": "x", "title": ""}))[1:] == (
        "invalid_field",
        "title",
    )
    assert error(await call(api, "POST", "/api/rooms", {"room": "x", "owner": []}))[1:] == (
        "invalid_field",
        "owner",
    )
    assert error(await call(api, "PATCH", "/api/rooms/nowhere", {"title": "x"}))[:2] == (
        404,
        "no_such_room",
    )
    assert error(await call(api, "PATCH", "/api/rooms/lobby", {}))[1:] == (
        "invalid_field",
        "title",
    )
    assert error(await call(api, "PATCH", "/api/rooms/lobby", raw=b"nope"))[1] == "bad_frame"
    assert error(await call(api, "DELETE", "/api/rooms/nowhere"))[:2] == (404, "no_such_room")
    assert error(await call(api, "DELETE", "/api/rooms/BAD"))[1:] == ("invalid_field", "room")


async def test_members(server: ChatServer, api: Api) -> None:
    await server.create_room("lobby")
    assert (await call(api, "GET", "/api/rooms/lobby/members")).json() == {"members": []}
    alice = await LocalClient.connect(server, ALICE)
    await alice.call("join", room="lobby")
    response = await call(api, "GET", "/api/rooms/lobby/members")
    assert response.json() == {"members": [ALICE.to_wire()]}
    encoded = await call(api, "GET", "/api/rooms/lob%62y/members")  # a percent-encoded path
    assert encoded.json() == {"members": [ALICE.to_wire()]}
    assert error(await call(api, "GET", "/api/rooms/nowhere/members"))[:2] == (
        404,
        "no_such_room",
    )


async def test_history_pages(server: ChatServer, api: Api) -> None:
    await server.create_room("lobby")
    for n in range(1, 8):
        await server.post("lobby", f"m{n}", sender=ALICE)
    newest = (await call(api, "GET", "/api/rooms/lobby/history")).json()
    assert ([m["text"] for m in newest["messages"]], newest["more"]) == (
        ["m3", "m4", "m5", "m6", "m7"],
        True,
    )
    older = await call(api, "GET", "/api/rooms/lobby/history", query="before=3&limit=5")
    assert ([m["id"] for m in older.json()["messages"]], older.json()["more"]) == ([1, 2], False)
    two = await call(api, "GET", "/api/rooms/lobby/history", query="limit=2&other=x")
    assert [m["id"] for m in two.json()["messages"]] == [6, 7]
    assert two.json()["messages"][0] == (await server.get_message("lobby", 6)).to_wire()


async def test_history_errors(server: ChatServer, api: Api) -> None:
    await server.create_room("lobby")
    assert error(await call(api, "GET", "/api/rooms/nowhere/history"))[:2] == (
        404,
        "no_such_room",
    )
    for query, field in (("limit=0", "limit"), ("limit=6", "limit"), ("limit=x", "limit")):
        response = await call(api, "GET", "/api/rooms/lobby/history", query=query)
        assert error(response) == (400, "invalid_field", field), query
    response = await call(api, "GET", "/api/rooms/lobby/history", query="before=-1")
    assert error(response) == (400, "invalid_field", "before")


async def test_disconnect_closes_every_connection_of_the_user(server: ChatServer, api: Api) -> None:
    first = await LocalClient.connect(server, ALICE)
    second = await LocalClient.connect(server, ALICE)
    bob = await LocalClient.connect(server, BOB)
    response = await call(api, "POST", "/api/disconnect", {"user": "1"})
    assert (response.status, response.json()) == (200, {})
    await anyio.wait_all_tasks_blocked()
    assert (first.close_code, second.close_code, bob.close_code) == (4401, 4401, None)
    for body in ({}, {"user": ""}, {"user": 1}):
        assert error(await call(api, "POST", "/api/disconnect", body)) == (
            400,
            "invalid_field",
            "user",
        )


async def test_a_backend_outage_is_503(server: ChatServer, api: Api) -> None:
    from chatcore.wire.errors import Unavailable

    async def down(*_: Any, **__: Any) -> Any:
        raise Unavailable()

    server.broker.members = down  # type: ignore[method-assign]
    await server.create_room("lobby")
    assert error(await call(api, "GET", "/api/rooms/lobby/members")) == (503, "unavailable", None)


async def test_an_unexpected_failure_is_500_internal(
    server: ChatServer, api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(*_: Any, **__: Any) -> Any:
        raise RuntimeError("a bug")

    server.store.history = broken  # type: ignore[method-assign]
    await server.create_room("lobby")
    response = await call(api, "GET", "/api/rooms/lobby/history")
    assert error(response) == (500, "internal", None)
    assert "HTTP API GET /api/rooms/lobby/history failed" in caplog.text


async def test_rate_and_quota_codes_map_to_429() -> None:
    from chatcore_server.api import STATUS

    assert STATUS["rate_limited"] == STATUS["quota_exceeded"] == 429
    assert STATUS["too_large"] == 413
