"""Starlette with ``broadcaster`` (its README's chat): publish each frame, relay the channel.

``BROADCAST_URL`` picks the backend: ``memory://`` (default) or ``redis://...``.
Run: ``uvicorn --app-dir benchmarks/peers broadcaster_app:app``.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
from broadcaster import Broadcast
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket

broadcast = Broadcast(os.environ.get("BROADCAST_URL", "memory://"))


async def chatroom(websocket: WebSocket) -> None:
    await websocket.accept()
    async with anyio.create_task_group() as tasks:

        async def receive() -> None:
            async for text in websocket.iter_text():
                await broadcast.publish(channel="chatroom", message=text)
            tasks.cancel_scope.cancel()

        async def send() -> None:
            async with broadcast.subscribe(channel="chatroom") as subscriber:
                while True:  # as ``async for event in subscriber``, which is mistyped
                    event = await subscriber.get()
                    await websocket.send_text(event.message)

        tasks.start_soon(receive)
        tasks.start_soon(send)


@asynccontextmanager
async def lifespan(app: Any) -> AsyncIterator[None]:
    await broadcast.connect()
    try:
        yield
    finally:
        await broadcast.disconnect()


app = Starlette(routes=[WebSocketRoute("/", chatroom)], lifespan=lifespan)
