"""Rooms: the application API, auto-created rooms, the live list, deletion, typing notices."""

from __future__ import annotations

import anyio
import pytest

from chatcore.wire.errors import InvalidField, NoSuchRoom, RoomExists

from .kit import Chat, lobby, running, user, wire

pytestmark = pytest.mark.anyio


async def test_auto_create_makes_the_room_on_join_and_deletes_it_after_the_last_leave() -> None:
    async with running(auto_create=True) as chat:
        watcher = await chat.client("3")
        await watcher.call("rooms", watch=True)
        alice = await chat.client("1")
        bob = await chat.client("2")
        joined = await alice.call("join", room="pop-up")
        assert joined["room"] == {
            "name": "pop-up",
            "title": "pop-up",
            "owner": None,
            "members": 1,
            "kind": "group",
            "private": False,
        }
        await bob.call("join", room="pop-up")
        created = watcher.events("room")
        assert [(f["event"], f["room"]["name"]) for f in created] == [("created", "pop-up")]
        await alice.call("leave", room="pop-up")
        assert watcher.events("room") == []
        await bob.close()
        await chat.advance(chat.limits.presence_grace)
        assert watcher.events("room") == [
            {
                "type": "room",
                "event": "deleted",
                "room": {
                    "name": "pop-up",
                    "title": "pop-up",
                    "owner": None,
                    "members": 0,
                    "kind": "group",
                    "private": False,
                },
            }
        ]
        assert (await watcher.call("rooms"))["rooms"] == []


async def test_auto_create_keeps_explicit_rooms_when_empty() -> None:
    async with running(auto_create=True) as chat:
        (alice,) = await lobby(chat, "1")
        await alice.call("leave", room="lobby")
        assert [r["name"] for r in (await alice.call("rooms"))["rooms"]] == ["lobby"]


async def test_auto_created_room_survives_a_reload_within_the_grace() -> None:
    async with running(auto_create=True) as chat:
        alice = await chat.client("1")
        await alice.call("join", room="pop-up")
        await alice.call("send", room="pop-up", text="kept")
        await alice.close()
        await chat.advance(chat.limits.presence_grace - 1)
        again = await chat.client("1")
        joined = await again.call("join", room="pop-up")
        assert [m["text"] for m in joined["history"]] == ["kept"]
        await chat.advance(chat.limits.presence_grace)
        assert [r["name"] for r in (await again.call("rooms"))["rooms"]] == ["pop-up"]


async def test_without_auto_create_joining_a_missing_room_fails(chat: Chat) -> None:
    alice = await chat.client("1")
    assert (await alice.request("join", room="pop-up"))["code"] == "no_such_room"


async def test_delete_removes_members_who_get_room_deleted_and_no_leave(chat: Chat) -> None:
    alice, bob = await lobby(chat, "1", "2")
    bob2 = await chat.client("2")
    await bob2.call("join", room="lobby")
    bob2.events()
    await alice.call("delete_room", room="lobby")
    deleted = {
        "type": "room",
        "event": "deleted",
        "room": {
            "name": "lobby",
            "title": "lobby",
            "owner": "1",
            "members": 0,
            "kind": "group",
            "private": False,
        },
    }
    for client in (alice, bob, bob2):
        assert client.events() == [deleted]
    reply = await bob.request("send", room="lobby", text="hello?")
    assert reply["code"] == "no_such_room"
    # A new room of the same name has none of the old members.
    await alice.call("create_room", room="lobby")
    reply = await bob.request("send", room="lobby", text="hello?")
    assert reply["code"] == "not_member"
    assert (await bob.call("members", room="lobby"))["members"] == []
    await chat.advance(chat.limits.presence_grace * 2)
    assert bob.events("presence") == []


async def test_delete_room_cancels_pending_leave_timers(chat: Chat) -> None:
    alice, bob = await lobby(chat, "1", "2")
    await bob.close()
    await alice.call("delete_room", room="lobby")
    await alice.call("create_room", room="lobby")
    await alice.call("join", room="lobby")
    alice.events()
    await chat.advance(chat.limits.presence_grace)
    assert alice.events() == []
    assert [u["id"] for u in (await alice.call("members", room="lobby"))["members"]] == ["1"]


async def test_application_api_creates_updates_deletes_and_posts(chat: Chat) -> None:
    watcher = await chat.client("2")
    await watcher.call("rooms", watch=True)
    room = await chat.server.create_room("news", "News", owner=None)
    assert (room.name, room.title, room.owner) == ("news", "News", None)
    with pytest.raises(RoomExists):
        await chat.server.create_room("news")
    with pytest.raises(InvalidField):
        await chat.server.create_room("dm-mine")
    with pytest.raises(InvalidField):
        await chat.server.create_room("Not A Slug")
    await watcher.call("join", room="news")
    appended = await chat.server.post("news", "  extra!  ", sender=user("1"))
    assert (appended.message.id, appended.message.text, appended.created) == (1, "extra!", True)
    renamed = await chat.server.update_room("news", "Daily news")
    assert renamed.title == "Daily news"
    await chat.server.delete_room("news")
    with pytest.raises(NoSuchRoom):
        await chat.server.delete_room("news")
    with pytest.raises(NoSuchRoom):
        await chat.server.post("news", "late", sender=user("1"))
    frames = [(f["type"], f.get("event"), f.get("text")) for f in watcher.events()]
    assert frames == [
        ("room", "created", None),
        ("presence", "join", None),
        ("message", None, "extra!"),
        ("room", "updated", None),
        ("room", "deleted", None),
    ]


async def test_rooms_reply_counts_members(chat: Chat) -> None:
    alice, _bob = await lobby(chat, "1", "2")
    await alice.call("create_room", room="empty")
    counts = {r["name"]: r["members"] for r in (await alice.call("rooms"))["rooms"]}
    assert counts == {"empty": 0, "lobby": 2}


async def test_typing_is_throttled_per_user_and_room(chat: Chat) -> None:
    alice, bob, carol = await lobby(chat, "1", "2", "3")
    await alice.call("create_room", room="other")
    await alice.call("join", room="other")
    await bob.call("join", room="other")
    bob.events()
    interval = chat.limits.typing_interval
    await alice.send({"type": "typing", "room": "lobby"})
    await alice.send({"type": "typing", "room": "lobby"})
    await alice.send({"type": "typing", "room": "other"})
    await carol.send({"type": "typing", "room": "lobby"})
    assert [(f["room"], f["user"]["id"]) for f in bob.events("typing")] == [
        ("lobby", "1"),
        ("other", "1"),
        ("lobby", "3"),
    ]
    await chat.advance(interval - 1)
    await alice.send({"type": "typing", "room": "lobby"})
    assert bob.events("typing") == []
    await chat.advance(1)
    await alice.send({"type": "typing", "room": "lobby"})
    assert bob.events("typing") == [{"type": "typing", "room": "lobby", "user": wire("1")}]


async def test_typing_is_never_stored(chat: Chat) -> None:
    alice, bob = await lobby(chat, "1", "2")
    await alice.send({"type": "typing", "room": "lobby"})
    assert (await bob.call("history", room="lobby"))["messages"] == []
    joined = await (await chat.client("3")).call("join", room="lobby", since=0)
    assert joined["history"] == []


async def test_a_room_deleted_and_created_again_delivers_to_its_new_members(chat: Chat) -> None:
    alice, bob = await lobby(chat, "1", "2")
    await alice.call("delete_room", room="lobby")
    await alice.call("create_room", room="lobby")
    await alice.call("join", room="lobby")
    await bob.call("join", room="lobby")
    await anyio.wait_all_tasks_blocked()  # let the old room's clean-up run
    await alice.call("send", room="lobby", text="fresh start")
    assert [m["text"] for m in alice.events("message")] == ["fresh start"]
    assert [m["text"] for m in bob.events("message")] == ["fresh start"]
