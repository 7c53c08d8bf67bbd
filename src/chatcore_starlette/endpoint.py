"""The WebSocket endpoint: authenticate the handshake, then pass frames between socket and core."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Collection
from urllib.parse import urlsplit

import anyio
from starlette.responses import PlainTextResponse
from starlette.routing import WebSocketRoute
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect

from chatcore import ChatServer, CloseCode, Connection, User
from chatcore.errors import QuotaExceeded, Unavailable

__all__ = ("Authenticate", "ChatEndpoint", "chat_route")

#: Seconds a closed connection's socket may take to send its close frame before it is ended.
CLOSE_LINGER = 5.0

#: Finds the user of a socket at the handshake (from its session, cookie, token...), or None.
Authenticate = Callable[[WebSocket], Awaitable[User | None] | User | None]


class ChatEndpoint:
    """An ASGI WebSocket app that connects each authenticated socket to ``server``.

    ``allowed_origins`` lists the ``Origin`` values browsers may connect from (``"*"`` allows
    any); by default only the socket's own host is allowed. A socket without an ``Origin`` header
    does not come from a browser page, so the origin check does not apply to it.
    """

    def __init__(
        self,
        server: ChatServer,
        authenticate: Authenticate,
        allowed_origins: Collection[str] = (),
    ) -> None:
        self.server = server
        self.authenticate = authenticate
        self.allowed_origins = frozenset(origin.rstrip("/") for origin in allowed_origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        websocket = WebSocket(scope, receive, send)
        if not self.origin_allowed(websocket):
            await _refuse(websocket, "this origin may not connect")
            return
        user = self.authenticate(websocket)
        if inspect.isawaitable(user):
            user = await user
        if user is None:
            await _refuse(websocket, "log in first")
            return
        try:
            connection = await self.server.connect(user)
        except Unavailable:
            await websocket.accept()
            await websocket.close(CloseCode.TRY_AGAIN_LATER)
            return
        except QuotaExceeded as error:
            # Accepted, then closed: unlike a 403, a browser sees the code and the reason.
            await websocket.accept()
            await websocket.close(CloseCode.QUOTA_EXCEEDED, error.message)
            return
        try:
            await websocket.accept()
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(_pump, websocket, send, connection, tasks.cancel_scope)
                tasks.start_soon(_end_when_closed, connection, tasks.cancel_scope)
                await _read(websocket, connection)
                tasks.cancel_scope.cancel()
        except WebSocketDisconnect:
            pass  # the socket went away while accepting
        finally:
            # Whatever ended the socket (close frame, reset, cancellation), the core must know.
            with anyio.CancelScope(shield=True):
                await connection.close()

    def origin_allowed(self, websocket: WebSocket) -> bool:
        """Whether the handshake's ``Origin`` (if any) may open a socket."""
        origin = websocket.headers.get("origin")
        if origin is None or "*" in self.allowed_origins:
            return True
        origin = origin.rstrip("/")
        if self.allowed_origins:
            return origin in self.allowed_origins
        host = websocket.headers.get("host")
        return host is not None and urlsplit(origin).netloc == host


async def _refuse(websocket: WebSocket, reason: str) -> None:
    """Refuse the handshake with HTTP 403."""
    if "websocket.http.response" in websocket.scope.get("extensions", {}):
        await websocket.send_denial_response(PlainTextResponse(reason, status_code=403))
    else:
        # Closing before accepting makes the server answer the handshake with 403.
        await websocket.close(CloseCode.POLICY_VIOLATION)


async def _read(websocket: WebSocket, connection: Connection) -> None:
    """Feed client frames to the core until the client closes or the socket is lost."""
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
        text = message.get("text")
        await connection.receive(text if text is not None else message.get("bytes") or b"")


async def _pump(
    websocket: WebSocket, send: Send, connection: Connection, reader: anyio.CancelScope
) -> None:
    """Send the core's frames; close the socket with the core's code when it closes."""

    def send_text(text: str) -> Awaitable[None]:
        # The ASGI message itself, without WebSocket.send_text's checks: this runs once per
        # frame and recipient, and the socket is known to be accepted.
        return send({"type": "websocket.send", "text": text})

    try:
        code = await connection.write_all(send_text)
        await websocket.close(code)
    except (WebSocketDisconnect, OSError):
        pass  # the socket is gone; the reader sees the disconnect or is cancelled below
    reader.cancel()


async def _end_when_closed(connection: Connection, socket: anyio.CancelScope) -> None:
    """Once the core closes the connection, give the pump ``CLOSE_LINGER`` seconds to send the
    close frame, then end the socket anyway: a client that stopped reading (a slow consumer
    closed with 1013) would otherwise keep a send, and its membership, pending forever."""
    await connection.wait_closed()
    await anyio.sleep(CLOSE_LINGER)
    socket.cancel()


def chat_route(
    path: str,
    server: ChatServer,
    authenticate: Authenticate,
    allowed_origins: Collection[str] = (),
) -> WebSocketRoute:
    """A Starlette route serving a :class:`ChatEndpoint` at ``path``."""
    return WebSocketRoute(path, ChatEndpoint(server, authenticate, allowed_origins))
