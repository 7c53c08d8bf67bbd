"""Two uvicorn processes of the Starlette example on one Redis: edits, reactions, deletions and
read marks made on one process reach the other's clients, in order with the messages, and a
client that comes back gets the changes it missed after its ``join`` reply."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import anyio
import pytest
from websockets.asyncio.client import connect

from chatcore.client import Frame
from tests.redis.support import ENGINES, redis_prefix
from tests.scale.pair import Pair, example_pair, until, where

pytestmark = [pytest.mark.anyio, pytest.mark.network]


@pytest.fixture(params=ENGINES)
async def pair(request: pytest.FixtureRequest) -> AsyncIterator[Pair]:
    async with redis_prefix(request.param) as (url, prefix), example_pair(url, prefix) as pair:
        yield pair


def shown(events: list[Frame]) -> list[tuple[str, int, str]]:
    """The ``message`` and ``message_changed`` events as (kind, id, text), in order."""
    out = []
    for event in events:
        if event["type"] == "message":
            out.append(("message", event["id"], event["text"]))
        elif event["type"] == "message_changed":
            body = event["message"]
            out.append((event["change"], body["id"], body["text"]))
    return out


async def test_changes_and_read_marks_span_both_processes(pair: Pair) -> None:
    alice = await pair.open(0, "Alice")
    bob = await pair.open(1, "Bob")
    bob_too = await pair.open(0, "Bob")  # Bob's second tab, on the other process
    await alice.create_room("hall", "Hall")
    for client in (alice, bob, bob_too):
        await client.join("hall")

    one = await alice.send("hall", "one")
    meta = {"kind": "link", "url": "https://example.com/"}
    two = (await bob.request("send", room="hall", text="two", reply_to=one, meta=meta))["id"]
    edited = await alice.request("edit", room="hall", id=one, text="one!")
    assert edited["message"]["edited"] > 0
    await bob.request("react", room="hall", id=one, emoji="👍")
    await bob_too.request("react", room="hall", id=one, emoji="🎉")
    await bob.request("delete_message", room="hall", id=two)
    for client in (alice, bob, bob_too):
        last, before = await until(client, "message_changed", where(change="deleted"))
        events = [*before, last]
        assert shown(events) == [
            ("message", one, "one"),
            ("message", two, "two"),
            ("edited", one, "one!"),
            ("reactions", one, "one!"),
            ("reactions", one, "one!"),
            ("deleted", two, ""),
        ]
        message_two = next(e for e in events if e["type"] == "message" and e["id"] == two)
        assert (message_two["reply_to"], message_two["meta"]) == (one, meta)
        reactions = [e for e in events if e["type"] == "message_changed"][2]["message"]
        assert reactions["reactions"] == {
            "👍": {"count": 1, "users": ["bob"]},
            "🎉": {"count": 1, "users": ["bob"]},
        }
        assert last["message"]["deleted"] is True
        assert "meta" not in last["message"]

    # A read mark: Bob's tabs on both processes hear of it.
    assert (await bob.request("read", room="hall", id=two))["id"] == two
    for client in (bob, bob_too):
        read, _ = await until(client, "read", where(room="hall"))
        assert (read["user"], read["id"]) == ("bob", two)
    # Unread counts, asked on the other process: Alice's next message is the one unread.
    three = await alice.send("hall", "three")
    rooms = (await bob_too.request("rooms", unread=True))["rooms"]
    hall = next(room for room in rooms if room["name"] == "hall")
    assert (hall["read"], hall["unread"]) == (two, 1)
    assert three == two + 1


async def test_a_returning_client_gets_the_missed_changes_after_its_join_reply(pair: Pair) -> None:
    alice = await pair.open(0, "Alice")
    bob = await pair.open(1, "Bob")
    await alice.create_room("hall", "Hall")
    await alice.join("hall")
    await bob.join("hall")
    one = await alice.send("hall", "one")
    await until(bob, "message", where(id=one))
    await bob.close()  # Bob has seen message `one`, and nothing after it

    await alice.request("edit", room="hall", id=one, text="one, edited")
    await alice.request("react", room="hall", id=one, emoji="👍")
    two = await alice.send("hall", "two")
    await alice.request("edit", room="hall", id=two, text="two, edited")
    await alice.request("delete_message", room="hall", id=one)
    missed = [
        ("edited", one, "one, edited"),
        ("reactions", one, "one, edited"),
        ("edited", two, "two, edited"),
        ("deleted", one, ""),
    ]

    # Bob comes back on process 1, raw, to see the frames' order on the socket.
    server = pair.servers[1]
    cookies = await anyio.to_thread.run_sync(server.login, "Bob")
    cookie = "; ".join(f"{key}={value}" for key, value in cookies.items())
    async with connect(server.ws_url, additional_headers={"Cookie": cookie}) as ws:
        assert json.loads(await ws.recv())["type"] == "welcome"
        await ws.send(json.dumps({"type": "join", "room": "hall", "since": one, "ref": 1}))
        frames: list[Frame] = []
        with anyio.fail_after(5):
            while len(shown(frames)) < len(missed) or all(f.get("ref") != 1 for f in frames):
                frames.append(json.loads(await ws.recv()))
        ok = next(i for i, f in enumerate(frames) if f.get("ref") == 1)
        assert frames[ok]["type"] == "ok"
        assert [m["id"] for m in frames[ok]["history"]] == [two]
        assert frames[ok]["history"][0]["text"] == "two, edited"  # its current state
        assert not frames[ok]["gap"]
        assert shown(frames[:ok]) == []  # nothing before the reply
        assert shown(frames[ok + 1 :]) == missed

    # ChatClient's own resume after a lost socket passes a change on as an event, whether it
    # comes live or after the rejoin's reply (which may repeat changes seen before: applying
    # one again changes nothing).
    carol = await pair.open(1, "Carol")
    await carol.join("hall")
    carol.abort()
    await alice.request("react", room="hall", id=two, emoji="🎉")
    event, _ = await until(carol, "message_changed", where(change="reactions"))
    assert event["message"]["id"] == two
    assert event["message"]["reactions"] == {"🎉": {"count": 1, "users": ["alice"]}}
