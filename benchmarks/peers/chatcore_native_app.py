"""chatcore through its native adapter (``chatcore_server.ChatApp``), with one room ``bench``.

The same chat server as ``chatcore_starlette_app`` (limits, backends, ``CHATCORE_REDIS_URL``),
served without an ASGI server: fan-out frames are built once as bytes for every recipient.

Run: ``python benchmarks/peers/chatcore_native_app.py PORT``.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from urllib.parse import parse_qs

import uvloop
from chatcore_starlette_app import build_server

from chatcore import User
from chatcore.wire.errors import RoomExists
from chatcore_server import ChatApp, Request


def query_user(request: Request) -> User | None:
    name = parse_qs(request.query).get("user", [""])[0]
    return User(id=name, name=name) if name else None


async def main(port: int) -> None:
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with build_server() as server:
        with contextlib.suppress(RoomExists):  # another process of a Redis run made it
            await server.create_room("bench", "Bench")
        app = ChatApp(server, query_user)
        await app.listen("127.0.0.1", port)
        print(f"listening on {port}", flush=True)
        await stop.wait()
        await app.drain(bound=5)


if __name__ == "__main__":
    uvloop.run(main(int(sys.argv[1])))
