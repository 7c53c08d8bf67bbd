"""chatcore on a bare ``websockets`` server (no ASGI): which part of chatcore's cost is ASGI's.

Each socket gets a task that sends the core's frames (as the adapters do), without Starlette or
uvicorn in between. ``CHATCORE_DIRECT=1`` adds a *prototype* of a direct write path, which
chatcore does not have: while a socket is idle, the fan-out writes a frame to it at once (as
``websockets.broadcast`` does) instead of waking the socket's task. It reaches into private
attributes of chatcore and websockets; it measures an idea, it is not a way to run chatcore.

Run: ``python benchmarks/peers/chatcore_ws_app.py PORT``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from urllib.parse import parse_qs, urlsplit

import uvloop
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.protocol import State

from chatcore import ChatServer, Connection, Limits, User
from chatcore.outbox import Outbox

LIMITS = Limits(rate=1_000_000, burst=1_000_000, outbox=4_096)
DIRECT = os.environ.get("CHATCORE_DIRECT") == "1"
server = ChatServer(limits=LIMITS)


class DirectOutbox(Outbox):
    """Writes a frame straight to an idle socket; queues it for the socket's task otherwise."""

    __slots__ = ("sending", "socket")

    def __init__(self, capacity: int, socket: ServerConnection) -> None:
        super().__init__(capacity)
        self.socket = socket
        self.sending = False  # the socket's task is sending queued frames

    def put(self, text: str, ephemeral: bool = False) -> bool:
        socket = self.socket
        if (
            not self.sending
            and not len(self)
            and self.close_code is None
            and socket.protocol.state is State.OPEN
            and socket.transport.get_write_buffer_size() < 65_536
        ):
            socket.protocol.send_text(text.encode())
            socket.send_data()
            return True
        return super().put(text, ephemeral)


def go_direct(connection: Connection, socket: ServerConnection) -> DirectOutbox:
    """Swap the connection's outbox for a direct one, keeping what is queued (``welcome``)."""
    conn = connection._conn
    direct = DirectOutbox(LIMITS.outbox, socket)
    while (text := conn.outbox.get_nowait()) is not None:
        Outbox.put(direct, text)
    conn.outbox = direct
    return direct


async def pump(socket: ServerConnection, connection: Connection, outbox: Outbox) -> None:
    with contextlib.suppress(ConnectionClosed):
        async for text in connection.frames():
            if isinstance(outbox, DirectOutbox):
                outbox.sending = True
            await socket.send(text)
            if isinstance(outbox, DirectOutbox):
                outbox.sending = False


async def handler(socket: ServerConnection) -> None:
    query = parse_qs(urlsplit(socket.request.path if socket.request else "").query)
    name = query.get("user", [""])[0]
    if not name:
        await socket.close(4401)
        return
    connection = await server.connect(User(id=name, name=name))
    outbox = go_direct(connection, socket) if DIRECT else connection._conn.outbox
    sending = asyncio.create_task(pump(socket, connection, outbox))
    try:
        async for message in socket:
            await connection.receive(message)
    except ConnectionClosed:
        pass
    finally:
        sending.cancel()
        await connection.close()


async def main(port: int) -> None:
    async with server:
        await server.create_room("bench", "Bench")
        async with serve(handler, "127.0.0.1", port, compression=None, max_queue=None) as ws:
            await ws.serve_forever()


if __name__ == "__main__":
    uvloop.run(main(int(sys.argv[1])))
