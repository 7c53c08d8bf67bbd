"""Chat across two processes on Redis: each test has a client on server ``a`` and one on ``b``."""

from __future__ import annotations

import json
from typing import Any

import anyio
import pytest

from chatcore.testing import LocalClient, ReplyError
from chatcore.wire.values import User
from tests.redis.stack import (
    ALICE,
    BOB,
    CAROL,
    EXPIRY,
    HEARTBEAT,
    Cluster,
    expect,
    redis_cluster,
)
from tests.redis.support import redis_prefix

pytestmark = [pytest.mark.anyio, pytest.mark.network]


async def lobby(cluster: Cluster) -> tuple[LocalClient, LocalClient]:
    """Alice on ``a`` and Bob on ``b``, both in the lobby; their join notices consumed."""
    alice = await LocalClient.connect(cluster.a, ALICE)
    bob = await LocalClient.connect(cluster.b, BOB)
    await alice.call("create_room", room="lobby", title="The lobby")
    await alice.call("join", room="lobby")
    await expect(alice, "presence", event="join", user=ALICE.to_wire())
    await bob.call("join", room="lobby")
    await expect(alice, "presence", event="join", user=BOB.to_wire())
    await expect(bob, "presence", event="join", user=BOB.to_wire())
    return alice, bob


async def test_room_messages_reach_both_processes(cluster: Cluster) -> None:
    alice, bob = await lobby(cluster)
    reply = await alice.call("send", room="lobby", text="hello from a", client_id="c1")
    assert reply["id"] == 1
    for client in (alice, bob):
        message = await expect(client, "message", room="lobby")
        assert (message["id"], message["text"], message["from"]) == (
            1,
            "hello from a",
            ALICE.to_wire(),
        )
    again = await alice.call("send", room="lobby", text="hello from a", client_id="c1")
    assert again["id"] == 1  # stored and sent once
    assert (await bob.call("send", room="lobby", text="and from b"))["id"] == 2
    assert (await expect(alice, "message"))["text"] == "and from b"


async def test_messages_from_both_processes_arrive_in_id_order_everywhere(
    cluster: Cluster,
) -> None:
    alice, bob = await lobby(cluster)

    async def chat(client: LocalClient) -> None:
        for n in range(15):
            await client.call("send", room="lobby", text=f"{client.user.name} {n}")

    async with anyio.create_task_group() as group:
        group.start_soon(chat, alice)
        group.start_soon(chat, bob)
    for client in (alice, bob):
        ids = [(await expect(client, "message"))["id"] for _ in range(30)]
        assert ids == list(range(1, 31))


async def test_a_burst_of_sends_from_one_socket_keeps_its_order_everywhere(
    cluster: Cluster,
) -> None:
    alice, bob = await lobby(cluster)
    count = 24  # within the default burst of the rate limit
    for n in range(count):
        frame = {"type": "send", "room": "lobby", "text": f"m{n}", "ref": f"s{n}"}
        await alice.connection.receive(json.dumps(frame))
    # Every receive returned before its post was done: the sends are in flight together.
    assert alice.events("ok") == []
    for client in (alice, bob):
        messages = [await expect(client, "message") for _ in range(count)]
        assert [(m["id"], m["text"]) for m in messages] == [(n + 1, f"m{n}") for n in range(count)]
    replies = {(ok := await expect(alice, "ok"))["ref"]: ok["id"] for _ in range(count)}
    assert replies == {f"s{n}": n + 1 for n in range(count)}


async def test_resume_on_the_other_process(cluster: Cluster) -> None:
    alice, bob = await lobby(cluster)
    for n in range(3):
        await alice.call("send", room="lobby", text=f"m{n}")
    await expect(bob, "message", id=1)
    await bob.close()
    for n in range(3, 6):
        await alice.call("send", room="lobby", text=f"m{n}")
    # Bob's browser comes back through the other process.
    bob_again = await LocalClient.connect(cluster.a, BOB)
    joined = await bob_again.call("join", room="lobby", since=1)
    assert [m["id"] for m in joined["history"]] == [2, 3, 4, 5, 6]
    assert joined["gap"] is False


async def test_private_messages_reach_every_tab_in_every_process(cluster: Cluster) -> None:
    alice = await LocalClient.connect(cluster.a, ALICE)
    bob_b = await LocalClient.connect(cluster.b, BOB)
    bob_a = await LocalClient.connect(cluster.a, BOB)
    carol = await LocalClient.connect(cluster.b, CAROL)
    reply = await alice.call("send_private", to=BOB.id, text="psst")
    for client in (alice, bob_a, bob_b):
        private = await expect(client, "private")
        assert (private["id"], private["text"], private["to"]) == (
            reply["id"],
            "psst",
            BOB.to_wire(),
        )
    await bob_b.call("ping")
    await carol.call("ping")
    assert carol.events("private") == []
    await carol.close()
    with pytest.raises(ReplyError) as error:
        await alice.call("send_private", to=CAROL.id, text="anyone?")
    assert error.value.code == "recipient_unavailable"


async def test_members_and_presence_are_per_user_across_processes(cluster: Cluster) -> None:
    alice, bob = await lobby(cluster)

    def names(reply: dict[str, Any]) -> list[str]:
        return sorted(user["name"] for user in reply["members"])

    assert names(await alice.call("members", room="lobby")) == ["Alice", "Bob"]
    assert names(await bob.call("members", room="lobby")) == ["Alice", "Bob"]
    # A second tab of Bob, on the other process: no join; closing one tab: no leave.
    bob_tab = await LocalClient.connect(cluster.a, BOB)
    await bob_tab.call("join", room="lobby")
    await bob.close()
    await alice.call("send", room="lobby", text="still here?")
    await expect(alice, "message")
    assert alice.events("presence") == []
    assert names(await alice.call("members", room="lobby")) == ["Alice", "Bob"]
    rooms = (await alice.call("rooms"))["rooms"]
    assert [(r["name"], r["members"]) for r in rooms] == [("lobby", 2)]
    await bob_tab.close()
    await expect(alice, "presence", event="leave", user=BOB.to_wire())
    assert names(await alice.call("members", room="lobby")) == ["Alice"]
    assert alice.events("presence") == []  # one leave, after the last tab


async def test_rename_and_delete_are_seen_on_both_sides(cluster: Cluster) -> None:
    alice, bob = await lobby(cluster)
    carol = await LocalClient.connect(cluster.b, CAROL)
    await carol.call("rooms", watch=True)
    renamed = await alice.call("update_room", room="lobby", title="The big lobby")
    assert renamed["room"]["title"] == "The big lobby"
    for client in (bob, carol):
        event = await expect(client, "room", event="updated")
        assert event["room"]["title"] == "The big lobby"
    assert (await cluster.b.get_room("lobby")).title == "The big lobby"
    await alice.call("delete_room", room="lobby")
    for client in (alice, bob, carol):
        await expect(client, "room", event="deleted")
    with pytest.raises(ReplyError) as error:
        await bob.call("send", room="lobby", text="hello?")
    assert error.value.code == "no_such_room"
    # The name is free again and the new room starts from id 1 with nobody in it.
    await bob.call("create_room", room="lobby")
    joined = await alice.call("join", room="lobby")
    assert (joined["history"], [u["id"] for u in joined["members"]]) == ([], [ALICE.id])


async def test_a_changed_name_shows_in_the_other_process(cluster: Cluster) -> None:
    alice, bob = await lobby(cluster)
    alicia = User(id=ALICE.id, name="Alicia", avatar=None)
    await cluster.a.update_user(alicia)
    update = await expect(bob, "presence", event="update")
    assert update["user"] == alicia.to_wire()
    members = (await bob.call("members", room="lobby"))["members"]
    assert alicia.to_wire() in members
    await alice.call("send", room="lobby", text="new name")
    assert (await expect(bob, "message"))["from"] == alicia.to_wire()


async def test_direct_rooms_across_processes(cluster: Cluster) -> None:
    alice = await LocalClient.connect(cluster.a, ALICE)
    bob = await LocalClient.connect(cluster.b, BOB)
    room = (await alice.call("direct", to=BOB.id))["room"]
    created = await expect(bob, "room", event="created")
    assert created["room"]["name"] == room["name"]
    await bob.call("join", room=room["name"])
    await alice.call("join", room=room["name"])
    await alice.call("send", room=room["name"], text="just us")
    assert (await expect(bob, "message"))["text"] == "just us"
    carol = await LocalClient.connect(cluster.b, CAROL)
    with pytest.raises(ReplyError) as error:
        await carol.call("join", room=room["name"])
    assert error.value.code == "no_such_room"


async def test_a_dead_process_users_leave_within_the_bound(cluster: Cluster) -> None:
    _, bob = await lobby(cluster)
    doomed = cluster.server()
    async with doomed:
        carol = await LocalClient.connect(doomed, CAROL)
        await carol.call("join", room="lobby")
        alice_tab = await LocalClient.connect(doomed, ALICE)
        await alice_tab.call("join", room="lobby")
        await expect(bob, "presence", event="join", user=CAROL.to_wire())
        # The process stops dead: no leave, no clean-up, its heartbeat just ends.
    started = anyio.current_time()
    bound = EXPIRY + HEARTBEAT
    left = await expect(bob, "presence", within=bound + 1, event="leave")
    assert anyio.current_time() - started <= bound + 0.5
    assert left["user"] == CAROL.to_wire()  # Alice is still on process a: no leave
    members = (await bob.call("members", room="lobby"))["members"]
    assert sorted(u["id"] for u in members) == [ALICE.id, BOB.id]
    # Announced once: a few more heartbeats bring no second notice.
    await anyio.sleep(3 * HEARTBEAT)
    await bob.call("ping")
    assert bob.events("presence") == []


async def test_an_auto_room_goes_when_its_last_members_die_with_their_process() -> None:
    async with (
        redis_prefix() as (url, prefix),
        redis_cluster(url, prefix, auto_create=True) as cluster,
    ):
        watcher = await LocalClient.connect(cluster.a, ALICE)
        await watcher.call("rooms", watch=True)
        doomed = cluster.server()
        async with doomed:
            carol = await LocalClient.connect(doomed, CAROL)
            await carol.call("join", room="pop-up")  # made by the join, gone with its members
            await expect(watcher, "room", event="created")
            # The process stops dead: Carol never leaves, one of the others announces it.
        deleted = await expect(watcher, "room", within=EXPIRY + HEARTBEAT + 2, event="deleted")
        assert deleted["room"]["name"] == "pop-up"
        assert await cluster.a.store.get_room("pop-up") is None
