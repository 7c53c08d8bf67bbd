"""PostgreSQL for tests: a database of this test run's own, and a unique prefix per test.

The machine's server (``$CHATCORE_TEST_POSTGRES``, trust auth) gets one database per test
process, named after its pid, created on first use and dropped when the process exits; tests
never touch the shared ``test`` database's tables.
"""

from __future__ import annotations

import atexit
import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

import psycopg
from psycopg import sql

from tests.helpers import port_open, require

__all__ = (
    "POSTGRES",
    "drop_database",
    "need_postgres",
    "postgres_prefix",
    "run_database",
    "unique_prefix",
)

#: The server that gets throwaway databases (trust auth, as on this machine and in CI).
POSTGRES = os.environ.get("CHATCORE_TEST_POSTGRES", "postgres://postgres@127.0.0.1:5432/test")

_run_database: str | None = None


def need_postgres() -> str:
    """The admin URL; skip (fail under CI) when nothing answers there."""
    where = urlsplit(POSTGRES)
    if not port_open(where.hostname or "127.0.0.1", where.port or 5432):
        require("PostgreSQL", f"nothing answers on {where.hostname}:{where.port}")
    return POSTGRES


def database_url(name: str) -> str:
    return POSTGRES.rsplit("/", 1)[0] + "/" + name


def create_database(name: str) -> str:
    with psycopg.connect(POSTGRES, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return database_url(name)


def drop_database(name: str) -> None:
    with psycopg.connect(POSTGRES, autocommit=True) as admin:
        drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        admin.execute(drop)


def run_database() -> str:
    """The URL of this test process's database (``chatcore_pg_<pid>_<hex>``), made once."""
    global _run_database
    need_postgres()
    if _run_database is None:
        name = f"chatcore_pg_{os.getpid()}_{secrets.token_hex(3)}"
        url = create_database(name)
        atexit.register(drop_database, name)
        _run_database = url
    return _run_database


def unique_prefix() -> str:
    return f"t{secrets.token_hex(5)}_"


@asynccontextmanager
async def postgres_prefix() -> AsyncIterator[tuple[str, str]]:
    """This run's database URL and a prefix no other test uses."""
    yield run_database(), unique_prefix()
