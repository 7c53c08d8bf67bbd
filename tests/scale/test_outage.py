"""Redis restarted under two example processes: nobody crashes, and the chat resumes intact."""

from __future__ import annotations

import pytest

from chatcore.client import ReplyError
from tests.redis.support import need_redis, throwaway_redis, unique_prefix
from tests.scale.pair import example_pair, send_when_back, until

pytestmark = [pytest.mark.anyio, pytest.mark.network]


async def test_the_chat_survives_a_redis_restart() -> None:
    need_redis()  # the redis-server program comes with it
    # A private redis-server on a free port: the machine's Redis is never restarted.
    async with throwaway_redis() as redis, example_pair(redis.url, unique_prefix()) as pair:
        alice = await pair.open(0, "Alice")
        bob = await pair.open(1, "Bob")
        carol = await pair.open(1, "Carol", reconnect=False)  # leaves during the outage
        await alice.create_room("hall")
        for client in (alice, bob, carol):
            await client.join("hall")
        first = await alice.send("hall", "before")
        for client in (bob, carol):
            assert (await until(client, "message"))[0]["id"] == first

        await redis.stop()
        # Requests that need Redis answer `unavailable`; the sockets stay open.
        for client, request in ((alice, "send"), (bob, "members")):
            with pytest.raises(ReplyError) as refused:
                await client.request(request, room="hall", text="during the outage")
            assert refused.value.code == "unavailable"
        await bob.ping()  # needs no Redis: still served
        assert (alice.sessions, bob.sessions) == (1, 1)
        await carol.close()  # she misses what follows
        assert pair.alive()

        await redis.start()
        # Each process resubscribes and fills its rooms' gaps from the store: no socket is
        # closed, nobody reconnects (Alice's and Bob's clients keep their first session).
        sent = [await send_when_back(alice, "hall", f"after {n}") for n in range(3)]
        assert sent == [first + 1, first + 2, first + 3]  # "during the outage" was not stored
        received = [(await until(bob, "message"))[0] for _ in sent]
        assert [(m["id"], m["text"]) for m in received] == [
            (first + n + 1, f"after {n}") for n in range(3)
        ]
        assert pair.alive()
        assert (alice.sessions, bob.sessions) == (1, 1)

        # Carol comes back on the other process and resumes from the last id she saw.
        carol = await pair.open(0, "Carol")
        resumed = await carol.request("join", room="hall", since=first)
        assert resumed["gap"] is False
        assert [(m["id"], m["text"]) for m in resumed["history"]] == [
            (m["id"], m["text"]) for m in received
        ]
        # Her leave from process two could not be written during the outage and she is back
        # before it is made good (at that process's next heartbeat): to the room she never left.
        members = await bob.members("hall")
        assert sorted(user["id"] for user in members) == ["alice", "bob", "carol"]
        assert await carol.members("hall") == members
        history = (await bob.history("hall"))["messages"]
        assert [m["text"] for m in history] == ["before", "after 0", "after 1", "after 2"]
