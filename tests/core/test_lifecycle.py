"""Starting and stopping a server: a second run starts clean, errors come out as themselves."""

from __future__ import annotations

import anyio
import pytest

from chatcore import ChatServer, CloseCode, FakeClock, MemoryBroker, MemoryBus, UsageError
from chatcore.testing import LocalClient

from .kit import running, user, wire

pytestmark = pytest.mark.anyio


async def test_a_server_entered_again_has_no_member_or_online_user_of_its_first_run() -> None:
    server = ChatServer(clock=FakeClock())
    async with server:
        alice = await LocalClient.connect(server, user("1"))
        await alice.call("create_room", room="lobby")
        await alice.call("join", room="lobby")
        await alice.call("send", room="lobby", text="before the restart")
        await alice.call("rooms", watch=True)
        dave = await LocalClient.connect(server, user("4"))
        await dave.call("join", room="lobby")
        await dave.close()  # still a member while the grace period runs
    async with server:
        assert not server.hub.conns
        assert await server.broker.members("lobby") == []
        assert not await server.broker.is_online("1")
        bob = await LocalClient.connect(server, user("2"))
        joined = await bob.call("join", room="lobby")
        assert joined["members"] == [wire("2")]
        assert joined["room"]["members"] == 1
        # Rooms and history are data: the in-memory store keeps them.
        assert [m["text"] for m in joined["history"]] == ["before the restart"]
        assert (await bob.request("send_private", to="1", text="hi"))["code"] == (
            "recipient_unavailable"
        )
    # A connection of the first run that ends late changes nothing in a later one.
    async with server:
        carol = await LocalClient.connect(server, user("3"))
        await alice.close()
        await bob.close()
        assert next(iter(server.hub.conns.values())).user == user("3")
        assert carol.close_code is None


async def test_stopping_announces_that_its_users_left_to_the_other_servers() -> None:
    bus, clock = MemoryBus(), FakeClock()
    async with running(clock=clock, broker=MemoryBroker(bus)) as other:
        watcher = await other.client("2")
        await watcher.call("create_room", room="lobby")
        await watcher.call("join", room="lobby")
        async with running(clock=clock, broker=MemoryBroker(bus), store=other.server.store) as one:
            alice = await one.client("1")
            await alice.call("join", room="lobby")
            assert watcher.events("presence")[-1]["event"] == "join"
        assert [(e["event"], e["user"]["id"]) for e in watcher.events("presence")] == [
            ("leave", "1")
        ]
        assert await other.server.broker.members("lobby") == [user("2")]
        assert not await other.server.broker.is_online("1")


async def connect_then_fail(server: ChatServer, clients: list[LocalClient]) -> None:
    async with server:
        clients.append(await LocalClient.connect(server, user("1")))
        raise ValueError("boom")


async def test_an_error_in_the_body_comes_out_as_itself() -> None:
    clients: list[LocalClient] = []
    with pytest.raises(ValueError, match="boom") as raised:
        await connect_then_fail(ChatServer(clock=FakeClock()), clients)
    assert type(raised.value) is ValueError
    assert clients[0].close_code is CloseCode.GOING_AWAY


async def enter_twice(server: ChatServer) -> None:
    async with server, server:
        pass


async def test_a_usage_error_in_the_body_comes_out_as_itself() -> None:
    with pytest.raises(UsageError, match="already running"):
        await enter_twice(ChatServer(clock=FakeClock()))


async def test_local_clients_see_the_close_code_once_the_server_stopped() -> None:
    async with ChatServer(clock=FakeClock()) as server:
        client = await LocalClient.connect(server, user("1"))
        open_code = client.close_code
    assert open_code is None
    assert client.close_code is CloseCode.GOING_AWAY
    assert [frame["type"] for frame in client.inbox] == ["welcome"]


async def test_an_auto_room_goes_when_the_server_of_its_last_member_stops() -> None:
    bus, clock = MemoryBus(), FakeClock()
    async with running(clock=clock, broker=MemoryBroker(bus), auto_create=True) as other:
        watcher = await other.client("2")
        await watcher.call("rooms", watch=True)
        store = other.server.store
        async with running(clock, broker=MemoryBroker(bus), store=store, auto_create=True) as one:
            alice = await one.client("1")
            await alice.call("join", room="pop-up")
        await anyio.wait_all_tasks_blocked()
        assert [e["event"] for e in watcher.events("room")] == ["created", "deleted"]
        assert await other.server.store.get_room("pop-up") is None
