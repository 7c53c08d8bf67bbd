"""The pre-framed limit: a minimal asyncio Protocol that relays each frame to every connection,
the frame built once and written with one ``transport.write`` per recipient.

What any Python relay must at least spend per delivery on asyncio: no tasks, no per-recipient
framing. Client frames are parsed by ``websockets``' sans-I/O layer.

Run: ``python benchmarks/peers/preframed_limit.py PORT``.
"""

from __future__ import annotations

import asyncio
import struct
import sys
from typing import cast

import uvloop
from websockets.frames import Frame, Opcode
from websockets.http11 import Request
from websockets.protocol import State
from websockets.server import ServerProtocol

room: set[asyncio.Transport] = set()


def text_frame(payload: bytes) -> bytes:
    size = len(payload)
    if size < 126:
        return bytes((0x81, size)) + payload
    if size < 1 << 16:
        return struct.pack("!BBH", 0x81, 126, size) + payload
    return struct.pack("!BBQ", 0x81, 127, size) + payload


class Relay(asyncio.Protocol):
    def __init__(self) -> None:
        self.protocol = ServerProtocol(max_size=None)
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        protocol = self.protocol
        protocol.receive_data(data)
        for event in protocol.events_received():
            if isinstance(event, Request):
                protocol.send_response(protocol.accept(event))
                if protocol.state is State.OPEN:
                    assert self.transport is not None
                    room.add(self.transport)
            elif isinstance(event, Frame) and event.opcode is Opcode.TEXT:
                frame = text_frame(bytes(event.data))  # built once
                for transport in room:
                    transport.write(frame)
        for out in protocol.data_to_send():
            if out:
                assert self.transport is not None
                self.transport.write(out)
            elif self.transport is not None:
                self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.transport is not None:
            room.discard(self.transport)


async def main(port: int) -> None:
    server = await asyncio.get_running_loop().create_server(Relay, "127.0.0.1", port, backlog=2048)
    print(f"listening on {port}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    uvloop.run(main(int(sys.argv[1])))
