"""Redis backends for many server processes: :class:`RedisBroker` and :class:`RedisStore`.

Install the ``redis`` extra. Give both the same URL (or set ``CHATCORE_REDIS_URL``) and
prefix, and hand the broker to the store so messages keep their order across processes::

    broker = RedisBroker(prefix="chat:")
    store = RedisStore(prefix="chat:", broker=broker)
    server = ChatServer(broker=broker, store=store)
"""

from ._client import URL_VARIABLE as URL_VARIABLE
from .broker import RedisBroker as RedisBroker
from .store import RedisStore as RedisStore

__all__ = ("URL_VARIABLE", "RedisBroker", "RedisStore")
