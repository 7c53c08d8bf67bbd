"""Publishing into the chat from a process that runs no chat server: a Celery task, a cron job,
a management command.

An :class:`Emitter` posts into a room, sends a private message to a user, or closes a user's
sockets, through the broker and store the servers use (Redis, or PostgreSQL with a shared
store), with ids and order as if a server had done it: it goes through the same code as a
server (:class:`~chatcore.ChatServer`'s methods on a server that is never started), so a
message takes the room's next id in the store and reaches every server process's sockets in
id order. It holds no socket, subscribes to nothing and keeps no presence: starting it costs
no heartbeat, and a process that exits without closing it leaves nothing behind::

    async with Emitter.from_url("redis://127.0.0.1:6379/0", prefix="chat:") as emitter:
        await emitter.post("lobby", "Build 1234 passed", sender=User(id="ci", name="CI"))
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Self

from .backends.broker import Broker
from .backends.directory import Directory
from .backends.store import Store
from .engines import from_url
from .runtime.server import ChatServer
from .wire.errors import ChatError, CloseCode
from .wire.events import PrivateEvent
from .wire.limits import Limits
from .wire.values import Message, User

__all__ = ("Emitter", "close_backends")


class Emitter:
    """Posts, private messages and disconnects from outside the servers (see the module)."""

    def __init__(
        self,
        *,
        broker: Broker,
        store: Store,
        directory: Directory | None = None,
        limits: Limits | None = None,
    ) -> None:
        #: A server that is never started: its methods that need no socket work as in a
        #: running one (rooms, posts, edits, private messages, disconnects).
        self.server = ChatServer(broker=broker, store=store, directory=directory, limits=limits)

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        prefix: str | None = None,
        store: Store | None = None,
        directory: Directory | None = None,
        limits: Limits | None = None,
    ) -> Emitter:
        """An emitter on the broker of ``url`` under ``prefix`` (the servers' prefix): see
        :func:`chatcore.engines.from_url` (with Redis the store defaults to the Redis store;
        PostgreSQL needs ``store``, the servers' own, such as the Django ORM store)."""
        size = (limits or Limits()).history_size
        broker, store = from_url(url, prefix=prefix, store=store, history_size=size)
        return cls(broker=broker, store=store, directory=directory, limits=limits)

    async def post(
        self,
        room: str,
        text: str,
        *,
        sender: User,
        client_id: str | None = None,
        reply_to: int | None = None,
        meta: Mapping[str, Any] | None = None,
    ) -> Message:
        """Post ``text`` into ``room`` as ``sender``; the room's sockets in every process get
        it. A repeated ``client_id`` of the same sender posts nothing and returns the first."""
        appended = await self.server.post(
            room, text, sender=sender, client_id=client_id, reply_to=reply_to, meta=meta
        )
        return appended.message

    async def send_private(
        self, sender: User, to: str | User, text: str, room: str | None = None
    ) -> PrivateEvent:
        """A ``private`` event to every socket of user ``to`` and of ``sender``, in any process;
        :class:`~chatcore.wire.errors.RecipientUnavailable` when ``to`` has none open. ``to``
        is a :class:`~chatcore.User`, or an id the emitter's ``directory`` knows."""
        return await self.server.send_private(sender, to, text, room)

    async def disconnect_user(self, user_id: str, code: CloseCode = CloseCode.UNAUTHORIZED) -> None:
        """Close every socket of ``user_id`` in every process with ``code``."""
        await self.server.disconnect_user(user_id, code)

    async def update_user(self, user: User) -> None:
        """Show a user's changed name or avatar in every open member list."""
        await self.server.update_user(user)

    async def aclose(self) -> None:
        """Close the broker's and the store's connections."""
        await close_backends(self.server)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


async def close_backends(server: ChatServer) -> None:
    """Close the connections of a server's broker and store that was never started (its
    backends open them on first use; a started server's broker closes its own on exit)."""
    for backend in (server.store, server.broker):
        aclose = getattr(backend, "aclose", None)
        if aclose is not None:
            with contextlib.suppress(ChatError, OSError):
                await aclose()
    wire = getattr(server.broker, "wire", None)  # the Redis broker's command connection
    if wire is not None:
        wire.close()
