"""The Redis broker's publishes are timed into chatcore_broker_publish_seconds."""

from __future__ import annotations

import pytest

from chatcore import metrics
from chatcore.testing import LocalClient
from tests.prometheus import samples
from tests.redis.stack import ALICE, BOB, expect, redis_cluster
from tests.redis.support import redis_prefix

pytestmark = [pytest.mark.anyio, pytest.mark.network]


def publishes() -> tuple[float, float]:
    """The histogram's count and its count in the +Inf bucket."""
    found = samples(metrics.render()[0].decode())
    return (
        found["chatcore_broker_publish_seconds_count"],
        found["chatcore_broker_publish_seconds_bucket{le=+Inf}"],
    )


async def test_redis_publishes_are_timed() -> None:
    async with redis_prefix() as (url, prefix), redis_cluster(url, prefix) as cluster:
        count, _ = publishes()
        alice = await LocalClient.connect(cluster.a, ALICE)
        bob = await LocalClient.connect(cluster.b, BOB)
        await alice.call("create_room", room="lobby")
        await bob.call("join", room="lobby")
        await alice.call("join", room="lobby")
        await expect(bob, "presence", event="join", user=ALICE.to_wire())
        after, inf = publishes()
    assert after - count >= 2  # the room's creation and the presence notices, at least
    assert inf == after
