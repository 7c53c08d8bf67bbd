"""The scale-out engines by URL: the broker (and, where the engine has one, the store) for
``redis://``, ``rediss://``, ``unix://``, ``postgres://`` or ``postgresql://``.

For a Starlette app (or any app that builds its :class:`~chatcore.ChatServer` itself)::

    broker, store = engines.from_url(os.environ["CHAT_URL"], prefix="chat_", store=my_store)
    server = ChatServer(broker=broker, store=store)
"""

from __future__ import annotations

from .backends.broker import Broker
from .backends.store import Store
from .wire.errors import UsageError

__all__ = ("POSTGRES_SCHEMES", "REDIS_SCHEMES", "from_url")

REDIS_SCHEMES = frozenset({"redis", "rediss", "unix"})
POSTGRES_SCHEMES = frozenset({"postgres", "postgresql"})


def from_url(
    url: str, *, prefix: str | None = None, store: Store | None = None, history_size: int = 1000
) -> tuple[Broker, Store]:
    """The broker of ``url`` under ``prefix`` (each engine's default prefix if None), and the
    store: ``store`` if given; else, for Redis, the Redis store on the same URL given the
    broker (keeping ``history_size`` messages per room). PostgreSQL's broker keeps no history:
    pass the store the processes share (with Django, the ORM store), or :class:`UsageError`."""
    scheme = url.partition("://")[0].lower()
    if scheme in REDIS_SCHEMES:
        from .redis import RedisBroker, RedisStore

        prefix = "chatcore:" if prefix is None else prefix
        redis_broker = RedisBroker(url, prefix=prefix)
        if store is None:
            store = RedisStore(prefix=prefix, history_size=history_size, broker=redis_broker)
        return redis_broker, store
    if scheme in POSTGRES_SCHEMES:
        from .postgres import PostgresBroker

        if store is None:
            raise UsageError("the PostgreSQL broker keeps no history: pass store=...")
        return PostgresBroker(url, prefix="chatcore_" if prefix is None else prefix), store
    raise UsageError(f"no broker for {scheme!r} URLs (redis://, postgres://)")
