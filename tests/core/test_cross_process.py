"""Two servers sharing one bus and one store behave like two processes behind one Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import pytest

from chatcore import CloseCode, FakeClock, MemoryBroker, MemoryBus, MemoryStore

from .kit import Chat, running, user, wire

pytestmark = pytest.mark.anyio


@asynccontextmanager
async def two_servers(**options: Any) -> AsyncIterator[tuple[Chat, Chat]]:
    bus, store, clock = MemoryBus(), MemoryStore(), FakeClock()
    async with AsyncExitStack() as stack:
        one = await stack.enter_async_context(
            running(clock=clock, broker=MemoryBroker(bus), store=store, **options)
        )
        two = await stack.enter_async_context(
            running(clock=clock, broker=MemoryBroker(bus), store=store, **options)
        )
        yield one, two


async def test_a_user_on_both_servers_is_one_member_with_one_join_and_one_leave() -> None:
    async with two_servers() as (one, two):
        bob = await two.client("2")
        await bob.call("create_room", room="lobby")
        await bob.call("join", room="lobby")
        bob.events()
        alice_one = await one.client("1")
        alice_two = await two.client("1")
        await alice_one.call("join", room="lobby")
        joined = await alice_two.call("join", room="lobby")
        assert joined["room"]["members"] == 2
        assert sorted(u["id"] for u in joined["members"]) == ["1", "2"]
        assert bob.events() == [
            {"type": "presence", "room": "lobby", "event": "join", "user": wire("1")}
        ]
        await alice_one.close()
        await one.advance(one.limits.presence_grace)
        assert bob.events() == []
        await alice_two.close()
        await two.advance(two.limits.presence_grace - 1)
        assert bob.events() == []
        await two.advance(1)
        assert bob.events() == [
            {"type": "presence", "room": "lobby", "event": "leave", "user": wire("1")}
        ]


async def test_messages_cross_servers_in_id_order() -> None:
    async with two_servers() as (one, two):
        alice = await one.client("1")
        bob = await two.client("2")
        await alice.call("create_room", room="lobby")
        await alice.call("join", room="lobby")
        await bob.call("join", room="lobby")
        for n in range(5):
            sender = alice if n % 2 else bob
            await sender.call("send", room="lobby", text=f"m{n}")
        for client in (alice, bob):
            messages = client.events("message")
            assert [m["id"] for m in messages] == [1, 2, 3, 4, 5]
            assert [m["text"] for m in messages] == [f"m{n}" for n in range(5)]


async def test_privates_cross_servers_to_every_connection_and_nobody_else() -> None:
    async with two_servers() as (one, two):
        alice = await one.client("1")
        bob_one = await one.client("2")
        bob_two = await two.client("2")
        carol = await two.client("3")
        await alice.call("send_private", to="2", text="psst")
        for client in (alice, bob_one, bob_two):
            assert [p["text"] for p in client.events("private")] == ["psst"]
        assert carol.events() == []
        reply = await carol.request("send_private", to="4", text="hi")
        assert reply["code"] == "no_such_user"
        await bob_one.close()
        await bob_two.close()
        reply = await alice.request("send_private", to="2", text="gone")
        assert reply["code"] == "recipient_unavailable"


async def test_room_events_updates_and_kicks_cross_servers() -> None:
    async with two_servers() as (one, two):
        watcher = await two.client("3")
        await watcher.call("rooms", watch=True)
        alice = await one.client("1")
        bob = await two.client("2")
        await alice.call("create_room", room="lobby")
        await alice.call("join", room="lobby")
        await bob.call("join", room="lobby")
        bob.events()
        assert [f["event"] for f in watcher.events("room")] == ["created"]
        await one.server.update_user(user("2", name="Robert"))
        assert alice.events("presence")[-1]["user"]["name"] == "Robert"
        assert bob.user.name == "Robert"
        await alice.call("delete_room", room="lobby")
        assert [f["event"] for f in bob.events("room")] == ["deleted"]
        assert [f["event"] for f in watcher.events("room")] == ["deleted"]
        assert (await bob.request("send", room="lobby", text="x"))["code"] == "no_such_room"
        await one.server.disconnect_user("2")
        bob.pump()
        assert bob.close_code is CloseCode.UNAUTHORIZED
        assert alice.close_code is None


async def test_a_reload_onto_the_other_server_within_the_grace_is_silent() -> None:
    async with two_servers() as (one, two):
        bob = await one.client("2")
        await bob.call("create_room", room="lobby")
        await bob.call("join", room="lobby")
        alice = await one.client("1")
        await alice.call("join", room="lobby")
        bob.events()
        await alice.close()
        await one.advance(one.limits.presence_grace - 1)
        reloaded = await two.client("1")
        await reloaded.call("join", room="lobby")
        await one.advance(one.limits.presence_grace * 2)
        assert bob.events() == []
        members = (await bob.call("members", room="lobby"))["members"]
        assert sorted(u["id"] for u in members) == ["1", "2"]


async def test_an_auto_created_room_vanishes_when_its_last_member_on_any_server_leaves() -> None:
    async with two_servers(auto_create=True) as (one, two):
        watchers = [await one.client("3"), await two.client("3")]
        for watcher in watchers:
            await watcher.call("rooms", watch=True)
        alice = await one.client("1")
        bob = await two.client("2")
        await alice.call("join", room="pop-up")
        await bob.call("join", room="pop-up")
        await alice.call("leave", room="pop-up")
        await bob.close()
        await two.advance(two.limits.presence_grace - 1)
        assert [[f["event"] for f in w.events("room")] for w in watchers] == [["created"]] * 2
        await two.advance(1)
        assert [[f["event"] for f in w.events("room")] for w in watchers] == [["deleted"]] * 2
        assert await one.server.store.get_room("pop-up") is None
        await alice.call("join", room="pop-up")
        again = await two.client("2")
        await again.call("join", room="pop-up")
        await again.call("send", room="pop-up", text="round two")
        assert [m["id"] for m in alice.events("message")] == [1]


async def test_changes_read_marks_and_following_span_both_servers() -> None:
    async with two_servers() as (one, two):
        alice = await one.client("1")
        await alice.call("create_room", room="lobby")
        await alice.call("join", room="lobby")
        bob = await two.client("2")
        await bob.call("join", room="lobby")
        await bob.call("leave", room="lobby")
        bob_tab = await two.client("2")
        await bob_tab.call("rooms", watch=True, unread=True)  # follows lobby: no member on two
        bob_phone = await one.client("2")
        await alice.call("send", room="lobby", text="hello")
        await alice.call("react", room="lobby", id=1, emoji="👍")
        await two.advance(0)
        assert [m["text"] for m in bob_tab.events("message")] == ["hello"]
        assert bob_tab.events("message_changed") == []  # a follower gets new messages only
        await bob_tab.call("read", room="lobby", id=1)
        assert bob_phone.events("read") == [{"type": "read", "room": "lobby", "user": "2", "id": 1}]
        # the tab stops following: server two drops the room's channel, and nothing comes
        await bob_tab.call("rooms", watch=False)
        await alice.call("send", room="lobby", text="again")
        await two.advance(0)
        assert bob_tab.events("message") == []
        assert not two.server.hub.has_local("lobby")
