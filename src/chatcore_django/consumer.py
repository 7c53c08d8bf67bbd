"""The Channels consumer: one WebSocket, translated to and from a chatcore connection."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable
from typing import Any

from channels.db import database_sync_to_async
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from django.db import DatabaseError

from chatcore import CloseCode
from chatcore.wire.errors import QuotaExceeded, Unavailable

from .logins import Login, logins
from .runtime import get_server
from .users import chat_user

__all__ = ("ChatConsumer",)

#: What the ASGI server's send raises once the socket is gone.
_GONE = (OSError, RuntimeError)


class ChatConsumer(AsyncWebsocketConsumer):
    """Serves protocol v1 to the logged-in user of ``scope["user"]`` (``AuthMiddlewareStack``).

    Anonymous sockets are refused at the handshake (HTTP 403); a socket whose login ends (see
    :mod:`chatcore_django.logins`) is closed with 4401.
    """

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        # Channels' own loop reads each message in a new task, to wait on a channel layer too,
        # and runs ``close_old_connections`` in a worker thread before each (a frame touches the
        # database only through ``database_sync_to_async``, which does that itself). This
        # consumer needs no channel layer (the chat server's broker fans out): once the socket
        # is accepted, ``connect`` reads it directly (``Connection.serve``), so frames skip the
        # task and the thread hop (they cost more than the frame's handling).
        self.scope = scope
        self.channel_layer = None
        self.base_receive = receive
        self.base_send = send
        with contextlib.suppress(StopConsumer):
            while True:
                await self.dispatch(await receive())

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated or not user.is_active:
            await self.close()  # before accept: the handshake is refused with 403
            return
        try:
            member = await database_sync_to_async(chat_user)(user)
            connection = await (await get_server()).connect(member)
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
        logins().add(connection, Login(str(user.pk), session_key))
        try:
            await connection.serve(self._read, self._send_text, self._close, gone=_GONE)
        finally:
            logins().discard(connection)
        raise StopConsumer  # the socket has ended

    async def _read(self) -> str | bytes | None:
        """The client's next frame, or None once the socket ended."""
        message = await self.base_receive()
        if message["type"] == "websocket.disconnect":
            return None
        text: str | None = message.get("text")
        return text if text is not None else message.get("bytes") or b""

    def _send_text(self, text: str) -> Awaitable[None]:
        # The ASGI message itself (as ``send(text_data=...)`` would make it), with no coroutine
        # of ours around it: this runs once per frame and recipient (docs/performance.md,
        # "The adapters' raw send").
        return self.base_send({"type": "websocket.send", "text": text})  # type: ignore[no-any-return]

    async def _close(self, code: CloseCode) -> None:
        await self.close(code=int(code))
