"""A restart of the database under the PostgreSQL broker: a private server, stopped mid-chat."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from chatcore.testing import LocalClient
from tests.postgres.support import throwaway_postgres
from tests.postgres.test_broker import in_lobby, two_servers
from tests.redis.stack import ALICE, BOB, expect, expect_closed
from tests.redis.test_order import SlowStore

pytestmark = [pytest.mark.anyio, pytest.mark.network]


async def test_a_database_restart_answers_unavailable_then_closes_with_1013_and_goes_on() -> None:
    async with throwaway_postgres() as database, two_servers(SlowStore(), database.url) as (a, b):
        alice, bob = await in_lobby(a, b)
        await bob.call("join", room="lobby")
        first = (await alice.call("send", room="lobby", text="before"))["id"]
        await expect(bob, "message", id=first)

        await anyio.to_thread.run_sync(database.stop)
        # Down: what needs the broker answers "unavailable"; the sockets stay open.
        refused = await bob.request("members", room="lobby")
        assert refused["code"] == "unavailable"
        assert (await bob.request("ping"))["type"] == "ok"

        await anyio.to_thread.run_sync(database.start)
        # Back: each process listens again and closes its sockets (it may have missed
        # notifications); the clients come back and the chat goes on with the next id.
        assert await expect_closed(alice, within=15) == 1013
        assert await expect_closed(bob, within=15) == 1013
        alice = await LocalClient.connect(a, ALICE)
        bob = await LocalClient.connect(b, BOB)
        for client in (alice, bob):
            joined = await when_back(client, "join", room="lobby", since=first)
            assert joined["gap"] is False
        sent = (await when_back(alice, "send", room="lobby", text="after"))["id"]
        assert sent == first + 1
        assert (await expect(bob, "message", id=sent))["text"] == "after"
        # Each process's presence is re-asserted at its next heartbeat after the outage (one
        # may first have taken the other for dead: its deadline passed while the database was
        # down), so both are members again within a heartbeat or two.
        with anyio.fail_after(5):
            while True:
                reply = await when_back(bob, "members", room="lobby")
                if {user["id"] for user in reply["members"]} == {ALICE.id, BOB.id}:
                    break
                await anyio.sleep(0.1)  # the next heartbeat: no event to wait on


async def when_back(client: LocalClient, kind: str, **fields: Any) -> dict[str, Any]:
    """Send until the reply is not ``unavailable`` (a command connection the restart closed
    answers so once, as with Redis)."""
    with anyio.fail_after(5):
        while True:
            reply = await client.request(kind, **fields)
            if reply.get("code") != "unavailable":
                assert reply["type"] == "ok", reply
                return reply
            await anyio.sleep(0.1)
