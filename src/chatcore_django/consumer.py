"""The Channels consumer: one WebSocket, translated to and from a chatcore connection."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from typing import Any

import anyio
from channels.db import database_sync_to_async
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from django.db import DatabaseError

from chatcore import CloseCode, Connection
from chatcore.errors import QuotaExceeded, Unavailable

from .logins import Login, logins
from .runtime import get_server
from .users import chat_user

__all__ = ("CLOSE_LINGER", "ChatConsumer")

#: Seconds a closed connection's socket may take to send its close frame before it is ended.
CLOSE_LINGER = 5.0


class ChatConsumer(AsyncWebsocketConsumer):
    """Serves protocol v1 to the logged-in user of ``scope["user"]`` (``AuthMiddlewareStack``).

    Anonymous sockets are refused at the handshake (HTTP 403); a socket whose login ends (see
    :mod:`chatcore_django.logins`) is closed with 4401.
    """

    connection: Connection | None = None
    pump: asyncio.Task[None] | None = None
    linger: asyncio.Task[None] | None = None
    lifetime: anyio.CancelScope

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        # Channels' own loop reads each message in a new task, to wait on a channel layer too;
        # this consumer needs no channel layer (the chat server's broker fans out), so it reads
        # the socket directly. It runs in a scope ``_end_when_closed`` can cancel: a client that
        # stopped reading blocks every send, the close frame's included, and would stay a member
        # forever.
        self.scope = scope
        self.channel_layer = None
        self.base_send = send
        with anyio.CancelScope() as self.lifetime, contextlib.suppress(StopConsumer):
            while True:
                await self.dispatch(await receive())
        if self.lifetime.cancelled_caught:
            await self.disconnect(CloseCode.TRY_AGAIN_LATER)

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated or not user.is_active:
            await self.close()  # before accept: the handshake is refused with 403
            return
        try:
            member = await database_sync_to_async(chat_user)(user)
            self.connection = await (await get_server()).connect(member)
        except (Unavailable, DatabaseError):  # not the client's fault: it may try again
            await self.accept()
            await self.close(code=int(CloseCode.TRY_AGAIN_LATER))
            return
        except QuotaExceeded as error:  # too many sockets of this user: close with the reason
            await self.accept()
            await self.close(code=int(CloseCode.QUOTA_EXCEEDED), reason=error.message)
            return
        await self.accept()
        # Checked again at CHATCORE['REVALIDATE'] and on account signals (chatcore_django.logins).
        session_key = getattr(self.scope.get("session"), "session_key", None)
        logins().add(self.connection, Login(str(user.pk), session_key))
        self.pump = asyncio.create_task(self._pump(self.connection))
        self.linger = asyncio.create_task(self._end_when_closed(self.connection))

    async def _pump(self, connection: Connection) -> None:
        """Send the core's frames; close the socket with the core's code when it closes."""
        with contextlib.suppress(OSError, RuntimeError):  # the socket is already gone
            code = await connection.write_all(self._send_text)
            await self.close(code=int(code))

    def _send_text(self, text: str) -> Awaitable[None]:
        # The ASGI message itself (as ``send(text_data=...)`` would make it), with no coroutine
        # of ours around it: this runs once per frame and recipient.
        return self.base_send({"type": "websocket.send", "text": text})  # type: ignore[no-any-return]

    async def _end_when_closed(self, connection: Connection) -> None:
        """Once the core closed the connection, end the socket after ``CLOSE_LINGER`` seconds
        even if the close frame could not be sent (returning from the app drops the socket)."""
        await connection.wait_closed()
        await asyncio.sleep(CLOSE_LINGER)
        self.lifetime.cancel()

    async def dispatch(self, message: Any) -> None:
        # Channels runs ``close_old_connections`` in a worker thread before every message; a
        # frame touches the database only through ``database_sync_to_async``, which does that
        # itself, so frames skip the thread hop (it cost more than the frame's handling).
        if message["type"] == "websocket.receive":
            await self.websocket_receive(message)
        else:
            await super().dispatch(message)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.connection is not None:
            await self.connection.receive(text_data if text_data is not None else bytes_data or b"")

    async def disconnect(self, code: Any) -> None:
        for task in (self.pump, self.linger):
            if task is not None and task is not asyncio.current_task():
                task.cancel()
        if self.connection is not None:
            logins().discard(self.connection)
            # Shielded: the core must learn the socket is gone even if we are being cancelled.
            await asyncio.shield(self.connection.close())
