"""chatcore on a bare ``websockets`` server (no ASGI): which part of chatcore's cost is ASGI's.

Each socket's frames go through ``Connection.write_all`` with ``websockets``' own ``send``, as
the adapters do with the ASGI ``send``, without Starlette or uvicorn in between.

Run: ``python benchmarks/peers/chatcore_ws_app.py PORT``.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from urllib.parse import parse_qs, urlsplit

import uvloop
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from chatcore import ChatServer, Limits, User

# (connections_per_user: the generator opens many tabs per user, as for the Starlette app.)
LIMITS = Limits(rate=1_000_000, burst=1_000_000, outbox=4_096, connections_per_user=100_000)
server = ChatServer(limits=LIMITS)


async def handler(socket: ServerConnection) -> None:
    query = parse_qs(urlsplit(socket.request.path if socket.request else "").query)
    name = query.get("user", [""])[0]
    if not name:
        await socket.close(4401)
        return
    connection = await server.connect(User(id=name, name=name))
    sending = asyncio.create_task(connection.write_all(socket.send))
    try:
        async for message in socket:
            await connection.receive(message)
    except ConnectionClosed:
        pass
    finally:
        sending.cancel()
        with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
            await sending
        await connection.close()


async def main(port: int) -> None:
    async with server:
        await server.create_room("bench", "Bench")
        async with serve(handler, "127.0.0.1", port, compression=None, max_queue=None) as ws:
            await ws.serve_forever()


if __name__ == "__main__":
    uvloop.run(main(int(sys.argv[1])))
