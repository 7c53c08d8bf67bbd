"""The FastAPI example in a real uvicorn process, driven by ``chatcore.client`` and HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest
from websockets.exceptions import InvalidStatus

from chatcore.client import ChatClient
from tests.fastapi.fastapi_server import FastAPIServer
from tests.starlette.test_uvicorn import connect as connect  # the same, on this module's server
from tests.starlette.test_uvicorn import until

pytestmark = [pytest.mark.network]


@pytest.fixture(scope="module")
def server() -> Iterator[FastAPIServer]:
    server = FastAPIServer(grace_ms=300)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def http(server: FastAPIServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        yield client


def as_user(cookies: dict[str, str]) -> dict[str, str]:
    """The headers of a request with ``cookies`` (httpx deprecates cookies per request)."""
    return {"Cookie": "; ".join(f"{name}={value}" for name, value in cookies.items())}


@pytest.mark.anyio
async def test_a_socket_without_a_session_is_refused(server: FastAPIServer) -> None:
    for cookies in ({}, {"session": "forged"}):
        with pytest.raises(InvalidStatus) as refused:
            await ChatClient(server.ws_url, headers=as_user(cookies)).connect()
        assert refused.value.response.status_code == 403


@pytest.mark.anyio
async def test_a_socket_from_a_foreign_origin_is_refused(server: FastAPIServer) -> None:
    cookies = server.login("Mallory")
    foreign = ChatClient(
        server.ws_url, cookies=cookies, headers={"Origin": "https://elsewhere.example"}
    )
    with pytest.raises(InvalidStatus) as refused:
        await foreign.connect()
    assert refused.value.response.status_code == 403
    await foreign.close()
    own = {"Origin": server.url}
    async with ChatClient(server.ws_url, cookies=cookies, headers=own) as client:
        assert client.user["id"] == "mallory"


@pytest.mark.anyio
async def test_two_users_chat(connect: Callable[..., Any]) -> None:
    alice: ChatClient = await connect("Alice")
    bob: ChatClient = await connect("Bob")
    assert alice.user == {"id": "alice", "name": "Alice", "avatar": None}
    await alice.join("lobby")  # made by the app's lifespan
    await bob.join("lobby")
    joined, _ = await until(alice, "presence", lambda e: e["user"]["id"] == "bob")
    assert joined["event"] == "join"
    sent = await alice.send("lobby", "hello Bob")
    message, _ = await until(bob, "message", lambda e: e["id"] == sent)
    assert (message["text"], message["from"]["name"]) == ("hello Bob", "Alice")
    await bob.send_private("alice", "hi, just you")
    private, _ = await until(alice, "private")
    assert (private["text"], private["from"]["id"]) == ("hi, just you", "bob")


@pytest.mark.anyio
async def test_an_http_post_reaches_the_sockets(
    server: FastAPIServer, connect: Callable[..., Any], http: httpx.AsyncClient
) -> None:
    alice: ChatClient = await connect("Alice")
    bob: ChatClient = await connect("Bob")
    await alice.create_room("fa-post", "Posted into")
    await alice.join("fa-post")
    await bob.join("fa-post")
    first = await alice.send("fa-post", "over the socket")

    carol = server.login("Carol")  # not in the room: posting needs no socket
    body = {"text": "over HTTP", "reply_to": first, "meta": {"via": "http"}}
    response = await http.post("/rooms/fa-post/messages", json=body, headers=as_user(carol))
    assert response.status_code == 201, response.text
    posted = response.json()
    assert (posted["text"], posted["from"]["id"], posted["reply_to"]) == (
        "over HTTP",
        "carol",
        first,
    )
    for client in (alice, bob):
        message, _ = await until(client, "message", lambda e: e["id"] == posted["id"])
        assert message == {"type": "message", **posted}

    response = await http.get(
        "/rooms/fa-post/messages", params={"limit": 1}, headers=as_user(carol)
    )
    assert response.status_code == 200
    assert response.json() == {"messages": [posted], "more": True}
    response = await http.get("/rooms/fa-post/messages", headers=as_user(carol))
    assert [m["text"] for m in response.json()["messages"]] == ["over the socket", "over HTTP"]


@pytest.mark.anyio
async def test_bad_requests_get_a_clear_error(
    server: FastAPIServer, http: httpx.AsyncClient
) -> None:
    post = "/rooms/lobby/messages"
    response = await http.post(post, json={"text": "who am I?"})
    assert (response.status_code, response.json()) == (401, {"detail": "log in first"})

    cookies = server.login("Dora")
    # FastAPI's own checks of the body: 422 with the place of each problem.
    response = await http.post(post, json={"txt": "typo"}, headers=as_user(cookies))
    assert response.status_code == 422
    [problem] = response.json()["detail"]
    assert (problem["loc"], problem["type"]) == (["body", "text"], "missing")
    response = await http.post(
        post, json={"text": "x", "reply_to": "first"}, headers=as_user(cookies)
    )
    assert response.status_code == 422
    assert [p["loc"] for p in response.json()["detail"]] == [["body", "reply_to"]]
    response = await http.post(
        post, content=b"{not json", headers={"Content-Type": "application/json", **as_user(cookies)}
    )
    assert (response.status_code, response.json()["detail"][0]["type"]) == (422, "json_invalid")

    # chatcore's checks: the wire's code and field.
    response = await http.post(
        post, json={"text": "x", "reply_to": 10**6}, headers=as_user(cookies)
    )
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_field"
    assert response.json()["field"] == "reply_to"
    response = await http.post(post, json={"text": "a\x00b"}, headers=as_user(cookies))
    assert (response.status_code, response.json()["field"]) == (422, "text")
    response = await http.post(post, json={"text": "  "}, headers=as_user(cookies))
    assert (response.status_code, response.json()["code"]) == (422, "invalid_field")
    response = await http.post(
        "/rooms/nowhere/messages", json={"text": "x"}, headers=as_user(cookies)
    )
    assert response.status_code == 404
    refusal = response.json()
    assert (refusal["code"], refusal["field"]) == ("no_such_room", "room")
    assert refusal["detail"]
    response = await http.get(post, params={"limit": 0}, headers=as_user(cookies))
    assert response.status_code == 422


@pytest.mark.anyio
async def test_logout_closes_the_users_sockets_with_4401(
    server: FastAPIServer, connect: Callable[..., Any], http: httpx.AsyncClient
) -> None:
    erin: ChatClient = await connect("Erin")
    response = await http.post("/logout", headers=as_user(server.login("Erin")))
    assert response.status_code == 204
    assert "session=null" in response.headers["set-cookie"]  # the browser's cookie is cleared
    closed, _ = await until(erin, "close")
    assert closed["code"] == 4401


@pytest.mark.anyio
async def test_the_page_and_the_browser_client_are_served(http: httpx.AsyncClient) -> None:
    page = await http.get("/")
    assert page.status_code == 200
    assert 'from "/chatcore/chatcore.js"' in page.text
    script = await http.get("/chatcore/chatcore.js")
    assert script.status_code == 200
    assert "export class ChatClient" in script.text
    assert (await http.get("/me")).status_code == 401
