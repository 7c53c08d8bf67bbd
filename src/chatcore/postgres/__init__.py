"""A PostgreSQL broker for many server processes without Redis: :class:`PostgresBroker`.

Install psycopg 3 (the ``postgres`` extra). Fan-out goes over ``LISTEN``/``NOTIFY``, presence
lives in tables the broker creates itself; rooms and history stay in the store (with Django,
the ORM store on the same database)::

    broker = PostgresBroker("postgres://chat@db/site", prefix="chat_")
    server = ChatServer(broker=broker, store=OrmStore())
"""

from ._link import URL_VARIABLE as URL_VARIABLE
from .broker import PostgresBroker as PostgresBroker

__all__ = ("URL_VARIABLE", "PostgresBroker")
