"""Run the Starlette example app in a real uvicorn process, on a free port."""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import time
from http.cookies import SimpleCookie
from pathlib import Path

from tests.helpers import port_open

ROOT = Path(__file__).resolve().parents[2]
APP_DIR = ROOT / "examples" / "starlette_chat"
HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


class ExampleServer:
    """``uvicorn app:app`` for the example; :meth:`restart` keeps the port and the secret key."""

    #: The directory of the ``app.py`` to run.
    app_dir = APP_DIR

    def __init__(self, grace_ms: int = 300) -> None:
        self.port = free_port()
        self.env = {
            **os.environ,
            "CHATCORE_SECRET_KEY": "test-secret-key",
            "CHATCORE_PRESENCE_GRACE_MS": str(grace_ms),
        }
        for name in ("CHATCORE_REDIS_URL", "PYTHONTRACEMALLOC"):  # in-memory, and no crawl
            self.env.pop(name, None)
        self.process: subprocess.Popen[bytes] | None = None
        #: More uvicorn options (``--limit-concurrency 10``...).
        self.uvicorn_args: list[str] = []

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{HOST}:{self.port}/ws"

    def command(self) -> list[str]:
        """The command that serves the app on :attr:`port`."""
        command = [sys.executable, "-m", "uvicorn", "--app-dir", str(self.app_dir), "app:app"]
        command += ["--host", HOST, "--port", str(self.port), "--log-level", "warning"]
        return command + self.uvicorn_args

    def start(self) -> None:
        self.process = process = subprocess.Popen(self.command(), env=self.env, cwd=ROOT)
        deadline = time.monotonic() + 15
        while not port_open(HOST, self.port):
            if process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the server did not start on port {self.port}")
            time.sleep(0.05)  # polling a real process: there is no event to wait on

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def restart(self) -> None:
        self.stop()
        self.start()

    def login(self, name: str) -> dict[str, str]:
        """Log ``name`` in through ``POST /login``; the session cookie to send."""
        connection = http.client.HTTPConnection(HOST, self.port, timeout=10)
        try:
            connection.request(
                "POST",
                "/login",
                body=f"name={name}",
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )
            response = connection.getresponse()
            response.read()
        finally:
            connection.close()
        assert response.status == 303, response.status
        cookie = SimpleCookie(response.getheader("set-cookie"))
        return {key: morsel.value for key, morsel in cookie.items()}
