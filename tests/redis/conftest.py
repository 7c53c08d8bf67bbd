"""Fixtures of the Redis full-stack tests: two servers on the shared Redis, own key prefix."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.redis.stack import Cluster, redis_cluster
from tests.redis.support import redis_prefix


@pytest.fixture(autouse=True, params=["wire", "redis-py"])
def redis_connections(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each test twice: over the broker's lean connections (``redis://`` URLs), and over
    redis-py alone, as with TLS or a Unix socket."""
    if request.param == "redis-py":
        monkeypatch.setattr("chatcore.redis.broker.make_wire", lambda client, timeout: None)
        monkeypatch.setattr("chatcore.redis.store.make_wire", lambda client, timeout: None)
    return str(request.param)


@pytest.fixture
async def cluster() -> AsyncIterator[Cluster]:
    async with redis_prefix() as (url, prefix), redis_cluster(url, prefix) as cluster:
        yield cluster
