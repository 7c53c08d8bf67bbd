"""``chatcore serve`` in a process of its own on a free port, for the real-socket tests."""

from __future__ import annotations

import http.client
import json
import sys
from typing import Any

from tests.starlette.example_server import HOST, ExampleServer


class Serve(ExampleServer):
    """``python -m chatcore_server serve --port P ARGS``; :meth:`get` asks it over HTTP."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        super().__init__()
        self.args = list(args)
        self.env.update(env or {})
        self.env.setdefault("CHATCORE_LOG_LEVEL", "warning")

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "chatcore_server",
            "serve",
            "--port",
            str(self.port),
            *self.args,
        ]

    def get(self, path: str) -> tuple[int, str, Any]:
        """``GET path``: the status, content type and body (parsed if JSON)."""
        connection = http.client.HTTPConnection(HOST, self.port, timeout=10)
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            body = response.read()
        finally:
            connection.close()
        kind = response.getheader("content-type") or ""
        return response.status, kind, json.loads(body) if "json" in kind else body.decode()
