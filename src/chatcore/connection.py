"""A client connection as adapters and tests hold it: frames in, frames out, close."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from ._handlers import handle
from .commands import Ref
from .errors import ClientError, CloseCode, InternalError, RateLimited, Unavailable
from .events import ErrorReply, OkReply
from .hub import Conn
from .outbox import Closed, Send
from .protocol import Rejected, decode, encode, frame_size
from .values import User

if TYPE_CHECKING:
    from .server import ChatServer

__all__ = ("Closed", "Connection")

log = logging.getLogger("chatcore")


class Connection:
    """One authenticated client connection of a :class:`~chatcore.server.ChatServer`.

    An adapter feeds every frame the client sends to :meth:`receive` (one at a time), runs
    :meth:`write_all` with its socket's send in a task of its own and sends a close frame with
    the code it returns. When the socket ends, for any reason, it calls :meth:`close`.
    (:meth:`next_frame` and :meth:`frames` serve clients that pull frames instead, such as
    :class:`~chatcore.testing.LocalClient`.)
    """

    def __init__(self, server: ChatServer, conn: Conn) -> None:
        self._server = server
        self._conn = conn

    @property
    def id(self) -> int:
        return self._conn.id

    @property
    def user(self) -> User:
        return self._conn.user

    @property
    def close_code(self) -> CloseCode | None:
        """Set once the server has closed this connection."""
        return self._conn.outbox.close_code

    async def receive(self, data: str | bytes) -> None:
        """Handle one frame from the client. Never raises for anything the client sent."""
        conn = self._conn
        if conn.outbox.close_code is not None:
            return
        limits = self._server.limits
        size = len(data) if isinstance(data, bytes) else frame_size(data)
        if size > limits.hard_frame_cap:
            conn.outbox.close(CloseCode.MESSAGE_TOO_BIG)
            return
        command = decode(data, limits.max_frame)
        if isinstance(command, Rejected):
            self._fail(command.error, command.ref)
            return
        if not conn.rate.take(self._server.clock.now()):
            self._fail(RateLimited(), command.ref)
            return
        try:
            result = await handle(self._server, conn, command)
        except ClientError as error:
            self._fail(error, command.ref)
        except Exception:
            log.exception("%s failed for user %s", type(command).__name__, conn.user.id)
            self._fail(InternalError(), command.ref)
        else:
            if command.ref is not None:
                conn.outbox.put(encode(OkReply(ref=command.ref, result=result)))

    def _fail(self, error: ClientError, ref: Ref) -> None:
        outbox = self._conn.outbox
        outbox.put(encode(ErrorReply.from_error(error, ref)))
        if isinstance(error, Unavailable | InternalError):
            return  # not the client's fault
        if not self._conn.abuse.take(self._server.clock.now()):
            outbox.close(CloseCode.POLICY_VIOLATION)

    async def write_all(self, send: Send) -> CloseCode:
        """Send every frame with ``send`` (e.g. ``websocket.send_text``) until the server closes
        the connection; the close code to send then. An exception from ``send`` propagates.

        While this runs, frames for an idle socket are sent as they are produced, without
        waking this task (see :mod:`chatcore.outbox`); ``send`` must not depend on the task
        it runs in.
        """
        return await self._conn.outbox.write_all(send)

    async def next_frame(self) -> str:
        """Wait for the next frame to send. Raises :class:`Closed` when the server closes."""
        return await self._conn.outbox.get()

    def next_frame_nowait(self) -> str | None:
        """The next queued frame, or None. Raises :class:`Closed` when the server closes."""
        return self._conn.outbox.get_nowait()

    async def wait_closed(self) -> CloseCode:
        """Wait until the server closes this connection (a send may still be under way)."""
        return await self._conn.outbox.wait_closed()

    async def frames(self) -> AsyncIterator[str]:
        """Every frame to send, until the server closes the connection."""
        while True:
            try:
                yield await self._conn.outbox.get()
            except Closed:
                return

    async def close(self) -> None:
        """The socket is gone (closed by either side, or lost): leave rooms after the grace."""
        await self._server.disconnect(self._conn)
