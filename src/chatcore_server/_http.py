"""HTTP/1.1 on an asyncio transport: plain requests, and the WebSocket handshake.

``h11`` parses requests (keep-alive, bodies, limits); ``websockets`` checks a WebSocket
handshake and writes its answer (:func:`handshake`). A connection serves one request at a time;
an upgrade hands the transport to a :class:`~._websocket.WebSocket`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Mapping
from http import HTTPStatus
from typing import cast

import attrs
import h11
from websockets.datastructures import Headers
from websockets.http11 import Request as WsRequest
from websockets.server import ServerProtocol

from ._frames import FrameCache
from ._websocket import WebSocket

__all__ = ("HttpConnection", "Request", "Response", "Site", "text_response")

log = logging.getLogger("chatcore.server")

#: The largest request body read; a larger one gets 413.
MAX_BODY = 1 << 20
#: Seconds a connection may take to send a whole request (its first, or the next on a
#: keep-alive connection) before it is closed: a client that trickles bytes holds nothing long.
REQUEST_TIMEOUT = 30.0


@attrs.frozen
class Request:
    """An HTTP request as the server's routes see it (header names in lower case)."""

    method: str
    path: str
    query: str
    headers: Mapping[str, str]
    body: bytes = b""

    @property
    def upgrade(self) -> bool:
        """Whether it asks for a WebSocket."""
        return self.headers.get("upgrade", "").lower() == "websocket"


@attrs.frozen
class Response:
    """An HTTP response to write."""

    status: int
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""


def text_response(status: int, text: str) -> Response:
    """A plain-text response."""
    return Response(status, (("content-type", "text/plain; charset=utf-8"),), text.encode())


class Site:
    """What an :class:`HttpConnection` serves (the app implements it)."""

    frames: FrameCache
    max_size: int | None
    done: Awaitable[None]

    def opened(self, connection: HttpConnection) -> None:
        """A TCP connection opened."""

    def closed(self, connection: HttpConnection) -> None:
        """A TCP connection ended (or was handed to a WebSocket)."""

    async def respond(self, request: Request) -> Response:
        """Answer a plain request."""
        raise NotImplementedError

    async def websocket(self, connection: HttpConnection, request: Request) -> None:
        """Serve a WebSocket handshake: :meth:`HttpConnection.accept` or ``refuse``."""
        raise NotImplementedError


class HttpConnection(asyncio.Protocol):
    """One TCP connection speaking HTTP/1.1 until it upgrades to a WebSocket."""

    def __init__(self, site: Site) -> None:
        self._site = site
        self._h11 = h11.Connection(h11.SERVER, max_incomplete_event_size=16_384)
        self._transport: asyncio.Transport | None = None
        self._request: h11.Request | None = None
        self._body = bytearray()
        self._task: asyncio.Task[None] | None = None  # the request being answered
        self._upgraded = False
        self._timer: asyncio.TimerHandle | None = None  # REQUEST_TIMEOUT

    @property
    def idle(self) -> bool:
        """Whether no request is being answered (a keep-alive connection between requests)."""
        return self._task is None and not self._upgraded

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # (uvloop's transports are not asyncio.Transport subclasses, but have its methods.)
        self._transport = cast(asyncio.Transport, transport)
        self._site.opened(self)
        self._wait_request()

    def _wait_request(self) -> None:
        """Close the connection unless a whole request comes within REQUEST_TIMEOUT."""
        self._timer = asyncio.get_running_loop().call_later(REQUEST_TIMEOUT, self.close)

    def data_received(self, data: bytes) -> None:
        self._h11.receive_data(data)
        self._next()

    def eof_received(self) -> bool:
        self._h11.receive_data(b"")
        self._next()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if not self._upgraded:
            self._site.closed(self)
        if self._task is not None and not self._upgraded:
            self._task.cancel()

    # requests

    def _next(self) -> None:
        """Read events until a request is complete (then answer it) or more data is needed."""
        while self._task is None and not self._upgraded:
            try:
                event = self._h11.next_event()
            except h11.RemoteProtocolError as error:
                self._fail(error.error_status_hint, str(error))
                return
            if event is h11.NEED_DATA or event is h11.PAUSED:
                return
            if isinstance(event, h11.Request):
                self._request, self._body = event, bytearray()
            elif isinstance(event, h11.Data):
                self._body += event.data
                if len(self._body) > MAX_BODY:
                    self._fail(413, "the request body is too large")
                    return
            elif isinstance(event, h11.EndOfMessage):
                if self._timer is not None:
                    self._timer.cancel()
                    self._timer = None
                self._task = asyncio.get_running_loop().create_task(self._answer())
            elif isinstance(event, h11.ConnectionClosed):
                self.close()
                return

    def _fail(self, status: int, text: str) -> None:
        """Answer a request h11 could not read, and end the connection."""
        if self._h11.our_state in (h11.IDLE, h11.SEND_RESPONSE):
            self._write(text_response(status, text), close=True)
        self.close()

    async def _answer(self) -> None:
        call = self._take_request()
        try:
            if call.upgrade and call.method == "GET":
                # The call goes into the coroutine and out of this frame: a WebSocket's
                # request is not kept for the socket's life.
                serving = self._site.websocket(self, call)
                del call
                try:
                    await serving
                except Exception:  # (after an upgrade there is no HTTP answer to give)
                    log.exception("a WebSocket failed")
                if not self._upgraded:
                    self.close()  # refused
                return
            response = await self._site.respond(call)
            log.debug(
                "%s %s %d",
                call.method,
                call.path,
                response.status,
                extra={
                    "event": "http",
                    "method": call.method,
                    "path": call.path,
                    "status": response.status,
                },
            )
        except Exception:
            log.exception("request failed")
            response = text_response(500, "internal error")
        self._write(response, close=False)
        self._task = None
        if self._h11.our_state is h11.MUST_CLOSE or self._h11.their_state is h11.MUST_CLOSE:
            self.close()
            return
        try:
            self._h11.start_next_cycle()
        except h11.LocalProtocolError:
            self.close()
            return
        self._wait_request()
        self._next()

    def _take_request(self) -> Request:
        """The request read, as the routes see it (h11's copy is let go)."""
        request, self._request = self._request, None
        assert request is not None
        target = request.target.decode("latin-1")
        path, _, query = target.partition("?")
        headers: dict[str, str] = {}
        for name, value in request.headers:
            key = name.decode("latin-1")  # (h11 gives names in lower case)
            text = value.decode("latin-1")
            headers[key] = f"{headers[key]}, {text}" if key in headers else text
        call = Request(request.method.decode("ascii"), path, query, headers, bytes(self._body))
        self._body = bytearray()
        return call

    def _write(self, response: Response, *, close: bool) -> None:
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        headers = [*response.headers, ("content-length", str(len(response.body)))]
        if close:
            headers.append(("connection", "close"))
        h = self._h11
        try:
            head = h11.Response(
                status_code=response.status, headers=headers, reason=_reason(response.status)
            )
            transport.write(h.send(head) or b"")
            if response.body:
                transport.write(h.send(h11.Data(data=response.body)) or b"")
            transport.write(h.send(h11.EndOfMessage()) or b"")
        except h11.LocalProtocolError:
            self.close()

    # the WebSocket handshake

    def refuse(self, status: int, text: str) -> None:
        """Refuse the WebSocket handshake with ``status`` (the connection then ends)."""
        self._write(text_response(status, text), close=True)

    def accept(self, request: Request) -> WebSocket | None:
        """Complete the handshake of ``request``; the open WebSocket, or None if the handshake
        is not a valid one (it was answered with 400 or 426)."""
        transport = self._transport
        if transport is None or transport.is_closing():
            return None
        checker = ServerProtocol()
        answer = checker.accept(WsRequest(request.path, Headers(request.headers)))
        if answer.status_code != 101:
            self._write(Response(answer.status_code, (), bytes(answer.body)), close=True)
            return None
        answer.headers["Server"] = "chatcore"
        transport.write(answer.serialize())
        site = self._site
        socket = WebSocket(transport, site.frames, max_size=site.max_size, done=site.done)
        self._upgraded = True
        site.closed(self)  # the WebSocket owns the transport now
        transport.set_protocol(socket)
        pending, _ = self._h11.trailing_data
        del self._h11  # never used again: not kept for the socket's life
        if pending:
            socket.data_received(bytes(pending))
        return socket


def _reason(status: int) -> bytes:
    try:
        return HTTPStatus(status).phrase.encode()
    except ValueError:
        return b""
