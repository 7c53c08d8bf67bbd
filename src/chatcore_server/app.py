"""The native adapter: a chat server that speaks HTTP and WebSocket itself, on asyncio.

No ASGI server sits between the core and the socket, so a fan-out frame is built once as
WebSocket bytes and written to every recipient's transport (see :mod:`._websocket`). Use it as a
library::

    async with ChatServer() as server:
        app = ChatApp(server, authenticate)
        await app.listen("127.0.0.1", 8080)
        ...
        await app.drain()

or through ``chatcore serve`` (:mod:`chatcore_server.cli`), which adds JWT logins, the HTTP
API, metrics and health.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import time
from collections.abc import Awaitable, Callable, Collection
from typing import Any

import anyio

from chatcore import (
    ChatServer,
    CloseCode,
    Connection,
    Forbidden,
    InvalidField,
    QuotaExceeded,
    Unavailable,
    User,
)
from chatcore.origins import AllowedOrigins, socket_origin
from chatcore.wire.events import ErrorReply, OkReply
from chatcore.wire.protocol import encode

from ._frames import FrameCache
from ._http import HttpConnection, Request, Response, Site, text_response
from ._websocket import WebSocket
from .login import Authenticate, Login, LoginRefused, TokenLogin

__all__ = ("ChatApp", "HttpHandler")

log = logging.getLogger("chatcore.server")

#: Answers a plain HTTP request, or None to leave it to the next (404 at the end).
HttpHandler = Callable[[Request], Awaitable[Response | None]]


class ChatApp(Site):
    """Serves ``server``'s chat at ``path`` (WebSocket) and ``http`` (other requests).

    ``authenticate`` finds a socket's user at the handshake; None (or raising
    :class:`~.login.LoginRefused`) refuses it with HTTP 403,
    unless ``token_login`` is given: then the socket is accepted and its first frame must be
    ``{"type": "auth", "token": ...}`` (else it is closed with 4401), and ``refresh`` frames
    move a login's expiry on. ``allowed_origins`` works as in the other adapters
    (:mod:`chatcore.origins`).
    """

    def __init__(
        self,
        server: ChatServer,
        authenticate: Authenticate | None = None,
        *,
        path: str = "/ws",
        allowed_origins: Collection[str] = (),
        token_login: TokenLogin | None = None,
        http: HttpHandler | None = None,
        auth_timeout: float = 10.0,
        close_timeout: float = 5.0,
        write_buffer: int = 64 * 1024,
    ) -> None:
        self.server = server
        self.authenticate = authenticate
        self.path = path
        self.allowed_origins = AllowedOrigins(allowed_origins)
        self.token_login = token_login
        self.http = http
        self.auth_timeout = auth_timeout
        self.close_timeout = close_timeout
        self.write_buffer = write_buffer
        self.frames = FrameCache()
        self.max_size = server.limits.hard_frame_cap
        self.draining = False
        self._done: asyncio.Future[None] | None = None
        self._servers: list[asyncio.Server] = []
        self._requests: set[HttpConnection] = set()
        self._sockets: dict[WebSocket, Connection | None] = {}
        self._gone: asyncio.Event | None = None  # set when the last socket ends (drain)

    @property
    def done(self) -> asyncio.Future[None]:  # type: ignore[override]
        """A future already done: what a send that did not wait returns."""
        if self._done is None:
            self._done = asyncio.get_running_loop().create_future()
            self._done.set_result(None)
        return self._done

    @property
    def sockets(self) -> int:
        """Open WebSockets."""
        return len(self._sockets)

    # serving

    async def listen(
        self, host: str = "127.0.0.1", port: int = 0, *, backlog: int = 2048
    ) -> asyncio.Server:
        """Start accepting connections on ``host``:``port`` (0: a free port; see the returned
        server's ``sockets``)."""
        loop = asyncio.get_running_loop()
        listening = await loop.create_server(self.connection, host, port, backlog=backlog)
        self._servers.append(listening)
        return listening

    def connection(self) -> HttpConnection:
        """The protocol of a new TCP connection (for ``loop.create_server``)."""
        return HttpConnection(self)

    def opened(self, connection: HttpConnection) -> None:
        self._requests.add(connection)

    def closed(self, connection: HttpConnection) -> None:
        self._requests.discard(connection)

    async def respond(self, request: Request) -> Response:
        if request.path == self.path:
            return text_response(426, "this is a WebSocket endpoint")
        if self.http is not None:
            response = await self.http(request)
            if response is not None:
                return response
        return text_response(404, "not found")

    async def drain(self, *, batch: int = 500, pause: float = 0.1, bound: float = 30.0) -> None:
        """Stop accepting, then close the sockets in batches of ``batch`` (``pause`` seconds
        apart) with 1012, so their clients reconnect elsewhere; return once they are gone, or
        after ``bound`` seconds."""
        self.draining = True
        deadline = time.monotonic() + bound
        for listening in self._servers:
            listening.close()
        for connection in list(self._requests):
            if connection.idle:
                connection.close()
        for count, (socket, chat) in enumerate(list(self._sockets.items()), 1):
            if chat is not None:
                chat.end(CloseCode.SERVICE_RESTART)
            else:  # (still logging in)
                await socket.close(CloseCode.SERVICE_RESTART)
            if count % batch == 0:
                await asyncio.sleep(pause)
        if self._sockets:
            self._gone = asyncio.Event()
            try:
                await asyncio.wait_for(self._gone.wait(), max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                log.warning("drain: %d sockets still open after %.0f s", len(self._sockets), bound)
        for connection in list(self._requests):
            connection.close()

    # sockets

    async def websocket(self, http: HttpConnection, request: Request) -> None:
        if request.path != self.path:
            http.refuse(404, "not found")
            return
        if self.draining:
            http.refuse(503, "the server is restarting")
            return
        if not self.origin_allowed(request):
            http.refuse(403, "this origin may not connect")
            return
        try:
            login = await self._authenticate(request)
        except LoginRefused as refused:
            log.info("login refused at the handshake: %s", refused.code)
            http.refuse(403, "the token is not valid")
            return
        if login is None and self.token_login is None:
            http.refuse(403, "log in first")
            return
        socket = http.accept(request)
        del request  # (held for the socket's life otherwise: memory per connection counts)
        if socket is None:
            return
        _bound_writes(socket, self.write_buffer)
        self._sockets[socket] = None
        try:
            await self._serve(socket, login)
        finally:
            del self._sockets[socket]
            if not self._sockets and self._gone is not None:
                self._gone.set()
            await socket.wait_closed(self.close_timeout)

    def origin_allowed(self, request: Request) -> bool:
        """Whether the handshake's ``Origin`` (if any) may open a socket."""
        host = request.headers.get("host")
        listed = self.allowed_origins.origins
        own = socket_origin("http", host) if host and not listed else None
        return self.allowed_origins.allow(request.headers.get("origin"), own)

    async def _authenticate(self, request: Request) -> Login | None:
        if self.authenticate is None:
            return None
        found = self.authenticate(request)
        if inspect.isawaitable(found):
            found = await found
        return Login(found) if isinstance(found, User) else found

    async def _serve(self, socket: WebSocket, login: Login | None) -> None:
        if login is None:
            login = await self._first_frame(socket)
            if login is None:
                await socket.close(CloseCode.UNAUTHORIZED, "log in first")
                return
        try:
            chat = await self.server.connect(login.user)
        except Unavailable:
            await socket.close(CloseCode.TRY_AGAIN_LATER)
            return
        except QuotaExceeded as error:
            await socket.close(CloseCode.QUOTA_EXCEEDED, error.message)
            return
        self._sockets[socket] = chat
        # Frames go to the socket's buffer as they are produced, from the fan-out itself: no
        # task per socket writes (see chatcore.runtime.outbox, Outbox.attach).
        socket.attach(chat.resume, self.server.limits.close_linger / 1000)
        chat.attach(socket)
        if self.draining:
            chat.end(CloseCode.SERVICE_RESTART)
        expiry = _Expiry(chat, login.expires)
        receive = socket.receive if self.token_login is None else self._reader(socket, chat, expiry)
        try:
            # Until the socket ends: the client closed it, or answered the close frame the
            # core's close sent (Writer.closed), or that frame's linger ran out.
            while (data := await receive()) is not None:
                await chat.receive(data)
        finally:
            expiry.cancel()
            with anyio.CancelScope(shield=True):
                await chat.close()
            log.debug(
                "socket of %s ended",
                chat.user.id,
                extra={"event": "socket_end", "user": chat.user.id, "code": chat.close_code},
            )

    async def _first_frame(self, socket: WebSocket) -> Login | None:
        """The login of an ``auth`` frame, the socket's first; None if it is not one, or late."""
        assert self.token_login is not None
        try:
            data = await asyncio.wait_for(socket.receive(), self.auth_timeout)
        except TimeoutError:
            return None
        frame = _object(data)
        token = frame.get("token") if frame.get("type") == "auth" else None
        if not isinstance(token, str):
            return None
        try:
            return self.token_login(token)
        except LoginRefused as refused:
            log.info("login refused: %s", refused.code)
            return None

    def _reader(
        self, socket: WebSocket, chat: Connection, expiry: _Expiry
    ) -> Callable[[], Awaitable[str | bytes | None]]:
        """The socket's frames for the core, once ``refresh`` frames are taken out."""
        token_login = self.token_login
        assert token_login is not None

        async def receive() -> str | bytes | None:
            while True:
                data = await socket.receive()
                if type(data) is not str or '"refresh"' not in data:
                    return data
                frame = _object(data)
                if frame.get("type") != "refresh":
                    return data
                _refresh(chat, expiry, token_login, frame)

        return receive


def _refresh(chat: Connection, expiry: _Expiry, token_login: TokenLogin, frame: Any) -> None:
    """Handle a ``refresh {token}`` frame: a later expiry for the same user."""
    ref = frame.get("ref")
    ref = ref if isinstance(ref, str | int) and not isinstance(ref, bool) else None
    token = frame.get("token")
    try:
        if not isinstance(token, str):
            raise InvalidField("token must be a string", field="token")
        try:
            login = token_login(token)
        except LoginRefused as refused:
            raise InvalidField(f"the token is not valid ({refused.code})", field="token") from None
        if login.user.id != chat.user.id:
            raise Forbidden("the token is another user's")
    except (InvalidField, Forbidden) as error:
        chat.push(encode(ErrorReply.from_error(error, ref)))
        return
    expiry.move(login.expires)
    if ref is not None:
        chat.push(encode(OkReply(ref=ref, result={})))


def _object(data: str | bytes | None) -> dict[str, Any]:
    """``data`` as a JSON object, or an empty one."""
    if data is None:
        return {}
    try:
        frame = json.loads(data)
    except ValueError:
        return {}
    return frame if isinstance(frame, dict) else {}


def _bound_writes(socket: WebSocket, high: int) -> None:
    """Bound the socket's write buffer: past ``high`` bytes its sends wait (backpressure)."""
    socket.transport.set_write_buffer_limits(high=high, low=high // 4)


class _Expiry:
    """Ends a connection with 4401 when its login expires."""

    __slots__ = ("_chat", "_timer")

    def __init__(self, chat: Connection, expires: float | None) -> None:
        self._chat = chat
        self._timer: asyncio.TimerHandle | None = None
        self.move(expires)

    def move(self, expires: float | None) -> None:
        self.cancel()
        if expires is not None:
            delay = max(0.0, expires - time.time())
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(delay, self._chat.end, CloseCode.UNAUTHORIZED)

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
