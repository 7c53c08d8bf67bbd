"""What the reliability tests share: the example's chat server with test settings, in uvicorn
or on the native adapter (``SERVERS``), raw sockets, and the server's own figures (task count,
RSS)."""

from __future__ import annotations

import http.client
import json
import socket
import statistics
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.client import ClientProtocol
from websockets.protocol import State
from websockets.typing import Origin
from websockets.uri import parse_uri

from chatcore.client import Backoff, ChatClient
from tests.helpers import require
from tests.starlette.example_server import HOST, ExampleServer

FAST = Backoff(initial=0.05, maximum=0.5)
#: Limits high enough that only the test's own frames decide what happens (fuzz, load).
NO_LIMITS = {
    "CHATCORE_RATE": "100000",
    "CHATCORE_BURST": "100000",
    "CHATCORE_ABUSE_ERRORS": "100000",
}


@contextmanager
def running(
    server_class: type[ExampleServer],
    grace_ms: int = 300,
    env: Mapping[str, str] | None = None,
    uvicorn_args: tuple[str, ...] = (),
) -> Iterator[ExampleServer]:
    """The example's chat server (``server_class``: in uvicorn, or on the native adapter) on a
    free port, with ``/debug/stats``, ``env`` and more uvicorn options (uvicorn's only)."""
    if find_spec("uvicorn") is None or find_spec("starlette") is None:
        require("uvicorn", "install the 'starlette' extra to run the example app")
    server = server_class(grace_ms=grace_ms)
    server.env.update({"CHATCORE_DEBUG_STATS": "1", **(env or {})})
    server.uvicorn_args = list(uvicorn_args)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def stats(server: ExampleServer, objects: bool = False) -> dict[str, int]:
    """The server's ``/debug/stats``: ``tasks`` (asyncio tasks), ``connections``, ``closing``
    (closed by the server, socket not ended yet) and, with ``objects``, the live Python
    objects after a full collection (which stalls the server for a few milliseconds)."""
    connection = http.client.HTTPConnection(HOST, server.port, timeout=10)
    try:
        connection.request("GET", "/debug/stats?objects" if objects else "/debug/stats")
        response = connection.getresponse()
        body = response.read()
    finally:
        connection.close()
    assert response.status == 200, response.status
    counts: dict[str, int] = json.loads(body)
    return counts


def rss_kb(server: ExampleServer) -> int:
    """The server process's resident memory, in KiB, from ``/proc/<pid>/status``."""
    assert server.process is not None
    status = Path(f"/proc/{server.process.pid}/status")
    if not status.exists():
        require("/proc", "RSS is read from /proc/<pid>/status (Linux)")
    for line in status.read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS line")


def client(server: ExampleServer, name: str, **options: Any) -> ChatClient:
    """A (not yet connected) :class:`ChatClient` logged in as ``name``."""
    options.setdefault("backoff", FAST)
    return ChatClient(server.ws_url, cookies=server.login(name), **options)


async def raw_socket(
    server: ExampleServer,
    cookies: dict[str, str] | None,
    *,
    origin: str | None = None,
    sock: socket.socket | None = None,
    max_queue: int | None = 16,
) -> ClientConnection:
    """A plain ``websockets`` connection (no reconnect, no protocol help) to the example."""
    headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())} if cookies else {}
    return await connect(
        server.ws_url,
        additional_headers=headers,
        origin=Origin(origin) if origin else None,
        sock=sock,
        max_queue=max_queue,
        open_timeout=10,
    )


def p99(samples: list[float]) -> float:
    """The 99th percentile of ``samples``."""
    return statistics.quantiles(samples, n=100, method="inclusive")[98]


class StalledSocket:
    """A WebSocket client that stops reading after the handshake: its kernel receive buffer is
    tiny and nothing drains it, as with a client on a dead-slow link or a stuck browser tab.

    Blocking calls: run :meth:`drain` in a thread.
    """

    def __init__(self, server: ExampleServer, cookies: dict[str, str]) -> None:
        self.protocol = ClientProtocol(parse_uri(server.ws_url))
        request = self.protocol.connect()
        request.headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
        self.protocol.send_request(request)
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
        self.sock.settimeout(10)
        self.sock.connect((HOST, server.port))
        self._flush()
        while self.protocol.state is State.CONNECTING:
            self.protocol.receive_data(self.sock.recv(2048))
        if self.protocol.handshake_exc is not None:
            raise self.protocol.handshake_exc

    def _flush(self) -> None:
        for data in self.protocol.data_to_send():
            self.sock.sendall(data)

    def send(self, frame: dict[str, Any]) -> None:
        self.protocol.send_text(json.dumps(frame).encode())
        self._flush()

    def drain(self, timeout: float = 30) -> tuple[int, int | None]:
        """Read until the socket ends: the frames read, and the close code received (None
        when the connection ended without a close frame)."""
        frames = 0
        deadline = time.monotonic() + timeout
        while self.protocol.close_rcvd is None and time.monotonic() < deadline:
            try:
                data = self.sock.recv(65536)
            except (ConnectionResetError, TimeoutError):
                break
            if not data:
                break
            self.protocol.receive_data(data)
            frames += len(self.protocol.events_received())
        close = self.protocol.close_rcvd
        return frames, None if close is None else close.code

    def close(self) -> None:
        self.sock.close()
