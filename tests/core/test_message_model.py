"""The message model through the protocol: replies, meta, edits, deletions, reactions."""

from __future__ import annotations

import pytest

from chatcore import Limits, Policy, Room, User
from chatcore.testing import LocalClient

from .kit import Chat, lobby, running, wire

pytestmark = pytest.mark.anyio


async def _post(client: LocalClient, text: str, **fields: object) -> int:
    reply = await client.call("send", room="lobby", text=text, **fields)
    return int(reply["id"])


async def test_a_reply_and_meta_travel_with_the_message(chat: Chat) -> None:
    alice, bob = await lobby(chat, "1", "2")
    first = await _post(alice, "question?")
    meta = {"attachments": [{"url": "https://example.com/a.png", "name": "ä.png"}]}
    second = await _post(bob, "answer", reply_to=first, meta=meta)
    for client in (alice, bob):
        *_, message = client.events("message")
        assert (message["id"], message["reply_to"], message["meta"]) == (second, first, meta)
    history = await alice.call("history", room="lobby")
    assert history["messages"][1]["reply_to"] == first
    assert "reply_to" not in history["messages"][0]
    assert "meta" not in history["messages"][0]


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"reply_to": 7}, "reply_to"),  # no such message in this room
        ({"reply_to": "1"}, "reply_to"),
        ({"meta": [1, 2]}, "meta"),
        ({"meta": "text"}, "meta"),
        ({"meta": {"blob": "x" * 2100}}, "meta"),
    ],
)
async def test_bad_replies_and_meta_are_invalid_fields(
    chat: Chat, fields: dict[str, object], field: str
) -> None:
    (alice,) = await lobby(chat, "1")
    await _post(alice, "one")
    alice.events()
    reply = await alice.request("send", room="lobby", text="x", **fields)
    assert (reply["code"], reply["field"]) == ("invalid_field", field)
    assert alice.events("message") == []


async def test_meta_with_nan_or_nul_is_refused(chat: Chat) -> None:
    (alice,) = await lobby(chat, "1")
    for raw in ('{"n": NaN}', '{"s": "a\\u0000b"}', '{"n": Infinity}'):
        await alice.send(f'{{"type":"send","room":"lobby","text":"x","meta":{raw},"ref":"m"}}')
        (error,) = alice.events("error")
        assert (error["code"], error["field"]) == ("invalid_field", "meta")


async def test_a_reply_to_a_message_of_another_room_is_refused(chat: Chat) -> None:
    alice, _bob = await lobby(chat, "1", "2")
    await alice.call("create_room", room="other")
    await alice.call("join", room="other")
    await _post(alice, "in lobby")
    reply = await alice.request("send", room="other", text="re", reply_to=1)
    assert (reply["code"], reply["field"]) == ("invalid_field", "reply_to")


async def test_the_author_edits_and_everyone_sees_it(chat: Chat) -> None:
    alice, bob = await lobby(chat, "1", "2")
    await _post(bob, "helo", meta={"v": 1})
    chat.clock.advance(1_000)
    reply = await bob.call("edit", room="lobby", id=1, text=" hello ")
    assert reply["message"]["text"] == "hello"
    assert reply["message"]["edited"] == chat.clock.now()
    assert reply["message"]["meta"] == {"v": 1}  # kept when not given
    for client in (alice, bob):
        (changed,) = client.events("message_changed")
        assert changed["change"] == "edited"
        assert changed["message"] == reply["message"]
    again = await bob.call("edit", room="lobby", id=1, text="hello", meta={"v": 2})
    assert again["message"]["meta"] == {"v": 2}
    history = await alice.call("history", room="lobby")
    assert history["messages"][0] == again["message"]


async def test_editing_someone_elses_message_is_forbidden(chat: Chat) -> None:
    alice, bob = await lobby(chat, "1", "2")
    await _post(alice, "mine")
    reply = await bob.request("edit", room="lobby", id=1, text="hacked")
    assert reply["code"] == "forbidden"
    assert (await bob.call("history", room="lobby"))["messages"][0]["text"] == "mine"
    assert alice.events("message_changed") == []


async def test_deletion_by_author_and_by_room_owner_not_by_others(chat: Chat) -> None:
    alice, bob, carol = await lobby(chat, "1", "2", "3")  # Alice owns the lobby
    await _post(bob, "bob's")
    await _post(carol, "carol's")
    await _post(bob, "bob's again")
    assert (await carol.request("delete_message", room="lobby", id=1))["code"] == "forbidden"
    await bob.call("delete_message", room="lobby", id=1)  # the author
    await alice.call("delete_message", room="lobby", id=2)  # the owner
    changed = carol.events("message_changed")
    assert [(c["change"], c["message"]["id"]) for c in changed] == [("deleted", 1), ("deleted", 2)]
    gone = changed[0]["message"]
    assert (gone["deleted"], gone["text"], gone["from"], gone["id"]) == (True, "", wire("2"), 1)
    assert "meta" not in gone
    assert "reactions" not in gone
    messages = (await carol.call("history", room="lobby"))["messages"]
    assert [m.get("deleted", False) for m in messages] == [True, True, False]
    for command in ("edit", "delete_message"):
        reply = await bob.request(command, room="lobby", id=1, text="x")
        assert reply["code"] == "no_such_message"
    assert (await bob.request("react", room="lobby", id=1, emoji="👍"))["code"] == (
        "no_such_message"
    )


async def test_a_policy_may_let_moderators_delete(chat: Chat) -> None:
    class Moderators(Policy):
        async def can_moderate(self, user: User, room: Room) -> bool:
            return user.id == "3"

    async with running(policy=Moderators()) as other:
        alice, bob, carol = await lobby(other, "1", "2", "3")
        await _post(bob, "spam")
        assert (await alice.request("delete_message", room="lobby", id=1))["code"] == "forbidden"
        await carol.call("delete_message", room="lobby", id=1)


async def test_reactions_count_once_per_user_and_emoji(chat: Chat) -> None:
    alice, bob, carol = await lobby(chat, "1", "2", "3")
    await _post(alice, "vote")
    batch = chat.limits.reaction_batch
    await bob.call("react", room="lobby", id=1, emoji="👍")
    await chat.advance(batch)
    await carol.call("react", room="lobby", id=1, emoji="👍")
    await chat.advance(batch)
    await carol.call("react", room="lobby", id=1, emoji="👍")  # again: nothing changes
    await chat.advance(batch)
    await carol.call("react", room="lobby", id=1, emoji=":tada:")
    changed = alice.events("message_changed")
    assert len(changed) == 3
    assert {c["change"] for c in changed} == {"reactions"}
    assert changed[-1]["message"]["reactions"] == {
        "👍": {"count": 2, "users": ["2", "3"]},
        ":tada:": {"count": 1, "users": ["3"]},
    }
    await chat.advance(batch)
    await bob.call("unreact", room="lobby", id=1, emoji="👍")
    await bob.call("unreact", room="lobby", id=1, emoji="👍")  # not there: nothing changes
    await chat.advance(batch)
    await carol.call("unreact", room="lobby", id=1, emoji=":tada:")
    assert len(alice.events("message_changed")) == 2
    message = (await alice.call("history", room="lobby"))["messages"][0]
    assert message["reactions"] == {"👍": {"count": 1, "users": ["3"]}}


async def test_reactions_to_a_message_reach_the_room_in_batches(chat: Chat) -> None:
    alice, bob, carol = await lobby(chat, "1", "2", "3")
    await _post(alice, "vote")
    await _post(alice, "other")
    carol.events()
    batch = chat.limits.reaction_batch
    # The first three of a window go out one by one; the rest of the window's are held.
    for client, emoji in ((bob, "👍"), (carol, "👍"), (alice, "🎉"), (bob, "🎉"), (carol, "👀")):
        await client.call("react", room="lobby", id=1, emoji=emoji)
    await bob.call("react", room="lobby", id=2, emoji="👍")  # another message: its own window
    counts = [
        (c["message"]["id"], sum(r["count"] for r in c["message"]["reactions"].values()))
        for c in carol.events("message_changed")
    ]
    assert counts == [(1, 1), (1, 2), (1, 3), (2, 1)]
    # Each reaction is stored as it comes: history and a resume have all of them.
    stored = (await carol.call("history", room="lobby"))["messages"][0]["reactions"]
    assert stored == {
        "👍": {"count": 2, "users": ["2", "3"]},
        "🎉": {"count": 2, "users": ["1", "2"]},
        "👀": {"count": 1, "users": ["3"]},
    }
    await chat.advance(batch - 1)
    assert carol.events("message_changed") == []
    await chat.advance(1)  # the window closes: the newest state, once
    (batched,) = carol.events("message_changed")
    assert batched["message"]["reactions"] == stored
    await chat.advance(batch * 3)  # nothing held: nothing more
    assert carol.events("message_changed") == []
    # An edit goes out at once and drops what is held (its state is newer and has it).
    dave = await chat.client("4")
    await dave.call("join", room="lobby")
    for client in (alice, bob, carol, dave):
        await client.call("react", room="lobby", id=1, emoji="🙂")  # dave's is held
    await alice.call("edit", room="lobby", id=1, text="vote!")
    await chat.advance(batch * 2)
    changed = carol.events("message_changed")
    assert [c["change"] for c in changed] == ["reactions"] * 3 + ["edited"]
    assert changed[-1]["message"]["reactions"]["🙂"]["count"] == 4


async def test_reactions_one_by_one_when_batching_is_off() -> None:
    async with running(limits=Limits(reaction_batch=0)) as chat:
        alice, bob = await lobby(chat, "1", "2")
        await _post(alice, "vote")
        for emoji in ("👍", "🎉", "👀"):
            await bob.call("react", room="lobby", id=1, emoji=emoji)
        assert len(alice.events("message_changed")) == 3


async def test_a_reaction_lists_its_first_25_users(chat: Chat) -> None:
    (alice,) = await lobby(chat, "1")
    await _post(alice, "popular")
    for n in range(30):
        await chat.server.react("lobby", 1, User(id=f"u{n}", name=f"U{n}"), "❤️")
    message = (await alice.call("history", room="lobby"))["messages"][0]
    assert message["reactions"]["❤️"]["count"] == 30
    assert message["reactions"]["❤️"]["users"] == [f"u{n}" for n in range(25)]


@pytest.mark.parametrize("emoji", ["", "a b", "👍\n", "x" * 33, "\u200b", 5, None])
async def test_bad_emoji_are_invalid_fields(chat: Chat, emoji: object) -> None:
    (alice,) = await lobby(chat, "1")
    await _post(alice, "one")
    reply = await alice.request("react", room="lobby", id=1, emoji=emoji)
    assert (reply["code"], reply["field"]) == ("invalid_field", "emoji")


async def test_a_message_takes_at_most_20_different_emoji(chat: Chat) -> None:
    (alice,) = await lobby(chat, "1")
    await _post(alice, "one")
    for n in range(chat.limits.reactions_per_message):
        await chat.server.react("lobby", 1, User(id="x", name="X"), f"e{n}")
    reply = await alice.request("react", room="lobby", id=1, emoji="one-more")
    assert (reply["code"], reply["field"]) == ("quota_exceeded", "emoji")
    await alice.call("react", room="lobby", id=1, emoji="e3")  # an existing one still counts


async def test_reactions_are_rate_limited_per_connection(chat: Chat) -> None:
    (alice,) = await lobby(chat, "1")
    await _post(alice, "one")
    codes = []
    for n in range(chat.limits.reaction_burst + 2):
        reply = await alice.request("react", room="lobby", id=1, emoji=f"e{n % 2}")
        codes.append(reply["type"] if reply["type"] == "ok" else reply["code"])
    assert codes.count("rate_limited") == 2
    chat.clock.advance(1_000)
    assert (await alice.request("react", room="lobby", id=1, emoji="e0"))["type"] == "ok"


async def test_message_commands_need_membership_and_hide_others_direct_rooms(chat: Chat) -> None:
    alice, _bob = await lobby(chat, "1", "2")
    await _post(alice, "one")
    carol = await chat.client("3")
    assert (await carol.request("react", room="lobby", id=1, emoji="👍"))["code"] == "not_member"
    direct = (await alice.call("direct", to="2"))["room"]["name"]
    await alice.call("join", room=direct)
    await alice.call("send", room=direct, text="private")
    for command, fields in (
        ("edit", {"text": "x"}),
        ("delete_message", {}),
        ("react", {"emoji": "👍"}),
        ("unreact", {"emoji": "👍"}),
    ):
        for room in (direct, "dm-00000000000000000000"):
            reply = await carol.request(command, room=room, id=1, **fields)
            assert reply["code"] == "no_such_message", (command, room)
    assert (await carol.request("react", room="nowhere", id=1, emoji="+"))["code"] == (
        "no_such_room"
    )
    assert (await alice.request("edit", room="lobby", id=9, text="x"))["code"] == (
        "no_such_message"
    )
