"""python-socketio on uvicorn: clients ``join`` a room; a ``message`` is emitted to the room.

Run: ``uvicorn --app-dir benchmarks/peers socketio_app:app``.
"""

from __future__ import annotations

from typing import Any

import socketio

sio = socketio.AsyncServer(async_mode="asgi", cors_allowed_origins="*")
app = socketio.ASGIApp(sio)


@sio.event
async def join(sid: str, room: str) -> bool:
    await sio.enter_room(sid, room)
    return True  # acknowledged: the client knows it is in the room


@sio.event
async def message(sid: str, text: Any) -> None:
    await sio.emit("message", text, room="bench")
