"""Two uvicorn processes of the Starlette example on one Redis chat as one process would."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from chatcore.client import ChatClient, Frame, ReplyError
from tests.redis.support import ENGINES, redis_prefix
from tests.scale.pair import Pair, example_pair, until, where

pytestmark = [pytest.mark.anyio, pytest.mark.network]


@pytest.fixture(params=ENGINES)
async def pair(request: pytest.FixtureRequest) -> AsyncIterator[Pair]:
    async with redis_prefix(request.param) as (url, prefix), example_pair(url, prefix) as pair:
        yield pair


async def member_ids(client: ChatClient, room: str) -> list[str]:
    return [user["id"] for user in await client.members(room)]


def presence(events: list[Frame]) -> list[tuple[str, str]]:
    return [(e["event"], e["user"]["id"]) for e in events if e["type"] == "presence"]


async def test_rooms_private_messages_and_presence_span_both_processes(pair: Pair) -> None:
    alice = await pair.open(0, "Alice")
    bob = await pair.open(1, "Bob")
    carol_one = await pair.open(0, "Carol")  # Carol has a tab on each process
    carol_two = await pair.open(1, "Carol")
    dave = await pair.open(1, "Dave")
    everyone = (alice, bob, carol_one, carol_two, dave)

    await alice.create_room("hall", "Hall")
    await alice.join("hall")
    await bob.join("hall")
    assert (await until(alice, "presence", where(event="join", user="bob")))[0]["room"] == "hall"
    await carol_one.join("hall")
    await carol_two.join("hall")  # Carol's second tab: no second `join`
    await dave.join("hall")
    _, before = await until(alice, "presence", where(event="join", user="dave"))
    assert presence(before) == [("join", "carol")]
    _, before = await until(bob, "presence", where(event="join", user="dave"))
    assert presence(before) == [("join", "bob"), ("join", "carol")]  # its own join too

    # One entry per user, the same list whichever process answers.
    lists = [await client.members("hall") for client in everyone]
    assert all(members == lists[0] for members in lists)
    assert sorted(user["id"] for user in lists[0]) == ["alice", "bob", "carol", "dave"]
    assert {user["id"]: user["name"] for user in lists[0]}["bob"] == "Bob"

    # Room messages both ways, each once, in id order, on every tab of every process.
    first = await alice.send("hall", "from process one")
    second = await bob.send("hall", "from process two")
    assert second == first + 1
    for client in everyone:
        seen = [(await until(client, "message"))[0] for _ in range(2)]
        assert [(m["id"], m["text"]) for m in seen] == [
            (first, "from process one"),
            (second, "from process two"),
        ]

    # A private message reaches every tab of its two users and nobody else.
    sent = await carol_one.send_private("bob", "only for Bob")
    for client in (bob, carol_one, carol_two):
        private, _ = await until(client, "private")
        assert (private["id"], private["text"]) == (sent, "only for Bob")
        assert (private["from"]["id"], private["to"]["id"]) == ("carol", "bob")
    # Redis hands each process its channels in publish order: a room message published after
    # the private one comes after it, so whatever these two had by then is all they got.
    marker = await bob.send("hall", "after the private one")
    for client in (alice, dave):
        _, before = await until(client, "message", where(id=marker))
        assert [e for e in before if e["type"] == "private"] == []

    # Closing one of Carol's tabs is no `leave`; Dave's only tab closing is one, on both sides.
    await carol_two.close()
    await dave.close()
    for client in (alice, bob):
        _, before = await until(client, "presence", where(event="leave", user="dave"))
        assert presence(before) == []
        assert sorted(await member_ids(client, "hall")) == ["alice", "bob", "carol"]
    # An explicit `leave` is announced at once on the other process.
    await bob.leave("hall")
    _, before = await until(alice, "presence", where(event="leave", user="bob"))
    assert presence(before) == []
    assert await member_ids(alice, "hall") == await member_ids(carol_one, "hall")


async def test_room_rename_and_delete_reach_both_processes(pair: Pair) -> None:
    alice = await pair.open(0, "Alice")  # the owner
    watcher = await pair.open(1, "Bob")  # watches the room list, not in the room
    member = await pair.open(1, "Carol")  # in the room, not watching the list
    assert "attic" not in [room["name"] for room in await watcher.rooms(watch=True)]

    await alice.create_room("attic", "Attic")
    created, _ = await until(watcher, "room", where(event="created"))
    assert (created["room"]["name"], created["room"]["title"]) == ("attic", "Attic")
    await member.join("attic")

    await alice.update_room("attic", "Loft")
    for client in (watcher, member):
        updated, _ = await until(client, "room", where(event="updated"))
        assert (updated["room"]["name"], updated["room"]["title"]) == ("attic", "Loft")
    titles = {room["name"]: room["title"] for room in await watcher.rooms()}
    assert titles["attic"] == "Loft"

    await alice.delete_room("attic")
    for client in (watcher, member):
        deleted, _ = await until(client, "room", where(event="deleted"))
        assert deleted["room"]["name"] == "attic"
    assert "attic" not in [room["name"] for room in await member.rooms()]
    with pytest.raises(ReplyError) as refused:
        await member.request("send", room="attic", text="anyone?")
    assert refused.value.code in ("no_such_room", "not_member")
    with pytest.raises(ReplyError) as refused:
        await watcher.request("join", room="attic")
    assert refused.value.code == "no_such_room"
