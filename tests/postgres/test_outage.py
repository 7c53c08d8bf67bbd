"""A restart of the database under the PostgreSQL broker: a private server, stopped mid-chat."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from chatcore.postgres import PostgresBroker
from chatcore.testing import LocalClient
from tests.postgres.support import throwaway_postgres
from tests.postgres.test_broker import in_lobby, two_servers
from tests.redis.stack import ALICE, BOB, expect
from tests.redis.test_order import SlowStore

pytestmark = [pytest.mark.anyio, pytest.mark.network]


async def test_a_database_restart_answers_unavailable_then_fills_the_gap_and_goes_on() -> None:
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
        # Back: each process listens again and fills its rooms' gaps from the store (here
        # nothing was stored meanwhile); the sockets stay open and the chat goes on.
        # A send whose publish meets a command connection the restart closed would be stored
        # and answered "unavailable" (the gap fill of the other process may then bring it):
        # let each of a's connections meet the restart first, and both listen again.
        for _ in range(2 * len(a.broker._link._connections)):  # type: ignore[attr-defined]
            await when_back(alice, "members", room="lobby")
        with anyio.fail_after(15):
            while True:
                if all(isinstance(s.broker, PostgresBroker) and s.broker.listening for s in (a, b)):
                    break
                await anyio.sleep(0.02)  # the broker's state: no event tells of it
        sent = (await when_back(alice, "send", room="lobby", text="after"))["id"]
        assert sent == first + 1
        assert (await expect(bob, "message", id=sent, within=15))["text"] == "after"
        assert (alice.close_code, bob.close_code) == (None, None)
        # Each process's presence is re-asserted at its next heartbeat after the outage (one
        # may first have taken the other for dead: its deadline passed while the database was
        # down), so both are members again within a heartbeat or two.
        with anyio.fail_after(5):
            while True:
                reply = await when_back(bob, "members", room="lobby")
                if {user["id"] for user in reply["members"]} == {ALICE.id, BOB.id}:
                    break
                await anyio.sleep(0.1)  # the next heartbeat: no event to wait on
        bob.pump()
        assert not [f for f in bob.inbox if f["type"] == "message"]  # nothing twice


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
