"""Redis Cluster: the local cluster the tests start, and what a cluster URL does today."""

from __future__ import annotations

import pytest

from chatcore.redis import RedisBroker, RedisStore
from chatcore.redis._cluster import wants_cluster
from chatcore.wire.errors import UsageError
from tests.redis.cluster_support import local_cluster

pytestmark = [pytest.mark.anyio]


@pytest.mark.parametrize(
    ("url", "cluster"),
    [
        ("redis://h:1/0?cluster=true", True),
        ("redis://h:1/0?cluster=1&ssl_cert_reqs=none", True),
        ("rediss://h:1/0?ssl_cert_reqs=none&cluster=TRUE", True),
        ("redis://h:1/0?cluster=false", False),
        ("redis://h:1/0", False),
        ("unix:///tmp/r.sock?db=1", False),
    ],
)
def test_a_cluster_url_is_recognised(url: str, cluster: bool) -> None:
    assert wants_cluster(url) is cluster


def test_a_cluster_url_is_refused_with_its_reason() -> None:
    # One node of a cluster would answer MOVED for most keys at run time: refuse at start-up.
    for make in (RedisBroker, RedisStore):
        with pytest.raises(UsageError, match=r"Redis Cluster .* not supported yet"):
            make("redis://127.0.0.1:7000/0?cluster=true")


@pytest.mark.network
async def test_the_local_cluster_forms_and_survives_a_master_killed() -> None:
    async with local_cluster() as cluster:
        masters = await cluster.masters()
        assert len(masters) == 3
        assert sum(end - start + 1 for ranges in masters.values() for start, end in ranges) == 16384
        victim = next(iter(masters))
        await cluster.kill(victim)
        await cluster.wait_failover(victim)  # a replica took over the victim's slots
        after = await cluster.masters()
        assert victim not in after
        assert len(after) == 3
