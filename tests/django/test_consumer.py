"""The consumer through Channels' WebsocketCommunicator: handshake, frames, logout."""

from __future__ import annotations

import json
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from chatcore_django import get_server, sync
from chatcore_django.routing import websocket_application

from .factories import make_user, session_cookie

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("chat_runtime")]

ORIGIN = (b"origin", b"http://localhost")


def socket(
    cookie: str | None = None, origin: tuple[bytes, bytes] = ORIGIN
) -> WebsocketCommunicator:
    headers = [origin, (b"host", b"localhost")]
    if cookie:
        headers.append((b"cookie", cookie.encode()))
    return WebsocketCommunicator(websocket_application(), "/ws/", headers=headers)


class Peer:
    """A logged-in socket that sends requests with refs and collects other frames."""

    def __init__(self, communicator: WebsocketCommunicator) -> None:
        self.ws = communicator
        self.ref = 0
        self.inbox: list[dict[str, Any]] = []

    @classmethod
    async def open(cls, user: Any) -> Peer:
        communicator = socket(await sync_to_async(session_cookie)(user))
        connected, _ = await communicator.connect()
        assert connected
        peer = cls(communicator)
        assert (await peer.next())["type"] == "welcome"
        return peer

    async def next(self) -> dict[str, Any]:
        frame: dict[str, Any] = json.loads(await self.ws.receive_from(timeout=5))
        return frame

    async def call(self, kind: str, **fields: Any) -> dict[str, Any]:
        self.ref += 1
        await self.ws.send_to(text_data=json.dumps({"type": kind, "ref": self.ref, **fields}))
        while True:
            frame = await self.next()
            if frame.get("ref") == self.ref:
                return frame
            self.inbox.append(frame)

    async def event(self, kind: str, name: str | None = None) -> dict[str, Any]:
        """The next ``kind`` frame (about a user called ``name``, if given)."""

        def wanted(frame: dict[str, Any]) -> bool:
            return frame["type"] == kind and (name is None or frame["user"]["name"] == name)

        for index, frame in enumerate(self.inbox):
            if wanted(frame):
                return self.inbox.pop(index)
        while True:
            frame = await self.next()
            if wanted(frame):
                return frame
            self.inbox.append(frame)


async def test_anonymous_sockets_are_refused_at_the_handshake() -> None:
    communicator = socket()
    connected, code = await communicator.connect()
    assert not connected
    assert code == 1000  # a close before accept: servers answer the handshake with 403


async def test_a_foreign_origin_is_refused() -> None:
    user = await sync_to_async(make_user)()
    cookie = await sync_to_async(session_cookie)(user)
    communicator = socket(cookie, origin=(b"origin", b"http://evil.example"))
    connected, _ = await communicator.connect()
    assert not connected


async def test_frames_flow_both_ways_between_two_users() -> None:
    alice_user = await sync_to_async(make_user)("alice", "Alice")
    bob_user = await sync_to_async(make_user)("bob", "Bob")
    alice, bob = await Peer.open(alice_user), await Peer.open(bob_user)
    room = f"r{alice_user.pk}"
    created = await alice.call("create_room", room=room, title="<b>Ours</b>")
    assert created["room"]["owner"] == str(alice_user.pk)
    assert created["room"]["title"] == "<b>Ours</b>"
    await alice.call("join", room=room)
    joined = await bob.call("join", room=room)
    # ChatBoard's chat names end with the (unique) username.
    alice_name, bob_name = f"Alice @{alice_user.username}", f"Bob @{bob_user.username}"
    assert {m["name"] for m in joined["members"]} == {alice_name, bob_name}
    assert (await alice.event("presence", bob_name))["event"] == "join"

    sent = await bob.call("send", room=room, text="hello alice", client_id="x1")
    assert sent == {"type": "ok", "ref": bob.ref, "id": 1}
    message = await alice.event("message")
    assert (message["text"], message["from"]["id"]) == ("hello alice", str(bob_user.pk))

    private = await alice.call("send_private", to=str(bob_user.pk), text="psst")
    assert private["type"] == "ok"
    got = await bob.event("private")
    assert (got["from"]["name"], got["text"]) == (alice_name, "psst")
    assert (await alice.event("private"))["id"] == got["id"]

    # Bad input gets error frames; the socket stays open.
    await alice.ws.send_to(bytes_data=b"\x00\x01")
    assert (await alice.event("error"))["code"] == "bad_frame"
    assert (await alice.call("send", room=room, text="   "))["code"] == "invalid_field"
    assert (await alice.call("nonsense"))["code"] == "unknown_type"
    assert (await alice.call("ping"))["type"] == "ok"
    await alice.ws.disconnect()
    await bob.ws.disconnect()


async def test_logging_out_closes_that_users_sockets_only() -> None:
    user = await sync_to_async(make_user)()
    other = await sync_to_async(make_user)()
    first, second, bystander = await Peer.open(user), await Peer.open(user), await Peer.open(other)

    def log_out() -> int:
        client = Client()
        client.force_login(user)
        status: int = client.post("/accounts/logout/").status_code
        return status

    assert await sync_to_async(log_out)() == 302
    for peer in (first, second):
        closed = await peer.ws.receive_output(timeout=5)
        assert closed == {"type": "websocket.close", "code": 4401}
    assert (await bystander.call("ping"))["type"] == "ok"
    await bystander.ws.disconnect()


async def test_the_server_restarts_after_it_stopped() -> None:
    from chatcore_django import stop_server

    user = await sync_to_async(make_user)()
    peer = await Peer.open(user)
    first = await get_server()
    await stop_server()
    assert await peer.ws.receive_output(timeout=5) == {"type": "websocket.close", "code": 1001}
    again = await Peer.open(user)
    assert await get_server() is not first
    assert (await again.call("ping"))["type"] == "ok"
    await again.ws.disconnect()


async def test_the_sync_helper_reaches_open_sockets_from_a_view_thread() -> None:
    user = await sync_to_async(make_user)("poster", "Poster")
    peer = await Peer.open(user)
    room = f"posted-{user.pk}"
    await peer.call("create_room", room=room)
    await peer.call("join", room=room)
    message = await sync_to_async(sync.post)(room, "from a view", user)
    assert message.id == 1
    event = await peer.event("message")
    assert (event["id"], event["text"], event["from"]["name"]) == (
        1,
        "from a view",
        f"Poster @{user.username}",
    )
    await peer.ws.disconnect()


async def test_a_user_deactivated_in_this_process_is_closed_at_once() -> None:
    # The interval check (CHATCORE['REVALIDATE'], 60 s here) is not what ends these sockets.
    user = await sync_to_async(make_user)()
    first, second = await Peer.open(user), await Peer.open(user)

    def deactivate() -> None:
        user.is_active = False
        user.save()

    await sync_to_async(deactivate)()
    for peer in (first, second):
        assert await peer.ws.receive_output(timeout=5) == {"type": "websocket.close", "code": 4401}


async def test_a_session_deleted_in_this_process_closes_its_sockets_only() -> None:
    from django.contrib.sessions.models import Session

    user = await sync_to_async(make_user)()
    cookie = await sync_to_async(session_cookie)(user)
    doomed = socket(cookie)
    assert (await doomed.connect())[0]
    assert json.loads(await doomed.receive_from(timeout=5))["type"] == "welcome"
    other = await Peer.open(user)  # another session of the same user
    key = cookie.split("=", 1)[1]
    await sync_to_async(lambda: Session.objects.get(session_key=key).delete())()
    assert await doomed.receive_output(timeout=5) == {"type": "websocket.close", "code": 4401}
    assert (await other.call("ping"))["type"] == "ok"
    await other.ws.disconnect()
