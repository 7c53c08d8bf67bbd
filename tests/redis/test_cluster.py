"""Redis Cluster: the local cluster the tests start, and what a cluster URL selects."""

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


def test_a_cluster_url_selects_the_cluster_wire_and_a_sharded_layout() -> None:
    # Nothing connects before the first command: no cluster is needed to check the choice.
    url = "redis://127.0.0.1:7000/0?cluster=true"
    broker = RedisBroker(url, prefix="p:")
    assert broker.wire.cluster
    for backend in (broker, RedisStore(url, prefix="p:"), RedisStore(prefix="p:", broker=broker)):
        assert backend.layout.sharded
        assert len(backend.layout.groups) == 16
    assert len(RedisBroker(url + "&groups=64", prefix="p:").layout.groups) == 64
    with pytest.raises(UsageError, match="single-server client"):
        _ = broker.client  # the application's redis-py client: not for a cluster


@pytest.mark.network
@pytest.mark.cluster
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
