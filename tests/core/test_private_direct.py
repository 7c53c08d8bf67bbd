"""Private messages and direct rooms."""

from __future__ import annotations

import pytest

from chatcore import MemoryDirectory
from chatcore.wire.errors import NoSuchUser, RecipientUnavailable
from chatcore.wire.values import direct_room_name

from .kit import Chat, lobby, running, user

pytestmark = pytest.mark.anyio


async def test_private_reaches_every_connection_of_both_users_and_nobody_else(chat: Chat) -> None:
    alice1, alice2, bob1, bob2, carol = [
        await chat.client(user_id) for user_id in ("1", "1", "2", "2", "3")
    ]
    await alice1.call("send_private", to="2", text="for bob")
    for client in (alice1, alice2, bob1, bob2):
        (private,) = client.events("private")
        assert (private["from"]["id"], private["to"]["id"], private["text"]) == (
            "1",
            "2",
            "for bob",
        )
    assert carol.events() == []


async def test_private_is_not_stored_in_any_history(chat: Chat) -> None:
    alice, bob = await lobby(chat, "1", "2")
    await alice.call("send_private", to="2", text="secret", room="lobby")
    history = await bob.call("history", room="lobby")
    assert history["messages"] == []
    assert bob.events("message") == []


async def test_private_ids_differ(chat: Chat) -> None:
    alice = await chat.client("1")
    await chat.client("2")
    ids = {(await alice.call("send_private", to="2", text=f"n{n}"))["id"] for n in range(20)}
    assert len(ids) == 20


async def test_server_send_private_from_application_code(chat: Chat) -> None:
    bob = await chat.client("2")
    event = await chat.server.send_private(user("1"), "2", "  from the app ")
    (private,) = bob.events("private")
    assert (private["id"], private["text"]) == (event.id, "from the app")
    with pytest.raises(NoSuchUser):
        await chat.server.send_private(user("1"), "404", "hi")
    chat.server.directory.remember(user("3"))
    with pytest.raises(RecipientUnavailable):
        await chat.server.send_private(user("1"), "3", "hi")


async def test_direct_room_only_the_two_users_see_join_and_read() -> None:
    async with running(directory=MemoryDirectory([user("2")])) as chat:
        alice = await chat.client("1")
        carol = await chat.client("3")
        await carol.call("rooms", watch=True)
        carol.events()
        room = (await alice.call("direct", to="2"))["room"]
        assert room["name"] == direct_room_name("2", "1")
        assert carol.events() == []
        await alice.call("join", room=room["name"])
        await alice.call("send", room=room["name"], text="waiting for you")
        assert carol.events() == []
        assert (await carol.request("join", room=room["name"]))["code"] == "no_such_room"
        bob = await chat.client("2")
        joined = await bob.call("join", room=room["name"])
        assert [m["text"] for m in joined["history"]] == ["waiting for you"]
        assert sorted(u["id"] for u in joined["members"]) == ["1", "2"]
        await bob.call("send", room=room["name"], text="here")
        assert [m["text"] for m in alice.events("message")] == ["waiting for you", "here"]
        assert carol.events() == []


async def test_direct_room_is_created_once_whoever_asks_first(chat: Chat) -> None:
    alice = await chat.client("1")
    bob = await chat.client("2")
    first = await bob.call("direct", to="1")
    second = await alice.call("direct", to="2")
    assert first["room"]["name"] == second["room"]["name"]
    assert len(alice.events("room")) == 1
    assert len(bob.events("room")) == 1


async def test_direct_room_through_the_application_api() -> None:
    async with running(directory=MemoryDirectory([user("1"), user("2")])) as chat:
        room = await chat.server.direct_room(user("1"), "2")
        assert room.is_direct
        assert room.users == ("1", "2")
        assert room.visible_to("2")
        assert not room.visible_to("3")
        assert await chat.server.direct_room(user("2"), "1") == room
        with pytest.raises(NoSuchUser):
            await chat.server.direct_room(user("1"), "404")
