"""One socket's life, for every adapter: frames in, frames out, the close, and the end.

An adapter authenticates and accepts the socket, then hands :func:`serve` three functions:
``receive`` (the next client frame, or None once the socket ended), ``send`` (one text frame) and
``close`` (the close frame with a code). The socket's own task reads; nothing else runs for it
while its frames go out without waiting:

- the reader feeds every client frame to :meth:`Connection.receive`, one at a time;
- the frames go out from wherever they are produced (:class:`_Sender`, attached to the
  connection's outbox: :meth:`Outbox.attach`): each ``send`` is run on the spot, and only one
  that has to wait (the socket's buffer is full) is finished in a task of the socket's own, which
  then hands on the frames queued meanwhile. When the core closes the connection (1008, 1009,
  1013, 4401, 4429, 1001), a task sends the close frame with its code, after any send under way,
  and ends the reader. A socket used to run a writer task for its whole life; most sockets never
  wait, so that task's start and memory were spent on every connection for nothing (measured in
  a join storm: see docs/performance.md). On trio, whose tasks may not finish each other's
  waits, the writer task remains (:func:`_pump`);
- the linger ends the socket ``linger`` seconds after the core closed the connection, even if
  the close frame is still unsent: a client that stopped reading blocks every send, the close
  frame's included, and would otherwise keep the socket, and its memberships, forever. It is a
  deadline set on the socket's cancel scope when the outbox closes, not a task of its own.

When the client ends the socket, the reader stops and cancels whatever send or close is under
way. Whatever ended it (a close frame, a reset, the linger, a cancellation),
:meth:`Connection.close` runs, shielded, so the core always learns.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from functools import partial
from typing import TYPE_CHECKING

import anyio
from anyio.abc import TaskGroup

from ..wire.errors import CloseCode
from ._inline import Rest, start
from .outbox import SendFrame, _on_asyncio

if TYPE_CHECKING:
    from .connection import Connection

__all__ = ("CloseSocket", "Receive", "serve")

#: The next frame from the client (text, or bytes for a binary frame), or None once the
#: socket has ended (closed by the client, or lost).
Receive = Callable[[], Awaitable[str | bytes | None]]

#: Sends the close frame with this code.
CloseSocket = Callable[[CloseCode], Awaitable[object]]


async def serve(
    connection: Connection,
    receive: Receive,
    send: SendFrame,
    close: CloseSocket,
    *,
    linger: float,
    gone: tuple[type[Exception], ...],
) -> None:
    """Serve ``connection`` on one accepted socket until the socket ends (see the module's doc).

    ``gone`` lists the exceptions ``send`` and ``close`` raise once the socket is gone.
    """
    sender: _Sender | None = None
    try:
        async with anyio.create_task_group() as tasks:
            if _on_asyncio():
                sender = _Sender(send, close, gone, tasks, connection.resume)
                connection.attach(sender)
            else:
                tasks.start_soon(_pump, connection, send, close, gone, tasks.cancel_scope)
            connection.when_closed(partial(_linger, tasks.cancel_scope, linger))
            while (data := await receive()) is not None:
                await connection.receive(data)
            if sender is None or sender.running:
                # (Only when a task may be left: a cancel costs anyio a repr of the task.)
                tasks.cancel_scope.cancel()
    finally:
        if sender is not None:
            sender.ended = True  # no task may start in the group once it has exited
        with anyio.CancelScope(shield=True):
            await connection.close()


class _Sender:
    """The outbox's :class:`~chatcore.runtime.outbox.Writer` on a socket whose ``send`` is a
    coroutine (asyncio): runs each send in the caller's frame, and finishes one that has to
    wait in a task of the socket's group, which then resumes the outbox (see the module's doc).
    """

    __slots__ = ("_close", "_gone", "_idle", "_resume", "_send", "_tasks", "ended", "running")

    def __init__(
        self,
        send: SendFrame,
        close: CloseSocket,
        gone: tuple[type[Exception], ...],
        tasks: TaskGroup,
        resume: Callable[[], None],
    ) -> None:
        self._send = send
        self._close = close
        self._gone = gone
        self._tasks = tasks
        #: Set once the send under way (if any) has finished; None while none waits.
        self._idle: anyio.Event | None = None
        #: The socket's task group has exited: nothing more is sent.
        self.ended = False
        #: Tasks started (a send that waits, the close frame) that have not finished.
        self.running = 0
        self._resume = resume  # hands on the frames queued while a send waited

    def write(self, text: str) -> bool:
        if self.ended:
            return False
        try:
            rest = start(self._send(text))
        except Exception as error:
            self._failed(error)
            return False
        if rest is None:
            return True
        self._idle = anyio.Event()
        self.running += 1
        self._tasks.start_soon(self._finish, rest)
        return False

    def closed(self, code: CloseCode) -> None:
        if not self.ended:
            self.running += 1
            self._tasks.start_soon(self._close_with, code)

    async def _finish(self, rest: Rest) -> None:
        """Finish a send that had to wait; then the frames queued meanwhile go out."""
        try:
            await rest
        except Exception as error:
            self._failed(error)
            return
        finally:
            self.running -= 1
            idle, self._idle = self._idle, None
            if idle is not None:
                idle.set()
        self._resume()

    async def _close_with(self, code: CloseCode) -> None:
        """Send the close frame with ``code`` once the send under way is done; end the reader."""
        try:
            if self._idle is not None:
                await self._idle.wait()
            with contextlib.suppress(*self._gone):  # gone: the reader sees the end, or is cancelled
                await self._close(code)
        finally:
            self.running -= 1
        self._tasks.cancel_scope.cancel()

    def _failed(self, error: Exception) -> None:
        """A send failed: the socket is gone (end the reader), or the error is the adapter's (it
        propagates from the socket's task group, as from any of its tasks)."""
        self.ended = True
        if isinstance(error, self._gone):
            self._tasks.cancel_scope.cancel()
        else:
            self.running += 1  # (never finishes: it ends the group)
            self._tasks.start_soon(_raise, error)


async def _raise(error: Exception) -> None:
    raise error


async def _pump(
    connection: Connection,
    send: SendFrame,
    close: CloseSocket,
    gone: tuple[type[Exception], ...],
    reader: anyio.CancelScope,
) -> None:
    """Send the core's frames; close the socket with the core's code when it closes."""
    # If the socket is gone, the reader sees its end, or is cancelled below.
    with contextlib.suppress(*gone):
        await close(await connection.write_all(send))
    reader.cancel()


def _linger(socket: anyio.CancelScope, linger: float, code: CloseCode) -> None:
    """The core closed the connection: end the socket ``linger`` seconds from now."""
    socket.deadline = min(socket.deadline, anyio.current_time() + linger)
