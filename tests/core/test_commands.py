"""Every client command of protocol v1 and every server event, with their exact frames."""

from __future__ import annotations

from typing import Any

import pytest

from chatcore import MemoryDirectory
from chatcore.testing import LocalClient
from chatcore.wire.values import direct_room_name

from .kit import Chat, lobby, running, user, wire

pytestmark = pytest.mark.anyio

START = 1_764_201_600_000


def assert_empty_ok(reply: dict[str, Any]) -> None:
    """An ``ok`` reply with no result fields."""
    assert reply == {"type": "ok", "ref": reply["ref"]}


async def test_welcome_is_the_first_frame_with_user_protocol_and_limits(chat: Chat) -> None:
    alice = await LocalClient.connect(chat.server, user("1"))
    assert alice.inbox == [
        {
            "type": "welcome",
            "user": {"id": "1", "name": "Alice", "avatar": None},
            "protocol": 1,
            "limits": {
                "max_frame": 16_384,
                "max_text": 4000,
                "rate": 10,
                "burst": 30,
                "history_page": 100,
                "typing_interval": 2000,
                "presence_limit": 200,
            },
        }
    ]


async def test_ping_replies_ok_with_the_ref(chat: Chat) -> None:
    alice = await chat.client("1")
    alice.events()
    await alice.send({"type": "ping", "ref": "abc"})
    assert alice.events() == [{"type": "ok", "ref": "abc"}]
    await alice.send({"type": "ping", "ref": 7})
    assert alice.events() == [{"type": "ok", "ref": 7}]


async def test_falsy_refs_are_still_refs(chat: Chat) -> None:
    alice = await chat.client("1")
    for ref in ("", 0):
        await alice.send({"type": "ping", "ref": ref})
        assert alice.events() == [{"type": "ok", "ref": ref}]
        await alice.send({"type": "dance", "ref": ref})
        assert alice.events("error")[0]["ref"] == ref


async def test_a_frame_without_ref_gets_no_ok_reply(chat: Chat) -> None:
    alice = await chat.client("1")
    alice.events()
    await alice.send({"type": "ping"})
    await alice.send({"type": "create_room", "room": "lobby"})
    assert alice.events() == []
    assert (await alice.call("rooms"))["rooms"][0]["name"] == "lobby"


async def test_create_room_makes_the_creator_owner(chat: Chat) -> None:
    alice = await chat.client("1")
    reply = await alice.call("create_room", room="lobby", title="  The lobby ")
    assert reply["room"] == {
        "name": "lobby",
        "title": "The lobby",
        "owner": "1",
        "members": 0,
        "kind": "group",
        "private": False,
    }
    untitled = await alice.call("create_room", room="a.b_c-9")
    assert untitled["room"]["title"] == "a.b_c-9"


async def test_join_returns_room_members_history_and_announces_presence(chat: Chat) -> None:
    alice, bob = await lobby(chat, "1", "2")
    await alice.call("send", room="lobby", text="hello")
    carol = await chat.client("3")
    carol.events()
    reply = await carol.call("join", room="lobby")
    assert reply["room"] == {
        "name": "lobby",
        "title": "lobby",
        "owner": "1",
        "members": 3,
        "kind": "group",
        "private": False,
    }
    assert sorted(reply["members"], key=lambda u: u["id"]) == [wire("1"), wire("2"), wire("3")]
    assert reply["history"] == [
        {"id": 1, "room": "lobby", "ts": START, "from": wire("1"), "text": "hello"}
    ]
    assert reply["gap"] is False
    presence = {"type": "presence", "room": "lobby", "event": "join", "user": wire("3")}
    for client in (alice, bob, carol):
        assert client.events("presence") == [presence]


async def test_joining_twice_is_not_an_error_and_announces_nothing(chat: Chat) -> None:
    alice, bob = await lobby(chat, "1", "2")
    again = await bob.call("join", room="lobby")
    assert again["room"]["members"] == 2
    assert alice.events() == []
    assert bob.events() == []


async def test_leave_replies_ok_and_announces_leave_at_once(chat: Chat) -> None:
    alice, bob = await lobby(chat, "1", "2")
    assert_empty_ok(await bob.call("leave", room="lobby"))
    assert alice.events() == [
        {"type": "presence", "room": "lobby", "event": "leave", "user": wire("2")}
    ]
    assert bob.events() == []
    assert (await alice.call("members", room="lobby"))["members"] == [wire("1")]


async def test_send_replies_with_the_id_and_every_member_gets_the_message(chat: Chat) -> None:
    alice, bob = await lobby(chat, "1", "2")
    alice2 = await chat.client("1")
    await alice2.call("join", room="lobby")
    outsider = await chat.client("3")
    outsider.events()
    chat.clock.advance(123)
    reply = await alice.call("send", room="lobby", text="  hi there  ")
    assert reply["id"] == 1
    assert set(reply) == {"type", "ref", "id"}
    message = {
        "type": "message",
        "id": 1,
        "room": "lobby",
        "ts": START + 123,
        "from": wire("1"),
        "text": "hi there",
    }
    for client in (alice, alice2, bob):
        assert client.events("message") == [message]
    assert outsider.events() == []
    assert (await bob.call("send", room="lobby", text="yo"))["id"] == 2


async def test_send_private_reaches_both_users_every_connection(chat: Chat) -> None:
    alice, bob, carol = await lobby(chat, "1", "2", "3")
    bob2 = await chat.client("2")
    bob2.events()
    chat.clock.advance(5)
    reply = await alice.call("send_private", to="2", text=" psst ", room="lobby")
    private = {
        "type": "private",
        "id": reply["id"],
        "ts": START + 5,
        "from": wire("1"),
        "to": wire("2"),
        "text": "psst",
        "room": "lobby",
    }
    assert isinstance(reply["id"], int)
    assert 0 <= reply["id"] < 2**52
    for client in (alice, bob, bob2):
        assert client.events() == [private]
    assert carol.events() == []
    without_room = await bob.call("send_private", to="1", text="ok")
    assert "room" not in alice.events("private")[0]
    assert without_room["id"] != reply["id"]


async def test_typing_reaches_the_room_but_the_typist(chat: Chat) -> None:
    alice, bob = await lobby(chat, "1", "2")
    alice2 = await chat.client("1")
    await alice2.call("join", room="lobby")
    await alice.send({"type": "typing", "room": "lobby"})
    assert bob.events() == [{"type": "typing", "room": "lobby", "user": wire("1")}]
    assert alice.events() == []
    assert alice2.events("typing") == []
    assert_empty_ok(await bob.call("typing", room="lobby"))


async def test_rooms_lists_group_rooms_and_own_direct_rooms(chat: Chat) -> None:
    alice = await chat.client("1")
    bob = await chat.client("2")
    carol = await chat.client("3")
    await alice.call("create_room", room="b-room", title="B")
    await alice.call("create_room", room="a-room")
    await alice.call("direct", to="2")
    dm = direct_room_name("1", "2")
    names = [room["name"] for room in (await alice.call("rooms"))["rooms"]]
    assert names == sorted(["a-room", "b-room", dm])
    assert [room["name"] for room in (await bob.call("rooms"))["rooms"]] == names
    assert [room["name"] for room in (await carol.call("rooms"))["rooms"]] == ["a-room", "b-room"]
    listed = (await carol.call("rooms", watch=False))["rooms"]
    assert listed[0] == {
        "name": "a-room",
        "title": "a-room",
        "owner": "1",
        "members": 0,
        "kind": "group",
        "private": False,
    }


async def test_room_watchers_get_created_updated_and_deleted_events(chat: Chat) -> None:
    alice = await chat.client("1")
    watcher = await chat.client("2")
    idle = await chat.client("3")
    await watcher.call("rooms", watch=True)
    for client in (watcher, idle):
        client.events()
    await alice.call("create_room", room="lobby", title="Lobby")
    await alice.call("join", room="lobby")
    updated = await alice.call("update_room", room="lobby", title="Main hall")
    assert updated["room"] == {
        "name": "lobby",
        "title": "Main hall",
        "owner": "1",
        "members": 1,
        "kind": "group",
        "private": False,
    }
    assert_empty_ok(await alice.call("delete_room", room="lobby"))
    room = {"name": "lobby", "owner": "1", "kind": "group", "private": False}
    assert watcher.events() == [
        {"type": "room", "event": "created", "room": {**room, "title": "Lobby", "members": 0}},
        {"type": "room", "event": "updated", "room": {**room, "title": "Main hall", "members": 1}},
        {"type": "room", "event": "deleted", "room": {**room, "title": "Main hall", "members": 0}},
    ]
    assert idle.events() == []
    await watcher.call("rooms", watch=False)
    await alice.call("create_room", room="other")
    assert watcher.events() == []


async def test_room_members_get_room_events_without_watching(chat: Chat) -> None:
    alice, bob = await lobby(chat, "1", "2")
    await alice.call("update_room", room="lobby", title="New")
    assert bob.events() == [
        {
            "type": "room",
            "event": "updated",
            "room": {
                "name": "lobby",
                "title": "New",
                "owner": "1",
                "members": 2,
                "kind": "group",
                "private": False,
            },
        }
    ]


async def test_members_lists_each_present_user_once(chat: Chat) -> None:
    await lobby(chat, "1", "2")
    alice2 = await chat.client("1")
    await alice2.call("join", room="lobby")
    outsider = await chat.client("3")
    members = (await outsider.call("members", room="lobby"))["members"]
    assert sorted(members, key=lambda u: u["id"]) == [wire("1"), wire("2")]


async def test_history_pages_backwards_with_more(chat: Chat) -> None:
    (alice,) = await lobby(chat, "1")
    for n in range(1, 8):
        await alice.call("send", room="lobby", text=f"m{n}")
    newest = await alice.call("history", room="lobby", limit=3)
    assert [m["id"] for m in newest["messages"]] == [5, 6, 7]
    assert newest["more"] is True
    assert newest["messages"][0] == {
        "id": 5,
        "room": "lobby",
        "ts": START,
        "from": wire("1"),
        "text": "m5",
    }
    older = await alice.call("history", room="lobby", before=5, limit=3)
    assert [m["id"] for m in older["messages"]] == [2, 3, 4]
    assert older["more"] is True
    oldest = await alice.call("history", room="lobby", before=2, limit=3)
    assert [m["id"] for m in oldest["messages"]] == [1]
    assert oldest["more"] is False
    everything = await alice.call("history", room="lobby")
    assert [m["id"] for m in everything["messages"]] == list(range(1, 8))
    assert everything["more"] is False


async def test_direct_creates_the_room_once_and_tells_the_other_user(chat: Chat) -> None:
    alice = await chat.client("1")
    bob = await chat.client("2")
    bob.events()
    reply = await alice.call("direct", to="2")
    room = {
        "name": direct_room_name("1", "2"),
        "title": "Alice & Bob",
        "owner": None,
        "members": 0,
        "kind": "direct",
        "private": False,
        "users": ["1", "2"],
    }
    assert reply["room"] == room
    assert bob.events() == [{"type": "room", "event": "created", "room": room}]
    assert alice.events() == [{"type": "room", "event": "created", "room": room}]
    assert (await bob.call("direct", to="1"))["room"] == room
    assert alice.events() == []
    assert bob.events() == []


async def test_direct_works_with_an_offline_known_user_and_keeps_history() -> None:
    directory = MemoryDirectory([user("2")])
    async with running(directory=directory) as chat:
        alice = await chat.client("1")
        name = (await alice.call("direct", to="2"))["room"]["name"]
        await alice.call("join", room=name)
        await alice.call("send", room=name, text="are you there?")
        await alice.close()
        bob = await chat.client("2")
        listed = (await bob.call("rooms"))["rooms"]
        assert [room["name"] for room in listed] == [name]
        joined = await bob.call("join", room=name)
        assert [m["text"] for m in joined["history"]] == ["are you there?"]
        history = await bob.call("history", room=name)
        assert [m["text"] for m in history["messages"]] == ["are you there?"]


async def test_presence_update_reaches_the_users_rooms(chat: Chat) -> None:
    alice, bob = await lobby(chat, "1", "2")
    outsider = await chat.client("3")
    outsider.events()
    renamed = user("1", name="Alicia", avatar="/a.png")
    await chat.server.update_user(renamed)
    update = {"type": "presence", "room": "lobby", "event": "update", "user": renamed.to_wire()}
    assert alice.events() == [update]
    assert bob.events() == [update]
    assert outsider.events() == []
    await alice.call("send", room="lobby", text="new name")
    assert bob.events("message")[0]["from"] == renamed.to_wire()
    assert alice.user == renamed


async def test_error_frame_carries_ref_code_message_and_field(chat: Chat) -> None:
    alice = await chat.client("1")
    alice.events()
    await alice.send({"type": "send", "room": "nowhere", "text": "x", "ref": 3})
    assert alice.events() == [
        {
            "type": "error",
            "ref": 3,
            "code": "no_such_room",
            "message": "no such room",
            "field": "room",
        }
    ]
    await alice.send("not json")
    (error,) = alice.events()
    assert set(error) == {"type", "code", "message"}
    assert error["code"] == "bad_frame"
