"""The example's chat server on the native adapter, in a process of its own, with the
interface of :class:`~tests.starlette.example_server.ExampleServer` (so one suite runs on both):
``POST /login`` as on the example site, ``CHATCORE_*`` settings from :attr:`env`."""

from __future__ import annotations

import sys
from pathlib import Path

from tests.starlette.example_server import ExampleServer

APP = Path(__file__).resolve().parent / "native_app.py"


class NativeServer(ExampleServer):
    """``native_app.py``: the example's ChatServer, served by ``chatcore_server.ChatApp``
    (``uvicorn_args`` do not apply: there is no uvicorn)."""

    def command(self) -> list[str]:
        return [sys.executable, str(APP), str(self.port)]
