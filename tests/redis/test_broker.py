"""Redis broker details beyond the shared contract: what it refuses to deliver."""

from __future__ import annotations

import anyio
import pytest
import redis.asyncio

from chatcore.backends.envelope import Envelope, ToRoom, ToUser
from chatcore.redis import RedisBroker
from chatcore.redis._codec import encode_envelope
from tests.conformance.backends import Process
from tests.redis.support import redis_prefix

pytestmark = [pytest.mark.anyio, pytest.mark.network]


async def test_only_well_formed_envelopes_for_the_channel_are_delivered() -> None:
    async with redis_prefix() as (url, prefix):
        broker = RedisBroker(url, prefix=prefix)
        process = Process(broker)
        client = redis.asyncio.Redis.from_url(url)
        try:
            async with anyio.create_task_group() as group:
                await group.start(process.run)
                await broker.subscribe("user:1")
                channel = broker.channel_key("user:1")
                # Not an envelope, and an envelope addressed to someone else: both dropped.
                await client.publish(channel, "not json\n{}")
                await client.publish(channel, encode_envelope(Envelope(ToUser("2"), "{}")))
                await client.publish(channel, encode_envelope(Envelope(ToRoom("x"), "{}")))
                fine = Envelope(ToUser("1"), '{"type":"private"}')
                await client.publish(channel, encode_envelope(fine))
                assert await process.wait_for(1) == [fine]
                group.cancel_scope.cancel()
        finally:
            await client.aclose()
