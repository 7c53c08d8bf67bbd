"""Redis Cluster URLs (``?cluster=true``): recognised, and refused with a clear reason.

chatcore's Redis backends keep a room's state and the process registry in keys that its Lua
scripts reach across rooms and processes (``docs/scale.md``, "Redis Cluster"), which a
cluster cannot run atomically. Until they are split per hash slot, a cluster URL is refused
at start-up rather than connected to one node, where every key of another node's slots would
answer ``MOVED`` at run time.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from ..wire.errors import UsageError

__all__ = ("refuse_cluster", "wants_cluster")

_TRUE = ("1", "true", "yes", "on")


def wants_cluster(url: str) -> bool:
    """Whether ``url`` asks for Redis Cluster (``cluster=true`` in its query)."""
    values = parse_qs(urlsplit(url).query).get("cluster", [])
    return any(value.lower() in _TRUE for value in values)


def refuse_cluster(url: str) -> None:
    """A :class:`UsageError` for a cluster URL (not supported yet)."""
    if wants_cluster(url):
        raise UsageError(
            "Redis Cluster (cluster=true in CHATCORE_REDIS_URL) is not supported yet: "
            "use one Redis server (with a replica and Sentinel for failover); see docs/scale.md"
        )
