"""Resume with changes, read marks, "seen" in direct rooms, and unread counts kept current."""

from __future__ import annotations

import pytest

from chatcore import Limits
from chatcore.backends.presence import MembersPage

from .kit import Chat, lobby, running

pytestmark = pytest.mark.anyio


async def test_a_resume_replays_the_changes_missed_after_the_reply_in_order(chat: Chat) -> None:
    alice, bob = await lobby(chat, "1", "2")
    for text in ("one", "two"):
        await alice.call("send", room="lobby", text=text)
    await bob.close()
    await alice.call("edit", room="lobby", id=1, text="one, edited")
    await alice.call("react", room="lobby", id=2, emoji="👍")
    await alice.call("send", room="lobby", text="three")
    await alice.call("delete_message", room="lobby", id=1)
    await alice.call("edit", room="lobby", id=3, text="three, edited")
    back = await chat.client("2")
    await back.send({"type": "join", "room": "lobby", "since": 2, "ref": "j"})
    frames = [f for f in back.events() if f["type"] in ("ok", "message_changed")]
    reply, *changes = frames
    assert reply["type"] == "ok"
    assert reply["gap"] is False
    assert [m["id"] for m in reply["history"]] == [3]
    assert reply["history"][0]["text"] == "three, edited"  # its current state
    assert [(c["change"], c["message"]["id"]) for c in changes] == [
        ("edited", 1),
        ("reactions", 2),
        ("deleted", 1),
        ("edited", 3),
    ]
    # each as it was right after that change
    assert changes[0]["message"]["text"] == "one, edited"
    assert changes[2]["message"]["deleted"] is True


async def test_a_resume_from_the_newest_id_gets_only_later_changes(chat: Chat) -> None:
    alice, bob = await lobby(chat, "1", "2")
    await alice.call("send", room="lobby", text="one")
    await bob.close()
    back = await chat.client("2")
    reply = await back.call("join", room="lobby", since=1)
    assert reply["history"] == []
    assert back.events("message_changed") == []
    await back.close()
    await alice.call("react", room="lobby", id=1, emoji="🎉")
    again = await chat.client("2")
    await again.call("join", room="lobby", since=1)
    (changed,) = again.events("message_changed")
    assert changed["message"]["reactions"] == {"🎉": {"count": 1, "users": ["1"]}}


async def test_changes_no_longer_kept_make_a_gap() -> None:
    async with running(limits=Limits(history_size=3)) as chat:
        alice, bob = await lobby(chat, "1", "2")
        await alice.call("send", room="lobby", text="one")
        await bob.close()
        for n in range(5):
            await alice.call("edit", room="lobby", id=1, text=f"v{n}")
        back = await chat.client("2")
        reply = await back.call("join", room="lobby", since=1)
        assert reply["gap"] is True
        assert [c["message"]["text"] for c in back.events("message_changed")] == ["v2", "v3", "v4"]


async def test_read_marks_follow_the_user_across_tabs(chat: Chat) -> None:
    alice, bob = await lobby(chat, "1", "2")
    bob_phone = await chat.client("2")
    for n in range(3):
        await alice.call("send", room="lobby", text=f"m{n}")
    reply = await bob.call("read", room="lobby", id=2)
    assert (reply["room"], reply["id"]) == ("lobby", 2)
    for client in (bob, bob_phone):
        assert client.events("read") == [{"type": "read", "room": "lobby", "user": "2", "id": 2}]
    assert alice.events("read") == []  # a group room's marks are the user's own business
    assert (await bob.call("read", room="lobby", id=1))["id"] == 2  # never back
    assert (await bob.call("read", room="lobby", id=50))["id"] == 3  # clamped
    rooms = (await bob_phone.call("rooms"))["rooms"]
    assert [(r["name"], r["read"], r["unread"]) for r in rooms] == [("lobby", 3, 0)]


async def test_a_first_join_marks_the_room_read_and_unread_counts_others_messages(
    chat: Chat,
) -> None:
    alice, bob = await lobby(chat, "1", "2")
    await alice.call("send", room="lobby", text="before carol")
    carol = await chat.client("3")
    assert (await carol.call("join", room="lobby"))["read"] == 1
    await carol.call("leave", room="lobby")
    await alice.call("send", room="lobby", text="a")
    await bob.call("send", room="lobby", text="b")
    await carol.call("create_room", room="quiet")  # never joined: no mark, no count
    rooms = {r["name"]: r for r in (await carol.call("rooms"))["rooms"]}
    assert (rooms["lobby"]["read"], rooms["lobby"]["unread"]) == (1, 2)
    assert "unread" not in rooms["quiet"]
    assert "read" not in rooms["quiet"]


async def test_a_direct_room_shows_how_far_the_other_user_read(chat: Chat) -> None:
    alice = await chat.client("1")
    bob = await chat.client("2")
    name = (await alice.call("direct", to="2"))["room"]["name"]
    reply = await alice.call("join", room=name)
    assert (reply["read"], reply["seen"]) == (0, 0)
    for text in ("hi", "there"):
        await alice.call("send", room=name, text=text)
    bob_rooms = {r["name"]: r for r in (await bob.call("rooms"))["rooms"]}
    assert bob_rooms[name]["unread"] == 2  # belongs from the start, without a join
    await bob.call("read", room=name, id=2)
    assert alice.events("read") == [{"type": "read", "room": name, "user": "2", "id": 2}]
    again = await alice.call("join", room=name)
    assert again["seen"] == 2
    # the same mark again tells nobody
    await bob.call("read", room=name, id=2)
    assert alice.events("read") == []
    carol = await chat.client("3")
    assert (await carol.request("read", room=name, id=1))["code"] == "no_such_room"


async def test_following_brings_messages_of_rooms_not_joined(chat: Chat) -> None:
    alice, bob = await lobby(chat, "1", "2")
    await alice.call("create_room", room="other")
    await bob.call("join", room="other")
    await bob.call("leave", room="other")
    await bob.call("leave", room="lobby")
    watcher = await chat.client("2")
    reply = await watcher.call("rooms", watch=True, unread=True)
    assert {r["name"] for r in reply["rooms"] if "unread" in r} == {"lobby", "other"}
    await alice.call("join", room="other")
    await alice.call("send", room="lobby", text="one")
    await alice.call("send", room="other", text="two")
    await alice.call("typing", room="lobby")
    await alice.call("react", room="lobby", id=1, emoji="👍")
    got = watcher.events()
    assert [(f["type"], f.get("room")) for f in got] == [("message", "lobby"), ("message", "other")]
    # a joined room's messages come once, not twice
    await watcher.call("join", room="lobby")
    watcher.events()
    await alice.call("send", room="lobby", text="three")
    assert len(watcher.events("message")) == 1
    # unread: false stops following
    await watcher.call("rooms", watch=True, unread=False)
    await alice.call("send", room="other", text="four")
    assert watcher.events("message") == []


async def test_following_a_room_joined_later_and_plain_watch_does_not_follow(chat: Chat) -> None:
    (alice,) = await lobby(chat, "1")
    plain = await chat.client("2")
    follower = await chat.client("3")
    await plain.call("rooms", watch=True)
    await follower.call("rooms", watch=True, unread=True)
    for client in (plain, follower):
        await client.call("join", room="lobby")
        await client.call("leave", room="lobby")
        client.events()
    await alice.call("send", room="lobby", text="after")
    assert plain.events("message") == []
    assert [m["text"] for m in follower.events("message")] == ["after"]


async def test_a_deleted_room_is_no_longer_followed(chat: Chat) -> None:
    alice, bob = await lobby(chat, "1", "2")
    await bob.call("leave", room="lobby")
    await bob.call("rooms", watch=True, unread=True)
    await alice.call("delete_room", room="lobby")
    await alice.call("create_room", room="lobby")
    await alice.call("join", room="lobby")
    bob.events()
    await alice.call("send", room="lobby", text="new lobby")
    assert bob.events("message") == []


async def test_a_change_made_while_a_resume_is_read_ends_the_client_on_the_newest_state() -> None:
    from chatcore import MemoryBroker

    class EditingBroker(MemoryBroker):
        """Edits message 1 while a join reads the members: between the history and the reply."""

        editor: object = None

        async def members_page(
            self, room: str, after: str | None, limit: int, query: str | None = None
        ) -> MembersPage:
            if self.editor is not None:
                edit, self.editor = self.editor, None
                await edit()  # type: ignore[operator]
            return await super().members_page(room, after, limit, query)

    broker = EditingBroker()
    async with running(broker=broker) as chat:
        alice, bob = await lobby(chat, "1", "2")
        await alice.call("send", room="lobby", text="v0")
        await bob.close()
        await alice.call("edit", room="lobby", id=1, text="v1")

        async def edit() -> None:
            await chat.server.edit_message("lobby", 1, "v2")

        broker.editor = edit
        back = await chat.client("2")
        await back.call("join", room="lobby", since=1)
        states = [c["message"]["text"] for c in back.events("message_changed")]
        assert states[-1] == "v2"
