"""One open WebSocket on an asyncio transport: client frames in, pre-built frames out.

The handshake is done (see :mod:`._http`); from then on this protocol object owns the transport.
Client frames are parsed by the sans-I/O layer of ``websockets`` (fragments, control frames,
ping/pong, the closing handshake, sizes); text messages are reassembled and decoded here.

:meth:`WebSocket.send_text` is the fan-out's fast path: it frames the text once for every
recipient (:class:`~._frames.FrameCache`) and appends the bytes to the transport's buffer. It
returns an awaitable that is already done, unless the buffer is over its high-water mark; then
it returns a future that resolves when the buffer drains. The outbox
(:mod:`chatcore.runtime.outbox`) treats that as a send that waits: the frame stays held and
later frames queue, under the same byte bound and slow-consumer policy as with the other
adapters.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
from collections import deque
from collections.abc import Awaitable, Callable
from typing import cast

from websockets.frames import Frame, Opcode
from websockets.protocol import SEND_EOF, Protocol, Side, State

from ._frames import FrameCache

__all__ = ("SocketGone", "WebSocket")

#: Client messages held before the socket stops reading from the network.
_INBOX = 16


class _Frames(Protocol):
    """websockets' sans-I/O protocol, except that a close frame in the middle of a fragmented
    message closes cleanly: RFC 6455 (5.4) lets control frames come between fragments, and the
    Autobahn Testsuite (case 7.1.5) expects a normal close, not 1002. The unfinished message
    is dropped."""

    def recv_frame(self, frame: Frame) -> None:
        if frame.opcode is Opcode.CLOSE:
            self.current_size = None
        super().recv_frame(frame)


class SocketGone(ConnectionError):
    """The socket is closed or closing: nothing more can be sent on it."""


class WebSocket(asyncio.Protocol):
    """An open WebSocket (server side) on ``transport``. Made by the HTTP layer after the
    handshake, which hands over the bytes already read past the request (``pending``)."""

    __slots__ = (
        "_decoder",
        "_done",
        "_drain_callback",
        "_drained",
        "_eof",
        "_frames",
        "_inbox",
        "_linger",
        "_linger_timer",
        "_lost",
        "_open",
        "_parts",
        "_paused",
        "_protocol",
        "_reading_paused",
        "_text",
        "_transport",
        "_waiter",
    )

    def __init__(
        self,
        transport: asyncio.Transport,
        frames: FrameCache,
        *,
        max_size: int | None,
        done: Awaitable[None],
    ) -> None:
        self._transport = transport
        self._frames = frames
        self._done = done  # a future already done: what an immediate send returns
        self._protocol = _Frames(Side.SERVER, state=State.OPEN, max_size=max_size)
        # Open both ways and the transport not closing: frames may be sent. (Kept here, not
        # asked of the protocol and the transport on each of the fan-out's writes.)
        self._open = True
        self._inbox: deque[str | bytes | None] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._paused = False  # the transport's buffer is over its high-water mark
        self._drained: asyncio.Future[None] | None = None
        self._reading_paused = False
        self._lost: asyncio.Future[None] | None = None
        # A fragmented message being reassembled: its parts, its kind, its decoder.
        self._parts: list[bytes | str] | None = None
        self._text = False
        self._decoder: codecs.IncrementalDecoder | None = None
        # Attached as a chat connection's writer (see write): what to call when the buffer
        # drains, and how long a closed connection's socket may wait for the client.
        self._drain_callback: Callable[[], None] | None = None
        self._linger = 5.0
        self._linger_timer: asyncio.TimerHandle | None = None  # (see _after_linger)
        self._eof = False  # the client ended its side

    @property
    def transport(self) -> asyncio.Transport:
        return self._transport

    # asyncio.Protocol

    def data_received(self, data: bytes) -> None:
        protocol = self._protocol
        protocol.receive_data(data)
        for event in protocol.events_received():
            frame = cast(Frame, event)  # (after the handshake, only frames)
            opcode = frame.opcode
            if opcode is Opcode.TEXT or opcode is Opcode.BINARY or opcode is Opcode.CONT:
                self._fragment(opcode, cast(bytes, frame.data), frame.fin)
        self._flush()

    def eof_received(self) -> bool:
        self._eof = True
        self._protocol.receive_eof()
        self._flush()
        return False  # the transport closes itself

    def pause_writing(self) -> None:
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False
        self._wake_writer()
        if self._drain_callback is not None:
            self._drain_callback()

    def connection_lost(self, exc: Exception | None) -> None:
        self._open = False
        if self._linger_timer is not None:  # (it would hold this socket until it fires)
            self._linger_timer.cancel()
            self._linger_timer = None
        self._paused = False
        self._wake_writer()
        self._push(None)
        if self._lost is not None and not self._lost.done():
            self._lost.set_result(None)

    # receiving

    def _fragment(self, opcode: Opcode, data: bytes, fin: bool) -> None:
        """Take one data frame: a whole message, or one part of a fragmented one."""
        try:
            if opcode is not Opcode.CONT:
                self._text = opcode is Opcode.TEXT
                if fin:
                    self._push(data.decode() if self._text else data)
                    return
                self._decoder = codecs.getincrementaldecoder("utf-8")() if self._text else None
                self._parts = []
            parts, decoder = self._parts, self._decoder
            if parts is None:
                return  # (the protocol has failed the connection already)
            # Text is decoded part by part, so invalid UTF-8 fails the connection at once.
            parts.append(decoder.decode(data, fin) if decoder is not None else data)
            if fin:
                self._parts = self._decoder = None
                self._push("".join(parts) if self._text else b"".join(parts))  # type: ignore[arg-type]
        except UnicodeDecodeError:
            self._parts = self._decoder = None
            self._protocol.fail(1007, "invalid UTF-8")  # INVALID_DATA

    def _push(self, message: str | bytes | None) -> None:
        inbox = self._inbox
        inbox.append(message)
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)
        if len(inbox) >= _INBOX and not self._reading_paused and message is not None:
            self._reading_paused = True
            self._transport.pause_reading()

    async def receive(self) -> str | bytes | None:
        """The client's next message (text, or bytes for a binary one), or None once the
        socket has ended (closed by either side, or lost)."""
        inbox = self._inbox
        while not inbox:
            if self._protocol.state is not State.OPEN and self._transport.is_closing():
                return None
            self._waiter = waiter = asyncio.get_running_loop().create_future()
            await waiter
        message = inbox.popleft()
        if message is None:
            inbox.append(None)  # the end stays the end
        elif self._reading_paused and len(inbox) < _INBOX // 2:
            self._reading_paused = False
            self._transport.resume_reading()
        return message

    # sending

    def send_text(self, text: str) -> Awaitable[None]:
        """Send ``text`` as one text frame, now; what to await before the next send (done at
        once unless the transport's buffer is full). Raises :class:`SocketGone` once the socket
        is closing."""
        if self._protocol.state is not State.OPEN or self._transport.is_closing():
            raise SocketGone("the socket is closed")
        self._transport.write(self._frames.frame(text))
        if self._paused:  # (set by the write itself, from pause_writing)
            return self._drain()
        return self._done

    # as a chat connection's writer (chatcore.runtime.outbox.Writer)

    def attach(self, drained: Callable[[], None], linger: float) -> None:
        """Be a writer: call ``drained`` when the buffer drains; end the socket ``linger``
        seconds after the close frame if the client has not closed it by then."""
        self._drain_callback = drained
        self._linger = linger

    def write(self, text: str) -> bool:
        """Put ``text``'s frame in the buffer; False once the buffer is over its high-water
        mark. A socket that is closing takes no more frames (its end is the reader's to see)."""
        if self._open:
            self._transport.write(self._frames.frame(text))
            return not self._paused
        return True

    def closed(self, code: int) -> None:
        """The connection closed: send the close frame (after what the buffer holds)."""
        transport = self._transport
        if self._protocol.state is State.OPEN and not transport.is_closing():
            self._protocol.send_close(code)
            self._flush()
            # A client that stopped reading never answers; end the socket anyway.
            self._after_linger()

    def _after_linger(self) -> None:
        """End the socket after the linger, unless it ends before."""
        if self._linger_timer is None:
            self._linger_timer = asyncio.get_running_loop().call_later(self._linger, self._end)

    def _end(self) -> None:
        self._linger_timer = None
        self._open = False
        if not self._transport.is_closing():
            self._transport.abort()

    def send_bytes(self, data: bytes) -> Awaitable[None]:
        """Send ``data`` as one binary frame (the echo route's)."""
        if self._protocol.state is not State.OPEN or self._transport.is_closing():
            raise SocketGone("the socket is closed")
        self._protocol.send_binary(data)
        self._flush()
        return self._drain() if self._paused else self._done

    def _drain(self) -> asyncio.Future[None]:
        if self._drained is None:
            self._drained = asyncio.get_running_loop().create_future()
        return self._drained

    def _wake_writer(self) -> None:
        drained, self._drained = self._drained, None
        if drained is not None and not drained.done():
            drained.set_result(None)

    async def close(self, code: int, reason: str = "") -> None:
        """Send the close frame with ``code`` (the client answers; then the socket ends)."""
        if self._protocol.state is State.OPEN and not self._transport.is_closing():
            self._protocol.send_close(code, reason)
            self._flush()

    async def wait_closed(self, within: float) -> None:
        """Wait until the socket has ended, at most ``within`` seconds; then end it."""
        if not self._transport.is_closing():
            if self._lost is None:
                self._lost = asyncio.get_running_loop().create_future()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._lost), within)
        self._open = False
        self._transport.abort() if self._protocol.state is State.OPEN else self._transport.close()

    def _flush(self) -> None:
        """Write what the protocol has to send (pongs, close frames); end the TCP connection
        when it says so (after the closing handshake, or a failure)."""
        transport = self._transport
        for data in self._protocol.data_to_send():
            if data is SEND_EOF or not data:
                self._send_eof()
            else:
                transport.write(data)
        if self._protocol.state is not State.OPEN or transport.is_closing():
            self._open = False

    def _send_eof(self) -> None:
        """End this side of the TCP connection, after the buffered bytes. A half-close, not a
        close: closing a socket while the client is still sending (the rest of a frame over
        the size limit, failed from its header) makes the kernel answer with a reset, and the
        client loses the close frame it had not read yet. The client ends its side once it has
        read the close frame (then the transport closes); one that does not is ended after the
        linger."""
        transport = self._transport
        if transport.is_closing():
            return
        if not self._eof and transport.can_write_eof():
            transport.write_eof()
            self._after_linger()
        else:  # (a client that ended its side sends nothing more)
            transport.close()
