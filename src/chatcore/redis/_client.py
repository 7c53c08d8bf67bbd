"""The Redis connection both backends use, and the one place Redis errors become ``Unavailable``."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import redis.asyncio
import redis.exceptions
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from ..wire.errors import Unavailable, UsageError
from ._cluster import wants_cluster, without_cluster_options

__all__ = ("URL_VARIABLE", "make_client", "resolve_url", "unavailable")

URL_VARIABLE = "CHATCORE_REDIS_URL"

# A lost connection is an outage, not something to retry inside one call: a retried script
# could append a message twice, and the callers turn the outage into an `unavailable` reply.
_ERRORS = (
    redis.exceptions.ConnectionError,  # refused, lost, loading its data after a restart
    redis.exceptions.TimeoutError,
    redis.exceptions.ReadOnlyError,  # a replica, during a failover
    redis.exceptions.OutOfMemoryError,
    # Redis Cluster: no master for a slot, a migration that outlasted the timeout, a slot
    # redirected in a loop (the cluster wire raises these once it stops following them)
    redis.exceptions.ClusterDownError,
    redis.exceptions.TryAgainError,
    redis.exceptions.AskError,  # and MovedError
    OSError,
)


def resolve_url(url: str | None) -> str:
    """``url``, else ``$CHATCORE_REDIS_URL``; a :class:`UsageError` when neither is set."""
    url = url or os.environ.get(URL_VARIABLE)
    if not url:
        raise UsageError(f"no Redis URL: pass url=... or set {URL_VARIABLE}")
    return url


def make_client(url: str, timeout: float, name: str | None = None) -> redis.asyncio.Redis:
    """A client with text replies, no hidden retries and bounded waits, named ``name`` in
    ``CLIENT LIST``. (redis-py would refuse chatcore's own query options: they are left out.)
    Not for a cluster URL (a :class:`UsageError`: use ``redis.asyncio.RedisCluster``)."""
    if wants_cluster(url):
        raise UsageError(
            "the broker's redis-py client is a single-server client: on Redis Cluster, make a "
            "redis.asyncio.RedisCluster of your own"
        )
    return redis.asyncio.Redis.from_url(
        without_cluster_options(url),
        client_name=name,
        decode_responses=True,
        # Lone surrogates are valid in JSON strings, so user text may carry them.
        encoding_errors="surrogatepass",
        retry=Retry(NoBackoff(), 0),
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        socket_keepalive=True,
    )


@contextmanager
def unavailable() -> Iterator[None]:
    """Turn a lost or refused Redis connection into :class:`~chatcore.wire.errors.Unavailable`."""
    try:
        yield
    except _ERRORS as error:
        raise Unavailable() from error
