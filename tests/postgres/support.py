"""PostgreSQL for tests: a database of this test run's own, and a unique prefix per test.

The machine's server (``$CHATCORE_TEST_POSTGRES``, trust auth) gets one database per test
process, named after its pid, created on first use and dropped when the process exits; tests
never touch the shared ``test`` database's tables.
"""

from __future__ import annotations

import atexit
import os
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
from psycopg import sql

from chatcore.postgres import PostgresBroker
from tests.helpers import port_open, require

__all__ = (
    "POSTGRES",
    "ThrowawayPostgres",
    "drop_database",
    "need_postgres",
    "postgres_prefix",
    "run_database",
    "terminate_listener",
    "throwaway_postgres",
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


async def terminate_listener(broker: PostgresBroker) -> None:
    """End ``broker``'s listening session from the database's side (as a restart or a network
    cut would); the broker must notice and listen again by itself."""
    async with await psycopg.AsyncConnection.connect(broker.url, autocommit=True) as admin:
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
            [f"chatcore-{broker.process}-l"],
        )


class ThrowawayPostgres:
    """A private PostgreSQL server on a free port, in a temporary directory, that a test may
    stop and start again (the machine's server is never restarted). Its data stays between
    a stop and a start; it runs as the ``postgres`` user when the tests run as root."""

    def __init__(self) -> None:
        bin_dir = _postgres_bin()
        self._pg_ctl, self._initdb = str(bin_dir / "pg_ctl"), str(bin_dir / "initdb")
        from tests.redis.support import _free_port

        self.port = _free_port()
        self._dir = Path(tempfile.mkdtemp(prefix="chatcore-postgres-"))
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/postgres"
        self._as: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(self._dir, "postgres", "postgres")
            self._as = ["runuser", "-u", "postgres", "--"]
        self._run(self._initdb, "-D", self._dir / "data", "-A", "trust", "-U", "postgres",
                  "-E", "UTF8", "--no-sync")  # fmt: skip

    def _run(self, *args: str | Path) -> None:
        done = subprocess.run([*self._as, *map(str, args)], capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"{args[0]} failed: {done.stdout}{done.stderr}")

    def start(self) -> None:
        options = f"-p {self.port} -k {self._dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(self._pg_ctl, "-D", self._dir / "data", "-o", options, "-l",
                  self._dir / "log", "-w", "start")  # fmt: skip

    def stop(self) -> None:
        self._run(self._pg_ctl, "-D", self._dir / "data", "-m", "fast", "-w", "stop")

    def remove(self) -> None:
        subprocess.run([*self._as, self._pg_ctl, "-D", str(self._dir / "data"), "-m",
                        "immediate", "stop"], capture_output=True)  # fmt: skip
        shutil.rmtree(self._dir, ignore_errors=True)


def _postgres_bin() -> Path:
    found = shutil.which("pg_ctl")
    if found is not None:
        return Path(found).resolve().parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    if not versions:
        require(
            "PostgreSQL server programs", "pg_ctl is not installed (apt-get install postgresql)"
        )
    return versions[-1].parent


@asynccontextmanager
async def throwaway_postgres() -> AsyncIterator[ThrowawayPostgres]:
    """A running private PostgreSQL server, removed afterwards."""
    server = ThrowawayPostgres()
    try:
        server.start()
        yield server
    finally:
        server.remove()
