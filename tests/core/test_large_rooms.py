"""Large rooms and online status (docs/protocol.md, "Large rooms and online status")."""

from __future__ import annotations

import pytest

from chatcore import FakeClock, Limits, MemoryBroker, MemoryBus, MemoryStore

from .kit import Chat, running

pytestmark = pytest.mark.anyio


async def test_above_the_limit_a_count_replaces_per_user_presence() -> None:
    async with running(limits=Limits(presence_limit=2)) as chat:
        first = await chat.client("1")
        await first.call("create_room", room="hall")
        await first.call("join", room="hall")
        second = await chat.client("2")
        await second.call("join", room="hall")
        assert [p["user"]["id"] for p in first.events("presence")] == ["1", "2"]
        third = await chat.client("3")
        reply = await third.call("join", room="hall")
        assert reply["count"] == 3
        assert reply["room"]["members"] == 3
        assert first.events("presence") == []  # the room is large now
        await chat.advance(0)
        assert first.events("occupancy") == [{"type": "occupancy", "room": "hall", "count": 3}]
        # More joins within the interval: one count at its end, the newest.
        for user_id in ("4", "5"):
            await (await chat.client(user_id)).call("join", room="hall")
        await chat.advance(chat.limits.occupancy_interval // 2)
        assert first.events("occupancy") == []
        await chat.advance(chat.limits.occupancy_interval)
        assert [o["count"] for o in first.events("occupancy")] == [5]
        assert first.events("presence") == []


async def test_crossing_back_below_the_limit_sends_the_leave_and_a_last_count() -> None:
    async with running(limits=Limits(presence_limit=2)) as chat:
        clients = [await chat.client(user_id) for user_id in ("1", "2", "3")]
        await clients[0].call("create_room", room="hall")
        for client in clients:
            await client.call("join", room="hall")
        await chat.advance(chat.limits.occupancy_interval)
        clients[0].events()
        await clients[2].call("leave", room="hall")
        assert [p["event"] for p in clients[0].events("presence")] == ["leave"]
        await chat.advance(chat.limits.occupancy_interval)
        assert [o["count"] for o in clients[0].events("occupancy")] == [2]
        await clients[1].call("leave", room="hall")
        await chat.advance(chat.limits.occupancy_interval)
        assert clients[0].events("occupancy") == []  # small again: presence says it all
        assert [p["event"] for p in clients[0].events("presence")] == ["leave"]


async def test_members_come_in_pages_by_name_and_by_prefix(chat: Chat) -> None:
    alice = await chat.client("1")
    await alice.call("create_room", room="hall")
    for user_id in ("1", "2", "3", "4", "5"):
        await (await chat.client(user_id)).call("join", room="hall")
    page = await alice.call("members", room="hall", limit=2)
    assert [u["name"] for u in page["members"]] == ["Alice", "Bob"]
    assert page["count"] == 5
    assert page["next"] is not None
    page = await alice.call("members", room="hall", limit=2, after=page["next"])
    assert [u["name"] for u in page["members"]] == ["Carol", "Dave"]
    page = await alice.call("members", room="hall", limit=2, after=page["next"])
    assert [u["name"] for u in page["members"]] == ["Erin"]
    assert page["next"] is None
    found = await alice.call("members", room="hall", query="CA")
    assert [u["name"] for u in found["members"]] == ["Carol"]
    bad = await alice.request("members", room="hall", limit=101)
    assert (bad["code"], bad["field"]) == ("invalid_field", "limit")


async def test_a_large_join_reply_holds_the_first_page() -> None:
    async with running(limits=Limits(presence_limit=2, join_members=2)) as chat:
        alice = await chat.client("1")
        await alice.call("create_room", room="hall")
        for user_id in ("1", "2", "3", "4"):
            reply = await (await chat.client(user_id)).call("join", room="hall")
        assert [u["name"] for u in reply["members"]] == ["Alice", "Bob"]
        assert reply["count"] == 4
        assert reply["next"] is not None


async def test_watchers_see_a_user_online_once_however_many_tabs(chat: Chat) -> None:
    alice = await chat.client("1")
    assert (await alice.call("watch_users", users=["2", "3"]))["online"] == []
    bob = await chat.client("2")
    bob_again = await chat.client("2")
    assert alice.events("status") == [{"type": "status", "user": "2", "online": True}]
    await bob.close()
    assert alice.events("status") == []
    await bob_again.close()
    assert alice.events("status") == []  # offline after the grace, as a room's leave
    await chat.advance(chat.limits.presence_grace)
    assert alice.events("status") == [{"type": "status", "user": "2", "online": False}]
    await chat.client("3")
    assert [s["user"] for s in alice.events("status")] == ["3"]
    assert (await alice.call("watch_users", users=["3"]))["online"] == ["3"]
    await alice.call("watch_users", users=[])
    await chat.client("2")
    assert alice.events("status") == []
    too_many = await alice.request("watch_users", users=[str(i) for i in range(501)])
    assert (too_many["code"], too_many["field"]) == ("invalid_field", "users")


async def test_a_reload_within_the_grace_does_not_blink_offline(chat: Chat) -> None:
    alice = await chat.client("1")
    await alice.call("watch_users", users=["2"])
    bob = await chat.client("2")
    assert alice.events("status") == [{"type": "status", "user": "2", "online": True}]
    await bob.close()  # the page reloads: its socket closes, a new one opens a moment later
    await chat.advance(chat.limits.presence_grace - 1)
    bob = await chat.client("2")
    await chat.advance(chat.limits.presence_grace)
    assert alice.events("status") == []  # neither offline nor online again
    assert (await alice.call("watch_users", users=["2"]))["online"] == ["2"]
    await bob.close()  # now for good
    await chat.advance(chat.limits.presence_grace - 1)
    assert alice.events("status") == []
    await chat.advance(1)
    assert alice.events("status") == [{"type": "status", "user": "2", "online": False}]


async def test_two_servers_send_one_count_between_them() -> None:
    bus, store, clock = MemoryBus(), MemoryStore(), FakeClock()
    limits = Limits(presence_limit=2)
    async with (
        running(clock, limits=limits, broker=MemoryBroker(bus), store=store) as one,
        running(clock, limits=limits, broker=MemoryBroker(bus), store=store) as two,
    ):
        await one.server.create_room("hall")
        watcher = await one.client("1")
        await watcher.call("join", room="hall")
        for index, user_id in enumerate(("2", "3", "4", "5", "6")):
            await (await (one, two)[index % 2].client(user_id)).call("join", room="hall")
        await one.advance(0)
        assert [o["count"] for o in watcher.events("occupancy")] == [6]
        # Both servers see the room change again within the interval: one count between
        # them, the newest, once the interval is over.
        for index, user_id in enumerate(("7", "8")):
            await (await (one, two)[index % 2].client(user_id)).call("join", room="hall")
        for _ in range(8):
            await one.advance(limits.occupancy_interval // 4)
        assert [o["count"] for o in watcher.events("occupancy")] == [8]
