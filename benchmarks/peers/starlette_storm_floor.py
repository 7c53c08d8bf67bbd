"""The join storm's frames on plain Starlette, with no chatcore: what any server of chatcore's
protocol pays under an ASGI server for the storm (``join_storm.py``'s floor row).

Each socket gets a ``welcome``; each ``join`` sends one ``presence`` frame to every socket
present while the room holds at most ``PRESENCE_LIMIT`` (the 20,100 frames of the first 200
joins), then answers ``ok`` with the members (all of them up to the limit, the first
``PAGE`` above it) and the count. A ``send`` is relayed to every socket in the room as a
``message``. No checks, no history, no store: the least Python that sends the same frames.
Run: ``uvicorn --app-dir benchmarks/peers starlette_storm_floor:app``.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.types import Send
from starlette.websockets import WebSocket, WebSocketDisconnect

PRESENCE_LIMIT = 200
PAGE = 20

#: The room's sockets, in the order they joined: (ASGI send, the member's wire form).
present: list[tuple[Send, dict[str, Any]]] = []


def dumps(value: object) -> str:
    return json.dumps(value, separators=(",", ":"))


async def broadcast(text: str) -> None:
    message = {"type": "websocket.send", "text": text}
    for send, _ in list(present):
        try:
            await send(message)
        except (OSError, WebSocketDisconnect, RuntimeError):
            continue  # gone: its own socket's task removes it


async def room(websocket: WebSocket) -> None:
    await websocket.accept()
    name = websocket.query_params.get("user", "guest")
    me = {"id": name, "name": name, "avatar": None}
    await websocket.send_text(dumps({"type": "welcome", "user": me, "protocol": 1}))
    entry = (websocket.send, me)
    try:
        while True:
            command = json.loads(await websocket.receive_text())
            if command.get("type") == "join":
                present.append(entry)
                count = len(present)
                if count <= PRESENCE_LIMIT:
                    event = {"type": "presence", "room": "bench", "event": "join", "user": me}
                    await broadcast(dumps(event))
                shown = present if count <= PRESENCE_LIMIT else present[:PAGE]
                result = {"members": [user for _, user in shown], "count": count}
                await websocket.send_text(
                    dumps({"type": "ok", "ref": command.get("ref"), "result": result})
                )
            elif command.get("type") == "send":
                message = {"type": "message", "room": "bench", "from": me, "text": command["text"]}
                await broadcast(dumps(message))
    except WebSocketDisconnect:
        pass
    finally:
        if entry in present:
            present.remove(entry)


app = Starlette(routes=[WebSocketRoute("/ws", room)])
