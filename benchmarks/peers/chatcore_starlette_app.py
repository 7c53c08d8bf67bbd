"""chatcore through its Starlette adapter, with one room ``bench``.

The user is the ``user`` query parameter (a benchmark needs no login). Limits are raised so
the rate limit never refuses the sender, and the outbox holds the generator's whole window.
``CHATCORE_REDIS_URL`` set: broker and store in Redis (``CHATCORE_REDIS_PREFIX`` names a fresh
key space per run), so several processes serve the one room.
Run: ``uvicorn --app-dir benchmarks/peers chatcore_starlette_app:app``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.websockets import WebSocket

from chatcore import ChatServer, Limits, MemoryDirectory, User
from chatcore.wire.errors import RoomExists
from chatcore_starlette import chat_route

# (connections_per_user: the generator opens many tabs per user: N receivers over --users users;
# members_per_room: the join storm's largest room is 19,800 users and the sender.)
LIMITS = Limits(
    rate=1_000_000,
    burst=1_000_000,
    outbox=4_096,
    connections_per_user=100_000,
    members_per_room=100_000,
)


def build_server() -> ChatServer:
    if not os.environ.get("CHATCORE_REDIS_URL"):
        return ChatServer(limits=LIMITS)
    from chatcore.redis import RedisBroker, RedisStore

    prefix = os.environ.get("CHATCORE_REDIS_PREFIX", "bench:")
    broker = RedisBroker(prefix=prefix)
    store = RedisStore(prefix=prefix, broker=broker, history_size=LIMITS.history_size)
    return ChatServer(broker=broker, store=store, directory=MemoryDirectory(), limits=LIMITS)


def query_user(websocket: WebSocket) -> User | None:
    name = websocket.query_params.get("user")
    return User(id=name, name=name) if name else None


server = build_server()


@asynccontextmanager
async def lifespan(app: Any) -> AsyncIterator[None]:
    async with server:
        with contextlib.suppress(RoomExists):  # another process of a Redis run made it
            await server.create_room("bench", "Bench")
        yield


app = Starlette(routes=[chat_route("/ws", server, query_user)], lifespan=lifespan)
