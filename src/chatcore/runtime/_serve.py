"""One socket's life, for every adapter: frames in, frames out, the close, and the end.

An adapter authenticates and accepts the socket, then hands :func:`serve` three functions:
``receive`` (the next client frame, or None once the socket ended), ``send`` (one text frame) and
``close`` (the close frame with a code). Two tasks and a deadline run until the socket ends:

- the reader feeds every client frame to :meth:`Connection.receive`, one at a time;
- the pump runs :meth:`Connection.write_all` with ``send`` and, when the core closes the
  connection (1008, 1009, 1013, 4401, 4429, 1001), sends the close frame with its code;
- the linger ends the socket ``linger`` seconds after the core closed the connection, even if
  the close frame is still unsent: a client that stopped reading blocks every send, the close
  frame's included, and would otherwise keep the socket, and its memberships, forever. It is a
  deadline set on the socket's cancel scope when the outbox closes, not a task of its own: a
  task per socket waiting for a close that rarely comes cost a task's start and its memory on
  every connection (measured in a join storm: see docs/performance.md).

When the client ends the socket, the pump stops; when the pump is done, the reader stops (and
the adapter's ASGI app returns, which ends the socket). Whatever ended it (a close frame, a reset,
the linger, a cancellation), :meth:`Connection.close` runs, shielded, so the core always learns.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from functools import partial
from typing import TYPE_CHECKING

import anyio

from ..wire.errors import CloseCode
from .outbox import SendFrame

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
    try:
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(_pump, connection, send, close, gone, tasks.cancel_scope)
            connection.when_closed(partial(_linger, tasks.cancel_scope, linger))
            while (data := await receive()) is not None:
                await connection.receive(data)
            tasks.cancel_scope.cancel()
    finally:
        with anyio.CancelScope(shield=True):
            await connection.close()


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
