"""ASGI entry of the chatcore Django target: the adapter's consumer at ``/ws``.

The user is the ``user`` query parameter (a benchmark needs no login or session table);
the lifespan starts the chat server and makes the room.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any
from urllib.parse import parse_qs

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatcore_django_app.settings")
django_asgi = get_asgi_application()  # sets Django up before the imports below

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402

import chatcore_django  # noqa: E402
from chatcore import User  # noqa: E402
from chatcore.wire.errors import RoomExists  # noqa: E402
from chatcore_django.consumer import ChatConsumer  # noqa: E402


class BenchUser:
    """Just what the consumer asks of ``scope["user"]``."""

    is_authenticated = True
    is_active = True

    def __init__(self, name: str) -> None:
        self.name = name
        self.pk = name  # (the consumer keeps each socket's login by it)


def bench_user(user: BenchUser) -> User:
    """The ``CHATCORE['USER']`` hook."""
    return User(id=user.name, name=user.name)


class QueryUser:
    """Puts the ``user`` query parameter in ``scope["user"]``."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        names = parse_qs(scope.get("query_string", b"").decode()).get("user", [""])
        user = BenchUser(names[0]) if names[0] else None
        await self.app({**scope, "user": user}, receive, send)


async def lifespan(scope: dict[str, Any], receive: Any, send: Any) -> None:
    while True:
        event = await receive()
        if event["type"] == "lifespan.startup":
            server = await chatcore_django.get_server()
            with contextlib.suppress(RoomExists):  # another process of a Redis run made it
                await server.create_room("bench", "Bench")
            await send({"type": "lifespan.startup.complete"})
        elif event["type"] == "lifespan.shutdown":
            await chatcore_django.stop_server()
            await send({"type": "lifespan.shutdown.complete"})
            return


application = ProtocolTypeRouter(
    {
        "http": django_asgi,
        "websocket": QueryUser(URLRouter([path("ws", ChatConsumer.as_asgi())])),
        "lifespan": lifespan,
    }
)
