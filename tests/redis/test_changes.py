"""Changes to messages (edits, deletions, reactions) and read marks across processes on Redis.

A ``message_changed`` must never reach a connection before the message it was made after
(``Envelope.after``): the Redis store publishes it in the same script as the change; with
another store the broker holds it until that message is out (``PUBLISH_CHANGE``).
"""

from __future__ import annotations

import json
from typing import Any

import anyio
import pytest

from chatcore.backends.envelope import Envelope, ToRoom
from chatcore.redis import RedisBroker, RedisStore
from chatcore.testing import LocalClient
from chatcore.wire.values import Room, User
from tests.conformance.backends import Process
from tests.redis.stack import ALICE, BOB, CAROL, expect, redis_cluster
from tests.redis.support import redis_prefix
from tests.redis.test_order import SlowStore, message

pytestmark = [pytest.mark.anyio, pytest.mark.network]


def change(room: str, after: int, n: int) -> Envelope:
    """The ``n``-th change, made when message ``after`` was the room's newest."""
    return Envelope(ToRoom(room), f'{{"type":"message_changed","n":{n}}}', after=after)


def labels(received: list[Envelope]) -> list[str]:
    """``m<id>`` for a message, ``c<n>`` for a change, in the order they came."""
    out = []
    for envelope in received:
        frame = json.loads(envelope.frame or "")
        out.append(f"m{frame['id']}" if frame["type"] == "message" else f"c{frame['n']}")
    return out


async def test_a_change_waits_for_its_message_or_the_order_wait() -> None:
    async with redis_prefix() as (url, prefix):
        broker = RedisBroker(url, prefix=prefix, expiry=2, heartbeat=0.1, order_wait=0.3)
        process = Process(broker)
        async with anyio.create_task_group() as group:
            await group.start(process.run)
            await broker.subscribe("room:lobby")
            await broker.publish(message("lobby", 1))
            await broker.publish(change("lobby", 1, 1))  # its message is out: at once
            await broker.publish(change("lobby", 3, 2))  # waits for 3
            await broker.publish(change("lobby", 2, 3))  # waits for 2
            await broker.publish(message("lobby", 3))  # waits for 2
            await broker.publish(message("lobby", 2))  # releases the rest, each in its place
            received = await process.wait_for(6)
            assert labels(received) == ["m1", "c1", "m2", "c3", "m3", "c2"]
            # A change after message 5, which never comes: out after the order wait.
            await broker.publish(change("lobby", 5, 4))
            started = anyio.current_time()
            received = await process.wait_for(7, within=3)
            assert labels(received)[6] == "c4"
            assert 0.25 <= anyio.current_time() - started <= 1.5
            # The room goes on: the next message and a change after it go out at once.
            await broker.publish(message("lobby", 4))
            await broker.publish(change("lobby", 4, 5))
            assert labels(await process.wait_for(9))[7:] == ["m4", "c5"]
            group.cancel_scope.cancel()


async def test_held_changes_keep_the_order_they_came_in() -> None:
    async with redis_prefix() as (url, prefix):
        broker = RedisBroker(url, prefix=prefix, expiry=2, heartbeat=0.1, order_wait=5)
        process = Process(broker)
        async with anyio.create_task_group() as group:
            await group.start(process.run)
            await broker.subscribe("room:lobby")
            for n in range(1, 6):
                await broker.publish(change("lobby", 1, n))
            await broker.publish(message("lobby", 1))
            assert labels(await process.wait_for(6)) == ["m1", "c1", "c2", "c3", "c4", "c5"]
            group.cancel_scope.cancel()


Frame = dict[str, Any]


def changes_of(frames: list[Frame]) -> list[tuple[str, int, str]]:
    """(change, message id, text) of the ``message_changed`` frames, in order."""
    return [
        (f["change"], f["message"]["id"], f["message"]["text"])
        for f in frames
        if f["type"] == "message_changed"
    ]


async def frames_until(client: LocalClient, kind: str, **fields: Any) -> list[Frame]:
    """The client's frames, in order, up to the first of type ``kind`` with ``fields``."""
    seen: list[Frame] = []
    with anyio.fail_after(5):
        while True:
            client.pump()
            while client.inbox:
                frame = client.inbox.pop(0)
                seen.append(frame)
                if frame["type"] == kind and all(frame.get(k) == v for k, v in fields.items()):
                    return seen
            client.inbox.append(json.loads(await client.connection.next_frame()))


@pytest.mark.parametrize("store", ["redis", "shared"])
async def test_changes_and_read_marks_reach_the_other_process(store: str) -> None:
    # "shared": one store for both servers stands for the SQL database two processes share;
    # the server publishes, and the broker keeps each change after its message.
    shared = SlowStore() if store == "shared" else None
    async with redis_prefix() as (url, prefix), redis_cluster(url, prefix, store=shared) as cluster:
        alice = await LocalClient.connect(cluster.a, ALICE)
        bob = await LocalClient.connect(cluster.b, BOB)
        bob_too = await LocalClient.connect(cluster.a, BOB)  # Bob's other tab
        await alice.call("create_room", room="lobby")
        for client in (alice, bob, bob_too):
            await client.call("join", room="lobby")
        one = (await alice.call("send", room="lobby", text="one"))["id"]
        two = (await alice.call("send", room="lobby", text="two", reply_to=one))["id"]
        await alice.call("edit", room="lobby", id=one, text="one!")
        await bob.call("react", room="lobby", id=one, emoji="👍")
        await alice.call("delete_message", room="lobby", id=two)
        for client in (alice, bob, bob_too):
            frames = await frames_until(client, "message_changed", change="deleted")
            shown = [f for f in frames if f["type"] in ("message", "message_changed")]
            assert [(f["type"], f.get("id")) for f in shown[:2]] == [
                ("message", one),
                ("message", two),
            ]
            assert shown[1]["reply_to"] == one
            assert changes_of(shown) == [
                ("edited", one, "one!"),
                ("reactions", one, "one!"),
                ("deleted", two, ""),
            ]
            assert shown[3]["message"]["reactions"] == {"👍": {"count": 1, "users": ["2"]}}

        # A read mark made on one process reaches the user's tabs on both, and nobody else.
        assert (await bob.call("read", room="lobby", id=two))["id"] == two
        for client in (bob, bob_too):
            read = await expect(client, "read", room="lobby")
            assert (read["user"], read["id"]) == (BOB.id, two)
        await alice.call("ping")
        assert alice.events("read") == []

        # Unread counts, read on the other process.
        await alice.call("send", room="lobby", text="three")
        rooms = (await bob_too.call("rooms", unread=True))["rooms"]
        lobby = next(room for room in rooms if room["name"] == "lobby")
        assert (lobby["read"], lobby["unread"]) == (two, 1)


@pytest.mark.parametrize("store", ["redis", "shared"])
async def test_resumed_changes_come_in_order_after_the_ok(store: str) -> None:
    shared = SlowStore() if store == "shared" else None
    async with redis_prefix() as (url, prefix), redis_cluster(url, prefix, store=shared) as cluster:
        alice = await LocalClient.connect(cluster.a, ALICE)
        await alice.call("create_room", room="lobby")
        await alice.call("join", room="lobby")
        one = (await alice.call("send", room="lobby", text="one"))["id"]
        await alice.call("edit", room="lobby", id=one, text="one, edited")
        await alice.call("react", room="lobby", id=one, emoji="👍")
        two = (await alice.call("send", room="lobby", text="two"))["id"]
        await alice.call("delete_message", room="lobby", id=one)
        await alice.call("edit", room="lobby", id=two, text="two, edited")
        missed = [
            ("edited", one, "one, edited"),
            ("reactions", one, "one, edited"),
            ("deleted", one, ""),
            ("edited", two, "two, edited"),
        ]
        final = (await alice.call("history", room="lobby"))["messages"][-1]  # two, edited
        for since, expected in ((0, missed), (one, missed), (two, missed[2:])):
            bob = await LocalClient.connect(cluster.b, BOB)
            bob.events()
            await bob.send({"type": "join", "room": "lobby", "since": since, "ref": 7})
            before = await frames_until(bob, "ok", ref=7)
            assert changes_of(before) == []  # nothing before the ok
            reply = before[-1]
            assert not reply["gap"]
            frames = await frames_until(bob, "message_changed", message=final)
            assert changes_of(frames) == expected
            await bob.close()


async def test_unread_counts_match_senders_exactly() -> None:
    # The script compares the sender's id as it stands in the stored JSON: ids that are
    # prefixes of each other, or hold quotes and commas, must not be taken for one another.
    odd = [User(id=i, name="x") for i in ("a", 'a,"b', "a\\", "é 𝄞")]
    async with redis_prefix() as (url, prefix):
        store = RedisStore(url, prefix=prefix, history_size=50)
        try:
            await store.create_room(Room(name="lobby", title="Lobby"))
            for user in odd:
                await store.mark_read("lobby", user.id, None)
            for n, user in enumerate(odd):
                for _ in range(n + 1):
                    await store.append("lobby", user, "hi", 1)
            total = sum(range(1, len(odd) + 1))
            for n, user in enumerate(odd):
                assert (await store.reading(user.id))["lobby"].unread == total - (n + 1)
        finally:
            await store.aclose()


async def test_an_older_state_of_a_message_published_late_is_dropped() -> None:
    async with redis_prefix() as (url, prefix):
        broker = RedisBroker(url, prefix=prefix, expiry=2, heartbeat=0.1, order_wait=5)
        process = Process(broker)

        def state(version: int) -> Envelope:
            frame = f'{{"type":"message_changed","n":{version}}}'
            return Envelope(ToRoom("lobby"), frame, after=1, version=(1, version))

        async with anyio.create_task_group() as group:
            await group.start(process.run)
            await broker.subscribe("room:lobby")
            await broker.publish(message("lobby", 1))
            # Two processes changed message 1 (versions 1, then 2) and published in the
            # other order: the older state, coming last, would undo the newer one.
            await broker.publish(state(2))
            await broker.publish(state(1))
            await broker.publish(state(3))
            await broker.publish(message("lobby", 2))
            assert labels(await process.wait_for(4)) == ["m1", "c2", "c3", "m2"]
            # A held change is checked too: an older one behind it is dropped.
            await broker.publish(
                Envelope(
                    ToRoom("lobby"), '{"type":"message_changed","n":9}', after=4, version=(2, 2)
                )
            )
            await broker.publish(
                Envelope(
                    ToRoom("lobby"), '{"type":"message_changed","n":8}', after=4, version=(2, 1)
                )
            )
            await broker.publish(message("lobby", 3))
            await broker.publish(message("lobby", 4))
            assert labels(await process.wait_for(7))[4:] == ["m3", "m4", "c9"]
            group.cancel_scope.cancel()


@pytest.mark.parametrize("store", ["redis", "shared"])
async def test_a_batch_of_reactions_older_than_an_edit_elsewhere_is_dropped(store: str) -> None:
    """Reactions go out in batches per process (``reaction_batch``): a batch held on one
    process whose state is older than an edit sent from the other must not undo the edit."""
    shared = SlowStore() if store == "shared" else None
    async with redis_prefix() as (url, prefix), redis_cluster(url, prefix, store=shared) as cluster:
        alice = await LocalClient.connect(cluster.a, ALICE)
        bob = await LocalClient.connect(cluster.b, BOB)
        carol = await LocalClient.connect(cluster.b, CAROL)
        await alice.call("create_room", room="lobby")
        for client in (alice, bob, carol):
            await client.call("join", room="lobby")
        one = (await alice.call("send", room="lobby", text="one"))["id"]
        # b's window: the first three go out at once, the fourth is held
        await bob.call("react", room="lobby", id=one, emoji="👍")
        await carol.call("react", room="lobby", id=one, emoji="🎉")
        await bob.call("react", room="lobby", id=one, emoji="🎉")
        await carol.call("react", room="lobby", id=one, emoji="👍")  # held on b
        await alice.call("edit", room="lobby", id=one, text="one, edited")  # newer, from a
        await anyio.sleep(cluster.a.limits.reaction_batch / 1000 * 4)  # b's window has closed
        for client in (alice, bob, carol):
            client.pump()
            states = [f["message"] for f in client.inbox if f["type"] == "message_changed"]
            assert [state["text"] for state in states][-1] == "one, edited"
            assert "🎉" in states[-1]["reactions"]
        stored = (await alice.call("history", room="lobby"))["messages"][0]
        assert stored["reactions"] == {
            "👍": {"count": 2, "users": ["2", "3"]},
            "🎉": {"count": 2, "users": ["3", "2"]},
        }
