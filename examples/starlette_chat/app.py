"""A small chat site on chatcore's Starlette adapter, with a demo login (no passwords).

Run it with ``make starlette-demo``, or::

    uvicorn --app-dir examples/starlette_chat app:app --host 127.0.0.1 --port 8001

Environment: ``CHATCORE_SECRET_KEY`` signs the session cookie (a random key per process if
unset, so a restart logs everybody out); ``CHATCORE_PRESENCE_GRACE_MS`` sets how long a user
stays in a room after their last tab closes; ``CHATCORE_ALLOWED_ORIGINS`` (comma-separated)
allows other origins than the site's own to open the WebSocket; ``CHATCORE_REDIS_URL`` (and
``CHATCORE_REDIS_PREFIX``) put the chat in Redis, so several processes serve one chat;
``CHATCORE_REDIS_EXPIRY`` (seconds, default 15) bounds how long a dead process's users stay
(they leave within 4/3 of it: the heartbeat is a third of it).
``CHATCORE_RATE``, ``CHATCORE_BURST`` and ``CHATCORE_ABUSE_ERRORS`` override those limits (load
and fuzz tests raise them); ``CHATCORE_DEBUG_STATS=1`` adds ``GET /debug/stats`` (task and connection
counts, and with ``?objects`` live objects, for leak tests; never in production).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import secrets
from pathlib import Path
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import HTTPConnection, Request
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from chatcore import ChatServer, Limits, MemoryDirectory, User
from chatcore_starlette import chat_lifespan, chat_route

HERE = Path(__file__).parent
MAX_NAME = 40
log = logging.getLogger("starlette_chat")
#: Limits an operator (or a load test) may set through the environment.
LIMIT_VARIABLES = {
    "rate": "CHATCORE_RATE",
    "burst": "CHATCORE_BURST",
    "abuse_errors": "CHATCORE_ABUSE_ERRORS",
    "max_connections": "CHATCORE_MAX_CONNECTIONS",
    "presence_limit": "CHATCORE_PRESENCE_LIMIT",
}


def build_server() -> ChatServer:
    """The chat server. The one place that picks the backends: in memory, or Redis."""
    limits = Limits(
        presence_grace=int(os.environ.get("CHATCORE_PRESENCE_GRACE_MS", "5000")),
        **{
            field: int(os.environ[variable])
            for field, variable in LIMIT_VARIABLES.items()
            if os.environ.get(variable)
        },
    )
    if not os.environ.get("CHATCORE_REDIS_URL"):
        return ChatServer(limits=limits)
    # Many processes: fan-out, presence and history in Redis (the ``redis`` extra).
    from chatcore.redis import RedisBroker, RedisStore

    prefix = os.environ.get("CHATCORE_REDIS_PREFIX", "starlette-chat:")
    broker = RedisBroker(prefix=prefix, expiry=float(os.environ.get("CHATCORE_REDIS_EXPIRY", "15")))
    store = RedisStore(prefix=prefix, broker=broker, history_size=limits.history_size)
    return ChatServer(broker=broker, store=store, directory=NameDirectory(), limits=limits)


class NameDirectory(MemoryDirectory):
    """Users this process has seen, and, as in this demo every name is a user, any other
    well-formed id (a user logged in on another process) shown under its id."""

    async def get_user(self, user_id: str) -> User | None:
        user = await super().get_user(user_id)
        if user is None and 0 < len(user_id) <= MAX_NAME and user_id == user_id.casefold():
            user = User(id=user_id, name=user_id)
        return user


def session_user(connection: HTTPConnection) -> User | None:
    """The logged-in user of a request or socket, from the signed session cookie."""
    name = connection.session.get("name")
    if not isinstance(name, str) or not name:
        return None
    # A demo: the id is derived from the name, so the same name is the same person.
    return User(id=name.casefold(), name=name)


async def home(request: Request) -> Response:
    page = "chat.html" if session_user(request) else "login.html"
    return FileResponse(HERE / page, media_type="text/html")


async def login(request: Request) -> Response:
    # The one urlencoded field is read by hand, which spares the demo python-multipart.
    body = await request.body()
    fields = parse_qs(body[:1024].decode("utf-8", "replace"))
    name = " ".join(fields.get("name", [""])[0].split())
    if not 1 <= len(name) <= MAX_NAME or not name.isprintable():
        return Response(
            f"A name has 1 to {MAX_NAME} printable characters. Go back and try again.\n",
            status_code=400,
            media_type="text/plain",
        )
    request.session["name"] = name
    return RedirectResponse("/", status_code=303)


async def logout(request: Request) -> Response:
    user = session_user(request)
    request.session.clear()
    if user is not None:
        await server.disconnect_user(user.id)
    return RedirectResponse("/", status_code=303)


async def me(request: Request) -> Response:
    """Who is logged in: the page asks when its socket keeps failing (logged out elsewhere?)."""
    user = session_user(request)
    if user is None:
        return JSONResponse({"user": None}, status_code=401)
    return JSONResponse({"user": user.to_wire()})


def debug_counts(server: ChatServer, objects: bool = False) -> dict[str, int]:
    """Counts a leak test compares before and after: asyncio tasks, connections, connections
    closing and, with ``objects``, live Python objects (the native adapter's test app,
    tests/server/native_app.py, serves the same)."""
    counts = {
        "tasks": len(asyncio.all_tasks()),
        "connections": len(server.hub.conns),
        # Closed by the server (a slow consumer, abuse) while the socket has not ended yet.
        "closing": sum(conn.outbox.close_code is not None for conn in server.hub.conns.values()),
    }
    if objects:  # a full collection stalls the loop: on request only
        gc.collect()
        counts["objects"] = len(gc.get_objects())
    return counts


async def debug_stats(request: Request) -> Response:
    """:func:`debug_counts` (only with ``CHATCORE_DEBUG_STATS=1``)."""
    counts = debug_counts(server, "objects" in request.query_params)
    return JSONResponse(counts, headers={"Cache-Control": "no-store"})


def secret_key() -> str:
    key = os.environ.get("CHATCORE_SECRET_KEY")
    if not key:
        log.warning("CHATCORE_SECRET_KEY is not set: sessions end when the process restarts")
        key = secrets.token_urlsafe(32)
    return key


server = build_server()
origins = [
    o.strip() for o in os.environ.get("CHATCORE_ALLOWED_ORIGINS", "").split(",") if o.strip()
]
app = Starlette(
    routes=[
        Route("/", home),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/me", me),
        chat_route("/ws", server, session_user, allowed_origins=origins),
        Mount("/static", StaticFiles(directory=HERE / "static")),
        Mount("/chatcore", StaticFiles(packages=[("chatcore", "static")])),
        *([Route("/debug/stats", debug_stats)] if os.environ.get("CHATCORE_DEBUG_STATS") else []),
    ],
    middleware=[Middleware(SessionMiddleware, secret_key=secret_key(), same_site="lax")],
    lifespan=chat_lifespan(server),
)
