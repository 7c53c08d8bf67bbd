"""The Starlette example's chat server (examples/starlette_chat: the same limits, grace and
backends from the environment) served by the native adapter instead of uvicorn, for the
real-socket suites (tests/server/native_server.py).

As on the example site, ``POST /login`` (form field ``name``) answers 303 with a session
cookie, here ``user``: the name and its HMAC under ``CHATCORE_SECRET_KEY`` (a cookie whose
signature does not match is no login); ``POST /logout`` clears it and closes the user's sockets
(4401). With ``CHATCORE_DEBUG_STATS=1``, ``GET /debug/stats`` answers the example's counts
(``debug_counts``: tasks, connections, closing, and with ``?objects`` live objects) for the
reliability suite; off by default.

Run: ``python tests/server/native_app.py PORT``.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import os
import signal
import sys
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import parse_qs

from chatcore import ChatServer, User
from chatcore_server import ChatApp, HttpHandler, Request, Response

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples" / "starlette_chat"))
from app import MAX_NAME, build_server, debug_counts  # type: ignore[import-not-found,unused-ignore]

HOST = "127.0.0.1"
KEY = os.environ.get("CHATCORE_SECRET_KEY", "").encode() or os.urandom(32)


def sign(name: str) -> str:
    """The ``user`` cookie's value for ``name``."""
    encoded = base64.urlsafe_b64encode(name.encode()).decode().rstrip("=")
    mac = hmac.new(KEY, encoded.encode(), hashlib.sha256).hexdigest()
    return f"{encoded}.{mac}"


def signed_name(value: str) -> str:
    """The name a ``user`` cookie carries, or "" if its signature does not match."""
    encoded, _, mac = value.partition(".")
    expected = hmac.new(KEY, encoded.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(mac, expected):
        return ""
    try:
        return base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
    except ValueError:
        return ""


def cookie_user(request: Request) -> User | None:
    """The user of the signed ``user`` cookie (the id derived from the name, as the example)."""
    cookie = SimpleCookie(request.headers.get("cookie", ""))
    name = signed_name(cookie["user"].value) if "user" in cookie else ""
    return User(id=name.casefold(), name=name) if name else None


def site(server: ChatServer, debug: bool) -> HttpHandler:
    """The HTTP routes beside the socket: login, logout and (``debug``) the stats."""

    async def respond(request: Request) -> Response | None:
        if request.method == "POST" and request.path == "/login":
            name = " ".join(parse_qs(request.body[:1024].decode()).get("name", [""])[0].split())
            if not 1 <= len(name) <= MAX_NAME or not name.isprintable():
                return Response(
                    400, body=f"a name has 1 to {MAX_NAME} printable characters\n".encode()
                )
            cookie = f"user={sign(name)}; Path=/; HttpOnly; SameSite=Lax"
            return Response(303, (("location", "/"), ("set-cookie", cookie)))
        if request.method == "POST" and request.path == "/logout":
            user = cookie_user(request)
            if user is not None:
                await server.disconnect_user(user.id)
            return Response(303, (("location", "/"), ("set-cookie", "user=; Path=/; Max-Age=0")))
        if debug and request.method == "GET" and request.path == "/debug/stats":
            counts = debug_counts(server, "objects" in parse_qs(request.query, True))
            headers = (("content-type", "application/json"), ("cache-control", "no-store"))
            return Response(200, headers, json.dumps(counts).encode())
        return None

    return respond


async def main(port: int) -> None:
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with build_server() as server:
        http = site(server, bool(os.environ.get("CHATCORE_DEBUG_STATS")))
        app = ChatApp(server, cookie_user, http=http)
        await app.listen(HOST, port)
        await stop.wait()
        await app.drain(bound=5)


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
