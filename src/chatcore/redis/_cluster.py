"""chatcore's own options in a Redis URL's query, which redis-py's URL parser does not know.

``cluster=true`` selects Redis Cluster (the cluster wire, ``_cluster_wire``, and a sharded
layout of 16 groups); ``groups=N`` and ``sharded=true|false`` set the key layout
(``_layout``) on any server. :func:`without_cluster_options` leaves them out for redis-py.
"""

from __future__ import annotations

from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit

from ..wire.errors import UsageError

__all__ = ("url_groups", "url_sharded", "wants_cluster", "without_cluster_options")

_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")
# chatcore's own query options, which redis-py's URL parser does not know.
_OPTIONS = ("cluster", "groups", "sharded")


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


def url_sharded(url: str) -> bool | None:
    """Whether ``url`` asks for sharded pub/sub (``sharded=true|false``), if it says; a
    :class:`UsageError` for another value."""
    values = parse_qs(urlsplit(url).query).get("sharded", [])
    if not values:
        return None
    flag = values[-1].lower()
    if flag not in (*_TRUE, *_FALSE):
        raise UsageError(f"sharded={values[-1]!r} in the Redis URL: true or false")
    return flag in _TRUE


def without_cluster_options(url: str) -> str:
    """``url`` without chatcore's own query options (``cluster``, ``groups``, ``sharded``),
    for redis-py's URL parser."""
    base, _, query = url.partition("?")
    kept = [(k, v) for k, v in parse_qsl(query, keep_blank_values=True) if k not in _OPTIONS]
    if len(kept) == len(parse_qsl(query, keep_blank_values=True)):
        return url
    return f"{base}?{urlencode(kept)}" if kept else base
