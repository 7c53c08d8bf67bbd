"""``chatcore serve``'s plain HTTP routes: ``/api/*``, ``/metrics``, ``/healthz``, a demo page."""

from __future__ import annotations

import json
import mimetypes
from importlib.resources import files
from pathlib import Path
from typing import Any

from chatcore import ChatServer
from chatcore.metrics import render

from ._http import Request, Response
from .api import Api, HttpRequest

__all__ = ("Routes",)

_JSON = (("content-type", "application/json"),)


class Routes:
    """Answers the plain requests of ``chatcore serve`` (see docs/server.md)."""

    def __init__(
        self,
        server: ChatServer,
        *,
        api_key: str | None,
        static: str | None = None,
        sockets: Any = None,
    ) -> None:
        self._server = server
        self._static = Path(static).resolve() if static else None
        self._sockets = sockets  # what counts the open sockets (the app), for /healthz
        self._api = Api(server, api_key=api_key)

    async def __call__(self, request: Request) -> Response | None:
        path = request.path
        if path.startswith("/api/"):
            return await self._call_api(request)
        if request.method not in ("GET", "HEAD"):
            return None
        if path == "/healthz":
            return self._health()
        if path == "/metrics":
            return _metrics()
        if path == "/static/chatcore.js":
            script = files("chatcore").joinpath("static/chatcore.js").read_bytes()
            return Response(200, (("content-type", "text/javascript"),), script)
        if self._static is not None:
            return self._file(path)
        return None

    def _health(self) -> Response:
        body: dict[str, Any] = {"status": "ok" if self._server.running else "stopping"}
        if self._sockets is not None:
            body["sockets"] = self._sockets.sockets
            if self._sockets.draining:
                body["status"] = "draining"
        status = 200 if body["status"] == "ok" else 503
        return Response(status, _JSON, json.dumps(body).encode())

    async def _call_api(self, request: Request) -> Response:
        answer = await self._api(
            HttpRequest(
                method=request.method,
                path=request.path,
                query=request.query,
                headers=request.headers,
                body=request.body,
            )
        )
        return Response(answer.status, tuple(answer.headers), answer.body)

    def _file(self, path: str) -> Response | None:
        assert self._static is not None
        relative = path.lstrip("/") or "index.html"
        target = (self._static / relative).resolve()
        if not target.is_relative_to(self._static) or not target.is_file():
            return None
        kind = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        return Response(200, (("content-type", kind),), target.read_bytes())


def _metrics() -> Response:
    body, kind = render()
    return Response(200, (("content-type", kind),), body)
