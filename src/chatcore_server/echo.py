"""An echo WebSocket served by the native adapter's own HTTP and WebSocket code.

``python -m chatcore_server.echo --port N`` serves it on every path; the Autobahn Testsuite's
fuzzing client runs against it (``make autobahn``, docs/server.md). Every message comes back as
it came (text as text, binary as binary).
"""

from __future__ import annotations

import argparse
import asyncio

from ._frames import FrameCache
from ._http import HttpConnection, Request, Response, Site, text_response
from ._websocket import SocketGone, WebSocket

__all__ = ("EchoSite", "serve")


class EchoSite(Site):
    """Echoes every message of every socket; the largest message is ``max_size`` bytes."""

    def __init__(self, max_size: int = 16 << 20) -> None:
        self.frames = FrameCache()
        self.max_size = max_size
        self.done = asyncio.get_running_loop().create_future()
        self.done.set_result(None)

    async def respond(self, request: Request) -> Response:
        return text_response(426, "this is a WebSocket echo")

    async def websocket(self, connection: HttpConnection, request: Request) -> None:
        socket = connection.accept(request)
        if socket is not None:
            await echo(socket)


async def echo(socket: WebSocket) -> None:
    """Send back each message until the socket ends."""
    try:
        while (message := await socket.receive()) is not None:
            if isinstance(message, str):
                await socket.send_text(message)
            else:
                await socket.send_bytes(message)
    except SocketGone:
        pass
    await socket.wait_closed(5.0)


async def serve(host: str, port: int) -> None:
    """Serve the echo on ``host``:``port`` until cancelled."""
    site = EchoSite()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: HttpConnection(site), host, port)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description="A WebSocket echo on chatcore's native adapter.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9001)
    args = parser.parse_args()
    asyncio.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()
