"""The WebSocket endpoint: authenticate the handshake, then pass frames between socket and core."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Collection
from functools import partial

from starlette.responses import PlainTextResponse
from starlette.routing import WebSocketRoute
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect

from chatcore import ChatServer, CloseCode, User
from chatcore.origins import AllowedOrigins, socket_origin
from chatcore.wire.errors import QuotaExceeded, Unavailable

__all__ = ("Authenticate", "ChatEndpoint", "ChatSockets", "chat_route")

#: Finds the user of a socket at the handshake (from its session, cookie, token...), or None.
Authenticate = Callable[[WebSocket], Awaitable[User | None] | User | None]


class ChatSockets:
    """Connects WebSockets whose user is already known to ``server``.

    For frameworks that resolve the user themselves, such as a FastAPI WebSocket route whose
    user comes from a dependency: ``await sockets.serve(websocket, user)``. ``allowed_origins``
    lists the ``Origin`` values browsers may connect from (``"*"`` allows any); by default only
    the socket's own origin is allowed: its scheme, host and port (see :mod:`chatcore.origins`).
    A socket without an ``Origin`` header does not come from a browser page, so the origin
    check does not apply to it.
    """

    def __init__(self, server: ChatServer, allowed_origins: Collection[str] = ()) -> None:
        self.server = server
        self.allowed_origins = AllowedOrigins(allowed_origins)

    async def serve(self, websocket: WebSocket, user: User | None) -> None:
        """Serve ``websocket`` (not yet accepted) as ``user`` until it ends; ``None``, or a
        foreign ``Origin``, refuses the handshake with HTTP 403."""
        if not self.origin_allowed(websocket):
            await _refuse(websocket, "this origin may not connect")
            return
        await self._serve(websocket, user, websocket.send)

    async def _serve(self, websocket: WebSocket, user: User | None, send: Send) -> None:
        """Accept ``websocket`` for ``user`` and pass frames until it ends; ``send`` is the
        ASGI send the frames go out through."""
        if user is None:
            await _refuse(websocket, "log in first")
            return
        try:
            await websocket.accept()
        except WebSocketDisconnect:
            return  # the socket went away while accepting
        try:
            connection = await self.server.connect(user)
        except Unavailable:
            await websocket.close(CloseCode.TRY_AGAIN_LATER)
            return
        except QuotaExceeded as error:
            # Accepted, then closed: unlike a 403, a browser sees the code and the reason.
            await websocket.close(CloseCode.QUOTA_EXCEEDED, error.message)
            return

        def send_text(text: str) -> Awaitable[None]:
            # The ASGI message itself, without WebSocket.send_text's coroutines and checks: this
            # runs once per frame and recipient, and serve sends only while the socket is open.
            # Measured to matter: see docs/performance.md, "The adapters' raw send".
            return send({"type": "websocket.send", "text": text})

        await connection.serve(
            partial(_read, websocket),
            send_text,
            websocket.close,
            gone=(WebSocketDisconnect, OSError),
        )

    def origin_allowed(self, websocket: WebSocket) -> bool:
        """Whether the handshake's ``Origin`` (if any) may open a socket."""
        headers = websocket.headers
        origin = headers.get("origin")
        allowed = self.allowed_origins
        if origin is None or allowed.any:
            return True  # (before the socket's own origin is worked out: once per handshake)
        host = headers.get("host")
        # A list given replaces the site's own origin (behind a proxy that rewrites Host, the
        # socket's own origin is not the public one).
        own = (
            socket_origin(websocket.scope["scheme"], host) if host and not allowed.origins else None
        )
        return allowed.allow(origin, own)


class ChatEndpoint(ChatSockets):
    """An ASGI WebSocket app that connects each authenticated socket to ``server``.

    ``authenticate`` finds each socket's user; ``allowed_origins`` is :class:`ChatSockets`'.
    """

    def __init__(
        self,
        server: ChatServer,
        authenticate: Authenticate,
        allowed_origins: Collection[str] = (),
    ) -> None:
        super().__init__(server, allowed_origins)
        self.authenticate = authenticate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        websocket = WebSocket(scope, receive, send)
        if not self.origin_allowed(websocket):
            await _refuse(websocket, "this origin may not connect")
            return
        user = self.authenticate(websocket)
        if inspect.isawaitable(user):
            user = await user
        # The raw ASGI send: the frames skip WebSocket.send's state checks.
        await self._serve(websocket, user, send)


async def _refuse(websocket: WebSocket, reason: str) -> None:
    """Refuse the handshake with HTTP 403."""
    if "websocket.http.response" in websocket.scope.get("extensions", {}):
        await websocket.send_denial_response(PlainTextResponse(reason, status_code=403))
    else:
        # Closing before accepting makes the server answer the handshake with 403.
        await websocket.close(CloseCode.POLICY_VIOLATION)


async def _read(websocket: WebSocket) -> str | bytes | None:
    """The client's next frame, or None once the socket ended."""
    message = await websocket.receive()
    if message["type"] == "websocket.disconnect":
        return None
    text = message.get("text")
    return text if text is not None else message.get("bytes") or b""


def chat_route(
    path: str,
    server: ChatServer,
    authenticate: Authenticate,
    allowed_origins: Collection[str] = (),
) -> WebSocketRoute:
    """A Starlette route serving a :class:`ChatEndpoint` at ``path``."""
    return WebSocketRoute(path, ChatEndpoint(server, authenticate, allowed_origins))
