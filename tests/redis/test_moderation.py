"""Moderation across two processes on Redis: a kick, ban or mute given on server ``a`` takes
effect on the member's connections on ``b``; bans hold for a server started afresh."""

from __future__ import annotations

import anyio
import pytest

from chatcore.testing import LocalClient
from tests.redis.stack import ALICE, BOB, CAROL, Cluster, expect, redis_cluster

from .test_chat import lobby

pytestmark = [pytest.mark.anyio, pytest.mark.network]


async def _code(client: LocalClient, kind: str, **fields: object) -> str:
    reply = await client.request(kind, **fields)
    return str(reply["code"]) if reply["type"] == "error" else "ok"


async def test_a_kick_on_one_process_takes_the_member_out_on_the_other(cluster: Cluster) -> None:
    alice, bob = await lobby(cluster)
    await alice.call("kick", room="lobby", user=BOB.id, reason="calm down")
    assert (await expect(bob, "kicked", room="lobby"))["reason"] == "calm down"
    await expect(alice, "presence", event="leave", user=BOB.to_wire())
    assert await _code(bob, "send", room="lobby", text="hi") == "not_member"
    members = await alice.call("members", room="lobby")
    assert [m["id"] for m in members["members"]] == [ALICE.id]
    await alice.call("send", room="lobby", text="after the kick")
    await expect(alice, "message", text="after the kick")
    await anyio.sleep(0.2)
    assert [f for f in bob.pump() if f["type"] == "message"] == []
    await bob.call("join", room="lobby")


async def test_a_ban_holds_in_every_process_and_after_a_restart(cluster: Cluster) -> None:
    alice, bob = await lobby(cluster)
    await alice.call("ban", room="lobby", user=BOB.id, reason="spam")
    await expect(bob, "kicked", room="lobby")
    await expect(bob, "moderation", action="ban", user=BOB.id, by=ALICE.id)
    await expect(alice, "moderation", action="ban", user=BOB.id)
    again = await LocalClient.connect(cluster.b, BOB)
    assert await _code(again, "join", room="lobby") == "banned"
    async with redis_cluster(cluster.url, cluster.prefix) as fresh:
        bob_later = await LocalClient.connect(fresh.a, BOB)
        assert await _code(bob_later, "join", room="lobby") == "banned"
        log = await LocalClient.connect(fresh.b, ALICE)
        entries = (await log.call("audit", room="lobby"))["entries"]
        assert [(e["action"], e["user"], e["reason"]) for e in entries] == [("ban", BOB.id, "spam")]


async def test_a_mute_on_one_process_silences_the_other(cluster: Cluster) -> None:
    alice, bob = await lobby(cluster)
    await alice.call("mute", room="lobby", user=BOB.id)
    await expect(bob, "moderation", action="mute")
    assert await _code(bob, "send", room="lobby", text="hi") == "muted"
    assert await _code(bob, "typing", room="lobby") == "muted"
    await alice.call("unmute", room="lobby", user=BOB.id)
    await expect(bob, "moderation", action="unmute")
    await bob.call("send", room="lobby", text="thanks")


async def test_a_private_room_and_a_block_across_processes(cluster: Cluster) -> None:
    alice = await LocalClient.connect(cluster.a, ALICE)
    carol = await LocalClient.connect(cluster.b, CAROL)
    bob = await LocalClient.connect(cluster.b, BOB)
    await alice.call("create_room", room="club", private=True)
    assert await _code(carol, "join", room="club") == "no_such_room"
    assert "club" not in [r["name"] for r in (await carol.call("rooms"))["rooms"]]
    await alice.call("invite", room="club", user=BOB.id)
    await expect(bob, "room", event="created")
    await bob.call("join", room="club")
    await alice.call("block", user=BOB.id)
    assert await _code(bob, "send_private", to=ALICE.id, text="hi") == "forbidden"
    await carol.call("send_private", to=ALICE.id, text="hi")
