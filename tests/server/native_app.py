"""The Starlette example's chat server (examples/starlette_chat: the same limits, grace and
backends from the environment) served by the native adapter instead of uvicorn, for the
real-socket suites (tests/server/native_server.py). A socket's user is its ``user`` cookie.

Run: ``python tests/server/native_app.py PORT``.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from http.cookies import SimpleCookie
from pathlib import Path

from chatcore import User
from chatcore_server import ChatApp, Request

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples" / "starlette_chat"))
from app import build_server  # type: ignore[import-not-found,unused-ignore]

HOST = "127.0.0.1"


def authenticate(request: Request) -> User | None:
    """The user named by the ``user`` cookie (as the example's login would name them)."""
    cookie = SimpleCookie(request.headers.get("cookie", ""))
    name = cookie["user"].value if "user" in cookie else ""
    return User(id=name.casefold(), name=name) if name else None


async def main(port: int) -> None:
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with build_server() as server:
        app = ChatApp(server, authenticate)
        await app.listen(HOST, port)
        await stop.wait()
        await app.drain(bound=5)


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
