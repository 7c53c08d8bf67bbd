"""Fixtures of the Redis full-stack tests: two servers on the shared Redis, own key prefix."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.redis.stack import Cluster, redis_cluster
from tests.redis.support import redis_prefix


@pytest.fixture
async def cluster() -> AsyncIterator[Cluster]:
    async with redis_prefix() as (url, prefix), redis_cluster(url, prefix) as cluster:
        yield cluster
