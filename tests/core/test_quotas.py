"""Per-user quotas: connections, rooms owned, rooms created an hour, and the history budget."""

from __future__ import annotations

import pytest

from chatcore import (
    ChatServer,
    CloseCode,
    Limits,
    MemoryStore,
    Message,
    QuotaExceeded,
    Room,
    Unavailable,
)
from chatcore.backends.memory_store import message_cost

from .kit import Chat, running, user

pytestmark = pytest.mark.anyio

HOUR = 3_600_000


# connections per user


async def test_one_user_opens_at_most_connections_per_user(chat: Chat) -> None:
    allowed = chat.limits.connections_per_user
    assert allowed == 20  # the documented default
    clients = [await chat.client("1") for _ in range(allowed)]
    with pytest.raises(QuotaExceeded, match="connections_per_user") as refused:
        await chat.client("1")
    assert refused.value.code == "quota_exceeded"
    assert len(chat.server.hub.user_conns("1")) == allowed  # the refused one left no trace
    await chat.client("2")  # another user is not concerned
    await clients[0].close()
    await chat.client("1")  # one closed: one more may open


async def test_a_connection_the_server_closed_no_longer_counts() -> None:
    async with running(limits=Limits(connections_per_user=2)) as chat:
        first = await chat.client("1")
        await chat.client("1")
        first.connection._session.outbox.close(CloseCode.TRY_AGAIN_LATER)  # a slow consumer
        # Its socket may take a while to end; the client reconnecting must not be refused.
        await chat.client("1")
        with pytest.raises(QuotaExceeded):
            await chat.client("1")


async def test_a_process_takes_at_most_max_connections_of_all_users() -> None:
    assert Limits().max_connections == 20_000  # the documented default
    async with running(limits=Limits(max_connections=3)) as chat:
        clients = [await chat.client(user_id) for user_id in ("1", "2", "2")]
        with pytest.raises(Unavailable, match="full") as refused:
            await chat.client("3")
        assert refused.value.code == "unavailable"  # the adapters close with 1013
        assert len(chat.server.hub.conns) == 3
        await clients[1].close()
        await chat.client("3")


# rooms created an hour


async def test_a_user_creates_at_most_rooms_per_hour_then_one_per_interval(chat: Chat) -> None:
    per_hour = chat.limits.rooms_per_hour
    assert per_hour == 20
    alice = await chat.client("1")
    watcher = await chat.client("2")
    await watcher.call("rooms", watch=True)
    for index in range(per_hour):
        await alice.call("create_room", room=f"room-{index}")
    refused = await alice.request("create_room", room="one-too-many")
    assert refused["code"] == "quota_exceeded"
    assert refused["field"] == "room"
    assert "rooms_per_hour" in refused["message"]
    assert len(watcher.events("room")) == per_hour  # the refused room reached nobody
    await chat.advance(HOUR // per_hour - 1)
    assert (await alice.request("create_room", room="one-too-many"))["type"] == "error"
    await chat.advance(1)
    await alice.call("create_room", room="one-too-many")
    assert (await alice.request("create_room", room="and-another"))["type"] == "error"


async def test_a_room_not_created_costs_nothing() -> None:
    async with running(limits=Limits(rooms_per_hour=2)) as chat:
        alice = await chat.client("1")
        bob = await chat.client("2")
        await bob.call("create_room", room="taken")
        for _ in range(5):
            assert (await alice.request("create_room", room="taken"))["code"] == "room_exists"
        await alice.call("create_room", room="a")
        await alice.call("create_room", room="b")
        assert (await alice.request("create_room", room="c"))["code"] == "quota_exceeded"


async def test_auto_created_rooms_count_against_rooms_per_hour() -> None:
    async with running(limits=Limits(rooms_per_hour=2), auto_create=True) as chat:
        alice = await chat.client("1")
        await alice.call("join", room="a")
        await alice.call("join", room="b")
        refused = await alice.request("join", room="c")
        assert (refused["code"], refused["field"]) == ("quota_exceeded", "room")
        assert await chat.server.store.get_room("c") is None
        bob = await chat.client("2")
        await bob.call("join", room="c")  # Bob has his own allowance...
        await alice.call("join", room="c")  # ...and joining a room that exists is free


# rooms owned


async def test_a_user_owns_at_most_rooms_per_user() -> None:
    async with running(limits=Limits(rooms_per_user=3, rooms_per_hour=100)) as chat:
        alice = await chat.client("1")
        for name in ("a", "b", "c"):
            await alice.call("create_room", room=name)
        await chat.server.create_room("not-hers")  # rooms of nobody, or of others, don't count
        await (await chat.client("2")).call("create_room", room="bobs")
        refused = await alice.request("create_room", room="d")
        assert refused["code"] == "quota_exceeded"
        assert "rooms_per_user" in refused["message"]
        await alice.call("delete_room", room="a")
        await alice.call("create_room", room="d")


async def test_rooms_owned_are_counted_in_the_store_so_across_servers() -> None:
    store = MemoryStore()
    limits = Limits(rooms_per_user=2)
    async with (
        running(store=store, limits=limits) as one,
        running(store=store, limits=limits) as two,
    ):
        await (await one.client("1")).call("create_room", room="a")
        await (await two.client("1")).call("create_room", room="b")
        refused = await (await one.client("1")).request("create_room", room="c")
        assert refused["code"] == "quota_exceeded"


async def test_application_code_may_create_rooms_past_the_quotas() -> None:
    async with running(limits=Limits(rooms_per_user=1, rooms_per_hour=1)) as chat:
        alice = user("1")
        await chat.server.create_room("a", owner=alice)
        with pytest.raises(QuotaExceeded):
            await chat.server.create_room("b", owner=alice)
        await chat.server.create_room("b", owner=alice, quota=False)
        assert [room.name for room in await chat.server.store.list_rooms("1")] == ["a", "b"]


async def test_room_creation_buckets_of_users_who_stopped_creating_are_forgotten() -> None:
    from chatcore.runtime._quotas import UserBuckets

    buckets = UserBuckets(per_hour=20)
    for index in range(1_000):
        assert buckets.take(f"user-{index}", now=0)
    assert len(buckets) == 1_000
    # An hour on, each of those buckets is full again: the same as none. New users' takes
    # sweep them out (when the map has doubled since the last sweep).
    for index in range(50):
        assert buckets.take(f"late-{index}", now=HOUR)
    assert len(buckets) == 50


# the in-memory store's total budget


def message_cost_of(body: str) -> int:
    return message_cost(Message(id=1, room="r", ts=0, sender=user("1"), text=body))


def text(index: int, size: int = 1_000) -> str:
    return f"{index:06d}" + "x" * (size - 6)


async def test_the_memory_store_keeps_history_bytes_across_rooms_dropping_the_oldest() -> None:
    store = MemoryStore(history_size=1_000, history_bytes=10 * message_cost_of(text(0)))
    alice = user("1")
    for name in ("a", "b", "c"):
        await store.create_room(Room(name=name, title=name))
    for index in range(30):  # in turns: a, b, c, a, b, ...
        await store.append("abc"[index % 3], alice, text(index), ts=index)
        assert store.held_bytes <= store.history_bytes
    held = {
        name: [m.text[:6] for m in (await store.history(name, limit=100)).messages]
        for name in "abc"
    }
    # The ten newest of all rooms are kept; every room lost its oldest first.
    assert sorted(t for texts in held.values() for t in texts) == [
        f"{i:06d}" for i in range(20, 30)
    ]
    assert held["a"] == ["000021", "000024", "000027"]
    page = await store.history("a", limit=100, after=0)
    assert (page.last_id, page.messages[0].id) == (10, 8)  # a resume from 0 has a gap


async def test_a_resume_past_the_budget_answers_gap() -> None:
    limits = Limits(history_bytes=5 * message_cost_of(text(0)))
    async with running(limits=limits) as chat:
        alice = await chat.client("1")
        await alice.call("create_room", room="quiet")
        await alice.call("create_room", room="busy")
        await alice.call("join", room="quiet")
        await alice.call("join", room="busy")
        await alice.call("send", room="quiet", text=text(0))
        for index in range(5):
            await alice.call("send", room="busy", text=text(index))
        assert isinstance(chat.server.store, MemoryStore)
        assert chat.server.store.history_bytes == limits.history_bytes
        await alice.call("leave", room="quiet")
        resumed = await alice.call("join", room="quiet", since=0)
        assert (resumed["gap"], resumed["history"]) == (True, [])
        again = await alice.call("send", room="quiet", text="still posting")  # never refused
        assert again["id"] == 2


async def test_dropped_messages_free_their_bytes_and_client_ids() -> None:
    store = MemoryStore(history_size=2, history_bytes=10**9)
    alice = user("1")
    await store.create_room(Room(name="r", title="r"))
    for index in range(5):
        await store.append("r", alice, text(index), ts=index, client_id=f"c{index}")
    assert store.held_bytes == 2 * message_cost_of(text(0)) + 2 * len("c0")
    again = await store.append("r", alice, text(0), ts=9, client_id="c0")
    assert again.created  # the message of c0 is gone, and its client id with it
    await store.delete_room("r")
    assert store.held_bytes == 0


async def test_the_memory_store_forgets_what_it_dropped() -> None:
    """Per-room trimming alone (far below the budget) leaves no growing bookkeeping behind."""
    store = MemoryStore(history_size=10)
    await store.create_room(Room(name="r", title="r"))
    for index in range(10_000):
        await store.append("r", user("1"), "hi", ts=index)
    assert len(store._order) <= 2 * 10 + 64


def test_the_server_gives_its_memory_store_the_budget() -> None:
    server = ChatServer(limits=Limits(history_bytes=12_345, history_size=7))
    assert isinstance(server.store, MemoryStore)
    assert (server.store.history_bytes, server.store.history_size) == (12_345, 7)
