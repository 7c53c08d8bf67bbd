"""The floor: a bare ``websockets`` server that relays every frame to every connection.

No protocol, no parsing, no state but the set of open connections: what any chat server must
at least do per delivery (``websockets.broadcast`` writes one frame to each socket).

Run: ``python benchmarks/peers/ws_floor.py PORT``.
"""

from __future__ import annotations

import sys

import uvloop
from websockets.asyncio.server import ServerConnection, broadcast, serve

room: set[ServerConnection] = set()


async def handler(websocket: ServerConnection) -> None:
    room.add(websocket)
    try:
        async for message in websocket:
            broadcast(room, message)
    finally:
        room.discard(websocket)


async def main(port: int) -> None:
    async with serve(handler, "127.0.0.1", port, compression=None, max_queue=None) as server:
        print(f"listening on {port}", flush=True)
        await server.serve_forever()


if __name__ == "__main__":
    uvloop.run(main(int(sys.argv[1])))
