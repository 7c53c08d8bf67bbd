"""A client connection as adapters and tests hold it: frames in, frames out, close."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import anyio

from ..metrics import COUNTS
from ..wire.commands import Command, Ref
from ..wire.commands import Send as SendCommand
from ..wire.errors import ClientError, CloseCode, InternalError, RateLimited, Unavailable
from ..wire.events import ErrorReply, OkReply
from ..wire.protocol import Rejected, decode, encode, frame_size
from ..wire.values import User
from ._handlers import Reply, check_send, handle, post_send
from ._inline import start
from ._serve import CloseSocket, Receive, serve
from .hub import Session
from .outbox import Closed, SendFrame, Writer
from .ports import Runtime

__all__ = ("PIPELINE_DEPTH", "Closed", "Connection")

log = logging.getLogger("chatcore")

#: At most this many ``send`` frames of one connection are in flight at once.
PIPELINE_DEPTH = 32

_Handler = Callable[[Runtime, Session, Any], Awaitable[Any]]


class Connection:
    """One authenticated client connection of a :class:`~chatcore.runtime.server.ChatServer`.

    An adapter accepts the socket and calls :meth:`serve` with three functions: read a frame,
    send a frame, send the close frame. (:meth:`serve` feeds every frame the client sends to
    :meth:`receive`, one at a time, runs :meth:`write_all` with the socket's send, sends a close
    frame with the code it returns, and calls :meth:`close` when the socket ends.)
    (:meth:`next_frame` and :meth:`frames` serve clients that pull frames instead, such as
    :class:`~chatcore.testing.LocalClient`.)

    It sees the server only through :class:`~chatcore.runtime.ports.Runtime`.
    """

    def __init__(self, runtime: Runtime, session: Session) -> None:
        self._runtime = runtime  # all it sees of the server
        self._session = session
        self._sending = 0  # pipelined sends in flight
        self._sent: anyio.Event | None = None  # set when one of them ends
        self._last_started: anyio.Event | None = None  # the newest one's first step ran

    @property
    def id(self) -> int:
        return self._session.id

    @property
    def user(self) -> User:
        return self._session.user

    @property
    def close_code(self) -> CloseCode | None:
        """Set once the server has closed this connection."""
        return self._session.outbox.close_code

    async def receive(self, data: str | bytes) -> None:
        """Handle one frame from the client. Never raises for anything the client sent."""
        session = self._session
        if session.outbox.close_code is not None:
            return
        COUNTS.frames_in += 1
        limits = self._runtime.limits
        size = len(data) if isinstance(data, bytes) else frame_size(data)
        if size > limits.hard_frame_cap:
            session.outbox.close(CloseCode.MESSAGE_TOO_BIG)
            return
        command = decode(data, limits.max_frame)
        if isinstance(command, Rejected):
            self._fail(command.error, command.ref)
            return
        if not session.rate.take(self._runtime.clock.now()):
            self._fail(RateLimited(), command.ref)
            return
        if type(command) is SendCommand and self._runtime.pipelines_sends:
            await self._pipeline(command)
            return
        while self._sending:  # any other command comes after the sends before it
            await self._wait_sent()
        await self._run(handle, command)

    async def _pipeline(self, command: SendCommand) -> None:
        """Check a ``send`` now, and post it in a task of its own, so the next frame is read
        while the message is on its way to the store."""
        while self._sending >= PIPELINE_DEPTH:
            await self._wait_sent()
        checked = await self._run(check_send, command, reply=False)
        if checked is None:
            return
        command = checked  # as the message hooks left it
        # A post's first step starts its append (or queues it behind the room's lock), so
        # when each first step runs after the one before, this connection's messages take ids
        # in the order it sent them. Tasks on asyncio take their first steps in the order they
        # were made; elsewhere each waits for the one before.
        self._sending += 1
        if self._runtime.spawns_in_order:
            self._runtime.spawn(self._post, command, None, None)
        else:
            started = anyio.Event()
            before, self._last_started = self._last_started, started
            self._runtime.spawn(self._post, command, before, started)

    async def _post(
        self, command: SendCommand, before: anyio.Event | None, started: anyio.Event | None
    ) -> None:
        try:
            try:
                if before is not None:
                    await before.wait()
                rest = start(self._run(post_send, command))  # its first step, here and now
            finally:
                if started is not None:
                    started.set()
            if rest is not None:
                await rest
        finally:
            self._sending -= 1
            if self._sent is not None:
                self._sent.set()
                self._sent = None

    async def _wait_sent(self) -> None:
        if self._sent is None:
            self._sent = anyio.Event()
        await self._sent.wait()

    async def _run(self, handler: _Handler, command: Command, *, reply: bool = True) -> Any:
        """Run ``handler`` for ``command`` and answer: ``ok`` with its result (if ``reply``),
        or the error. The handler's result, or None if it failed."""
        session = self._session
        try:
            result = await handler(self._runtime, session, command)
        except ClientError as error:
            self._fail(error, command.ref)
            return None
        except Exception:
            log.exception("%s failed for user %s", type(command).__name__, session.user.id)
            self._fail(InternalError(), command.ref)
            return None
        if type(result) is Reply:
            if command.ref is not None:
                session.outbox.put(encode(OkReply(ref=command.ref, result=result.fields)))
                COUNTS.frames_out += 1
            for frame in result.then:
                session.outbox.put(frame)
            COUNTS.frames_out += len(result.then)
        elif reply and command.ref is not None:
            session.outbox.put(encode(OkReply(ref=command.ref, result=result)))
            COUNTS.frames_out += 1
        return result

    def _fail(self, error: ClientError, ref: Ref) -> None:
        outbox = self._session.outbox
        outbox.put(encode(ErrorReply.from_error(error, ref)))
        COUNTS.frames_out += 1
        if isinstance(error, Unavailable | InternalError):
            return  # not the client's fault
        if not self._session.abuse.take(self._runtime.clock.now()):
            outbox.close(CloseCode.POLICY_VIOLATION)

    async def write_all(self, send: SendFrame) -> CloseCode:
        """Send every frame with ``send`` (e.g. ``websocket.send_text``) until the server closes
        the connection; the close code to send then. An exception from ``send`` propagates.

        While this runs, frames for an idle socket are sent as they are produced, without
        waking this task (see :mod:`chatcore.runtime.outbox`); ``send`` must not depend on the task
        it runs in.
        """
        return await self._session.outbox.write_all(send)

    async def next_frame(self) -> str:
        """Wait for the next frame to send. Raises :class:`Closed` when the server closes."""
        return await self._session.outbox.get()

    def next_frame_nowait(self) -> str | None:
        """The next queued frame, or None. Raises :class:`Closed` when the server closes."""
        return self._session.outbox.get_nowait()

    def when_closed(self, callback: Callable[[CloseCode], None]) -> None:
        """Call ``callback`` with the close code once the server closes this connection (at
        once, if it has): :meth:`wait_closed` without a task."""
        self._session.outbox.when_closed(callback)

    async def wait_closed(self) -> CloseCode:
        """Wait until the server closes this connection (a send may still be under way)."""
        return await self._session.outbox.wait_closed()

    async def frames(self) -> AsyncIterator[str]:
        """Every frame to send, until the server closes the connection."""
        while True:
            try:
                yield await self._session.outbox.get()
            except Closed:
                return

    def attach(self, writer: Writer) -> None:
        """Hand every frame to ``writer`` as it is produced, with no task (instead of
        :meth:`serve` or :meth:`write_all`): for an adapter that owns its socket's buffer, which
        calls :meth:`resume` when the buffer drains. See :mod:`chatcore.runtime.outbox`."""
        self._session.outbox.attach(writer)

    def resume(self) -> None:
        """The attached writer's buffer drained: it takes the queued frames."""
        self._session.outbox.resume()

    def push(self, frame: str) -> None:
        """Queue ``frame``, already encoded, after the frames queued before it: for an adapter
        that answers a frame only it understands (``chatcore serve``'s ``refresh``)."""
        self._session.outbox.put(frame)

    def end(self, code: CloseCode) -> None:
        """End this connection from the application's side (for example, its login is over):
        :meth:`write_all` returns ``code`` and the adapter closes the socket with it."""
        self._session.outbox.close(code)

    async def close(self) -> None:
        """The socket is gone (closed by either side, or lost): leave rooms after the grace."""
        await self._runtime.disconnect(self._session)

    async def serve(
        self,
        receive: Receive,
        send: SendFrame,
        close: CloseSocket,
        *,
        gone: tuple[type[Exception], ...] = (OSError,),
    ) -> None:
        """Serve this connection on an accepted socket until the socket ends; then :meth:`close`.

        ``receive()`` returns the client's next frame, or None once the socket ended; ``send``
        sends one text frame (a plain function returning the socket's awaitable: on asyncio it is
        run in the frame that produced the frame, and only a send that has to wait gets a task);
        ``close(code)`` sends the close frame. ``gone`` lists what
        ``send`` and ``close`` raise once the socket is gone. ``Limits.close_linger`` after the
        server closed the connection, the socket is ended even if its close frame is unsent (the
        client stopped reading): this method returns, and the adapter's app with it.
        """
        linger = self._runtime.limits.close_linger / 1000
        await serve(self, receive, send, close, linger=linger, gone=gone)
