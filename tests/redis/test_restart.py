"""A server on Redis entered a second time holds no presence of its first run."""

from __future__ import annotations

import pytest

from chatcore import ChatServer
from chatcore.redis import RedisBroker, RedisStore
from chatcore.testing import LocalClient

from .stack import ALICE, BOB, EXPIRY, HEARTBEAT
from .support import redis_prefix

pytestmark = [pytest.mark.anyio, pytest.mark.network]


async def test_a_server_entered_again_has_no_member_or_online_user_of_its_first_run() -> None:
    async with redis_prefix() as (url, prefix):
        broker = RedisBroker(url, prefix=prefix, expiry=EXPIRY, heartbeat=HEARTBEAT)
        server = ChatServer(broker=broker, store=RedisStore(url, prefix=prefix, broker=broker))
        async with server:
            alice = await LocalClient.connect(server, ALICE)
            await alice.call("create_room", room="lobby")
            await alice.call("join", room="lobby")
        async with server:
            bob = await LocalClient.connect(server, BOB)
            joined = await bob.call("join", room="lobby")
            assert [member["id"] for member in joined["members"]] == [BOB.id]
            assert not await server.broker.is_online(ALICE.id)
