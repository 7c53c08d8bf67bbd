"""Redis Cluster URLs (``?cluster=true``): recognised, and refused with a clear reason.

chatcore's Redis backends keep a room's state and the process registry in keys that its Lua
scripts reach across rooms and processes (``docs/scale.md``, "Redis Cluster"), which a
cluster cannot run atomically. Until they are split per hash slot, a cluster URL is refused
at start-up rather than connected to one node, where every key of another node's slots would
answer ``MOVED`` at run time.
"""

from __future__ import annotations

from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit

from ..wire.errors import UsageError

__all__ = ("refuse_cluster", "url_groups", "wants_cluster", "without_cluster_options")

_TRUE = ("1", "true", "yes", "on")
# chatcore's own query options, which redis-py's URL parser does not know.
_OPTIONS = ("cluster", "groups")


def wants_cluster(url: str) -> bool:
    """Whether ``url`` asks for Redis Cluster (``cluster=true`` in its query)."""
    values = parse_qs(urlsplit(url).query).get("cluster", [])
    return any(value.lower() in _TRUE for value in values)


def url_groups(url: str) -> int | None:
    """The number of shard groups ``url`` asks for (``groups=N`` in its query), if any; a
    :class:`UsageError` unless it is a positive whole number."""
    values = parse_qs(urlsplit(url).query).get("groups", [])
    if not values:
        return None
    try:
        groups = int(values[-1])
    except ValueError:
        groups = 0
    if groups < 1:
        raise UsageError(f"groups={values[-1]!r} in the Redis URL: a positive whole number")
    return groups


def without_cluster_options(url: str) -> str:
    """``url`` without chatcore's own query options (``cluster``, ``groups``), for
    redis-py's URL parser."""
    base, _, query = url.partition("?")
    kept = [(k, v) for k, v in parse_qsl(query, keep_blank_values=True) if k not in _OPTIONS]
    if len(kept) == len(parse_qsl(query, keep_blank_values=True)):
        return url
    return f"{base}?{urlencode(kept)}" if kept else base


def refuse_cluster(url: str) -> None:
    """A :class:`UsageError` for a cluster URL (not supported yet)."""
    if wants_cluster(url):
        raise UsageError(
            "Redis Cluster (cluster=true in CHATCORE_REDIS_URL) is not supported yet: "
            "use one Redis server (with a replica and Sentinel for failover); see docs/scale.md"
        )
