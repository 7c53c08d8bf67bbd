"""The Starlette adapter's send, raw ASGI message against ``WebSocket.send_text``: CPU per call.

Each send is driven as the outbox drives it (``chatcore.runtime._inline.start``) over an ASGI ``send``
that completes at once, as uvicorn's does when the socket buffer has room; the two kinds run
back to back in each round. See docs/performance.md, "The adapters' raw send".
Run: ``.venv/bin/python benchmarks/adapter_send.py [calls] [rounds]``.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.websockets import WebSocket

from chatcore.runtime._inline import start

TEXT = '{"type":"message","id":1,"room":"bench","text":"hello"}'


async def main(calls: int, rounds: int) -> None:
    sent: list[Any] = []

    async def asgi_send(message: Any) -> None:
        sent.append(message)

    async def asgi_receive() -> Any:
        return {"type": "websocket.connect"}

    websocket = WebSocket(
        {"type": "websocket", "path": "/", "headers": []}, asgi_receive, asgi_send
    )
    await websocket.accept()

    def raw(text: str) -> Awaitable[None]:
        return asgi_send({"type": "websocket.send", "text": text})

    kinds: dict[str, Callable[[str], Awaitable[None]]] = {
        "raw": raw,
        "send_text": websocket.send_text,
    }
    for round_ in range(rounds):
        row = []
        for name, send in kinds.items():
            sent.clear()
            began = time.perf_counter()
            for _ in range(calls):
                start(send(TEXT))
            row.append(f"{name} {(time.perf_counter() - began) / calls * 1e9:.0f} ns")
        print(f"round {round_}: " + ", ".join(row))


if __name__ == "__main__":
    arguments = [int(value) for value in sys.argv[1:3]]
    asyncio.run(main(*(arguments + [300_000, 5][len(arguments) :])))
