"""Redis for tests: the machine's server under a unique key prefix, or a throwaway server.

Tests never touch keys outside their own prefix and never restart the shared server; outage
tests start their own ``redis-server`` on a free port and stop or restart that one.
"""

from __future__ import annotations

import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import pytest
import redis.asyncio
from anyio.abc import Process

from tests.helpers import port_open, require

__all__ = (
    "ENGINES",
    "REDIS_URL",
    "ThrowawayRedis",
    "delete_keys",
    "need_redis",
    "redis_prefix",
    "throwaway_redis",
    "unique_prefix",
)

REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
REDIS_URL = f"redis://{REDIS_HOST}:{REDIS_PORT}/0"


def need_redis() -> str:
    """The shared Redis's URL; skip (fail under CI) when nothing answers there."""
    if not port_open(REDIS_HOST, REDIS_PORT):
        require("Redis", f"nothing answers on {REDIS_HOST}:{REDIS_PORT}")
    return REDIS_URL


def unique_prefix() -> str:
    return f"chatcore-test:{secrets.token_hex(6)}:"


async def delete_keys(url: str, prefix: str) -> None:
    """Delete every key that starts with ``prefix`` (on every master, for a cluster URL)."""
    if "cluster=true" in url:
        from tests.redis.cluster_session import delete_cluster_keys

        await delete_cluster_keys(url, prefix)
        return
    client = redis.asyncio.Redis.from_url(url)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*", count=500)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


#: The Redis set-ups the two-process suites run on: the shared server, and the session's local
#: Redis Cluster (3 masters + 3 replicas, :mod:`tests.redis.cluster_session`; `make test-cluster`).
ENGINES = ("redis", pytest.param("cluster", marks=pytest.mark.cluster))


@asynccontextmanager
async def redis_prefix(engine: str = "redis") -> AsyncIterator[tuple[str, str]]:
    """(url, a fresh prefix) on the shared Redis, or on the session's cluster for
    ``engine="cluster"``; the prefix's keys are deleted afterwards."""
    if engine == "cluster":
        from tests.redis.cluster_session import shared_cluster_url

        url = shared_cluster_url()
    else:
        url = need_redis()
    prefix = unique_prefix()
    try:
        yield url, prefix
    finally:
        with anyio.CancelScope(shield=True):
            await delete_keys(url, prefix)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _openssl(*args: str | Path) -> None:
    subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True)


def make_certificates(folder: Path) -> None:
    """A throwaway CA (``ca.crt``) and a server certificate it signed for 127.0.0.1 and
    localhost (``server.crt``, ``server.key``), in ``folder``."""
    if shutil.which("openssl") is None:
        require("openssl", "the openssl program is not installed")
    ca_key, ca, key, request = (folder / n for n in ("ca.key", "ca.crt", "server.key", "s.csr"))
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
             "/CN=chatcore test CA", "-keyout", ca_key, "-out", ca)  # fmt: skip
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
             "-keyout", key, "-out", request)  # fmt: skip
    extensions = folder / "san.cnf"
    extensions.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    _openssl("x509", "-req", "-in", request, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
             "-days", "2", "-extfile", extensions, "-out", folder / "server.crt")  # fmt: skip


class ThrowawayRedis:
    """A private ``redis-server`` on a free port that a test may stop and start again.

    Its data lives in an append-only file in a temporary directory, so a restart keeps it
    (as a production Redis with persistence would); :meth:`wipe` loses it instead.
    ``listen`` is ``"tcp"``, ``"tls"`` (TLS only, with a throwaway CA whose certificate is
    :attr:`ca`; the URL names it) or ``"unix"`` (a Unix socket only, with a password and
    database 1 in the URL).
    """

    def __init__(self, listen: str = "tcp") -> None:
        server = shutil.which("redis-server")
        if server is None:
            require("redis-server", "the redis-server program is not installed")
        self._server = server or "redis-server"
        self.port = _free_port()
        self._dir = Path(tempfile.mkdtemp(prefix="chatcore-redis-"))
        self._certs = Path(tempfile.mkdtemp(prefix="chatcore-certs-"))
        self.ca = self._certs / "ca.crt"
        self._listen = ["--port", str(self.port)]
        self.url = f"redis://127.0.0.1:{self.port}/0"
        if listen == "tls":
            make_certificates(self._certs)
            self._listen = ["--port", "0", "--tls-port", str(self.port)]
            self._listen += ["--tls-cert-file", str(self._certs / "server.crt")]
            self._listen += ["--tls-key-file", str(self._certs / "server.key")]
            self._listen += ["--tls-ca-cert-file", str(self.ca), "--tls-auth-clients", "no"]
            self.url = f"rediss://127.0.0.1:{self.port}/0?ssl_ca_certs={self.ca}"
        elif listen == "unix":
            socket_path = self._certs / "redis.sock"
            self._listen = ["--port", "0", "--unixsocket", str(socket_path)]
            self._listen += ["--requirepass", "secret"]
            self.url = f"unix://:secret@{socket_path}?db=1"
        self._process: Process | None = None

    async def start(self) -> None:
        self._process = process = await anyio.open_process(
            [
                self._server,
                *self._listen,
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--dir",
                str(self._dir),
            ],
            stderr=subprocess.STDOUT,
        )
        assert process.stdout is not None
        log = b""
        with anyio.fail_after(10):
            # Redis says so once it has loaded its data and listens ("Ready to accept
            # connections tcp", or "... now ready to accept connections at <socket>").
            while b"eady to accept connections" not in log:
                try:
                    log += await process.stdout.receive()
                except anyio.EndOfStream:
                    raise RuntimeError(f"redis-server did not start: {log.decode()}") from None

    async def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            process.terminate()
            await process.wait()
            await process.aclose()

    def wipe(self) -> None:
        """Forget the data (call while stopped): the next start is an empty Redis."""
        shutil.rmtree(self._dir, ignore_errors=True)
        self._dir.mkdir()

    async def close(self) -> None:
        await self.stop()
        shutil.rmtree(self._dir, ignore_errors=True)
        shutil.rmtree(self._certs, ignore_errors=True)


@asynccontextmanager
async def throwaway_redis(listen: str = "tcp") -> AsyncIterator[ThrowawayRedis]:
    server = ThrowawayRedis(listen)
    try:
        await server.start()
        yield server
    finally:
        with anyio.CancelScope(shield=True):
            await server.close()
