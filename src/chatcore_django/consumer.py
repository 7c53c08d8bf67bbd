"""The Channels consumer: one WebSocket, translated to and from a chatcore connection."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.db import DatabaseError

from chatcore import CloseCode, Connection
from chatcore.errors import Unavailable

from .runtime import get_server
from .users import chat_user

__all__ = ("ChatConsumer",)


class ChatConsumer(AsyncWebsocketConsumer):
    """Serves protocol v1 to the logged-in user of ``scope["user"]`` (``AuthMiddlewareStack``).

    Anonymous sockets are refused at the handshake (HTTP 403).
    """

    connection: Connection | None = None
    pump: asyncio.Task[None] | None = None

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
        await self.accept()
        self.pump = asyncio.create_task(self._pump(self.connection))

    async def _pump(self, connection: Connection) -> None:
        """Send the core's frames; close the socket with the core's code when it closes."""
        with contextlib.suppress(OSError, RuntimeError):  # the socket is already gone
            async for text in connection.frames():
                await self.send(text_data=text)
            await self.close(code=int(connection.close_code or CloseCode.NORMAL))

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.connection is not None:
            await self.connection.receive(text_data if text_data is not None else bytes_data or b"")

    async def disconnect(self, code: Any) -> None:
        if self.pump is not None:
            self.pump.cancel()
        if self.connection is not None:
            # Shielded: the core must learn the socket is gone even if we are being cancelled.
            await asyncio.shield(self.connection.close())
