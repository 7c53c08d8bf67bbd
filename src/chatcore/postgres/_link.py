"""The PostgreSQL broker's connection for commands, and the one place its errors become
``Unavailable``."""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import re
from collections.abc import Sequence
from typing import Any

import anyio
import psycopg

from ..wire.errors import Unavailable, UsageError
from ._schema import SCHEMA_VERSION, schema

__all__ = (
    "LOST",
    "URL_VARIABLE",
    "Link",
    "check_prefix",
    "close",
    "connect",
    "create_tables",
    "resolve_url",
)

log = logging.getLogger("chatcore.postgres")

URL_VARIABLE = "CHATCORE_POSTGRES_URL"

#: What a lost, refused or overloaded database raises; the call then answers ``unavailable``.
LOST = (psycopg.Error, OSError, TimeoutError)

_PREFIX = re.compile(r"[a-z_][a-z0-9_]{0,39}")


def resolve_url(url: str | None) -> str:
    """``url``, else ``$CHATCORE_POSTGRES_URL``; a :class:`UsageError` when neither is set."""
    url = url or os.environ.get(URL_VARIABLE)
    if not url:
        raise UsageError(f"no PostgreSQL URL: pass url=... or set {URL_VARIABLE}")
    return url


def check_prefix(prefix: str) -> str:
    """The prefix of table, function and channel names: 1-40 of ``a-z 0-9 _``."""
    if not _PREFIX.fullmatch(prefix):
        raise UsageError("the prefix is 1 to 40 of a-z, 0-9 and _, not starting with a digit")
    return prefix


async def connect(url: str, limit: float, name: str) -> psycopg.AsyncConnection[Any]:
    """An autocommit connection named ``name`` in ``pg_stat_activity``, waiting at most
    ``limit`` seconds (rounded) for the server.

    Its commits do not wait for the disk (``synchronous_commit = off``): the broker's rows are
    presence and publishing state, rebuilt by heartbeats, and waiting for a flush at every
    publish would cost milliseconds each. A crash of the database may lose the last few
    hundred milliseconds of them, never anything of the store's."""
    return await psycopg.AsyncConnection.connect(
        url,
        autocommit=True,
        connect_timeout=max(1, round(limit)),
        application_name=name,
        options="-c synchronous_commit=off",
    )


async def close(connection: psycopg.AsyncConnection[Any] | None, limit: float) -> None:
    """Close ``connection`` (if any), even in a cancelled scope, giving up after ``limit`` s."""
    if connection is None:
        return
    with (
        anyio.CancelScope(shield=True),
        anyio.move_on_after(limit),
        contextlib.suppress(*LOST),
    ):
        await connection.close()


async def create_tables(url: str, prefix: str, limit: float) -> None:
    """Create (or bring up to date) the tables and functions of ``prefix``, unless they are;
    :class:`Unavailable` when the database cannot be reached."""
    try:
        with anyio.fail_after(limit * 4):
            connection = await connect(url, limit, "chatcore-schema")
            try:
                async with connection.transaction():
                    # One process at a time; the others then find the version stored.
                    await connection.execute(
                        "SELECT pg_advisory_xact_lock(hashtext(%s))", [prefix + "schema"]
                    )
                    found = await connection.execute(
                        "SELECT to_regclass(%s) IS NOT NULL", [prefix + "schema"]
                    )
                    row = await found.fetchone()
                    if row and row[0]:
                        found = await connection.execute(f"SELECT version FROM {prefix}schema")
                        row = await found.fetchone()
                        if row and row[0] == SCHEMA_VERSION:
                            return
                    await connection.execute(schema(prefix))
            finally:
                await close(connection, limit)
    except LOST as error:
        raise Unavailable("PostgreSQL is unreachable") from error


class Link:
    """``size`` autocommit connections, each opened on first use and again after a failure,
    taken in turn. Each call is one statement (the broker's functions), so tasks may share
    them: psycopg runs one at a time per connection, and the database orders what needs
    order (a room's messages) itself."""

    def __init__(self, url: str, timeout: float, name: str, size: int, prefix: str) -> None:
        if size < 1:
            raise UsageError("a broker needs at least one connection for commands")
        self.url = url
        self.prefix = prefix
        self.timeout = timeout
        self.name = name
        self._connections: list[psycopg.AsyncConnection[Any] | None] = [None] * size
        self._turn = itertools.cycle(range(size))
        self._opening = anyio.Lock()

    async def _open(self, slot: int) -> psycopg.AsyncConnection[Any]:
        async with self._opening:
            connection = self._connections[slot]
            if connection is None or connection.closed:
                connection = await connect(self.url, self.timeout, self.name)
                self._connections[slot] = connection
            return connection

    async def rows(self, query: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run ``query``; its rows. :class:`Unavailable` when the database cannot answer.

        A process that publishes without running the broker (an emitter) may be the first to
        meet a database: when the broker's tables or functions are missing, they are created
        and the statement runs again (it did not run the first time)."""
        try:
            return await self._rows(query, params)
        except (psycopg.errors.UndefinedFunction, psycopg.errors.UndefinedTable):
            await create_tables(self.url, self.prefix, self.timeout)
            return await self._rows(query, params)

    async def _rows(self, query: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        slot = next(self._turn)
        connection = self._connections[slot]
        try:
            with anyio.fail_after(self.timeout):
                if connection is None or connection.closed:
                    connection = await self._open(slot)
                cursor = await connection.execute(query, params)
                return await cursor.fetchall() if cursor.description else []
        except LOST as error:
            if isinstance(error, psycopg.errors.ProgrammingError):
                raise  # a bug of ours, not an outage
            if connection is not None and (connection.broken or isinstance(error, TimeoutError)):
                # A late reply would answer the next call: this connection is done.
                if self._connections[slot] is connection:
                    self._connections[slot] = None
                await close(connection, self.timeout)
            raise Unavailable() from error

    async def value(self, query: str, params: Sequence[Any] = ()) -> Any:
        """The first column of the first row of ``query`` (None without rows)."""
        rows = await self.rows(query, params)
        return rows[0][0] if rows else None

    async def aclose(self) -> None:
        connections = self._connections
        self._connections = [None] * len(connections)
        for connection in connections:
            await close(connection, self.timeout)
