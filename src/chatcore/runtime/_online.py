"""Online status: ``status`` events to the connections that watch a user (``watch_users``).

A user comes online with their first connection in any process and goes offline with their
last (the broker's ``come_online`` / ``go_offline`` say when, across processes), so a user
with several tabs is online once. Each process subscribes to the status channel of the users
its connections watch (``ToWatchers``), once per user.
"""

from __future__ import annotations

import logging

from ..backends.broker import Broker
from ..backends.envelope import Envelope, ToWatchers
from ..wire.values import User
from .hub import Hub, Session

__all__ = ("OnlineStatus",)

log = logging.getLogger("chatcore")


class OnlineStatus:
    """Online status of one server's users, and its watchers."""

    __slots__ = ("_broker",)

    def __init__(self, broker: Broker) -> None:
        self._broker = broker

    async def came(self, user: User) -> None:
        """The user's first connection in this process opened."""
        if await self._broker.come_online(user):
            await self._broker.publish(Envelope.status(user.id, True))

    async def went(self, user_id: str) -> None:
        """The user's last connection in this process closed."""
        if await self._broker.go_offline(user_id):
            await self._broker.publish(Envelope.status(user_id, False))

    async def watch(self, hub: Hub, session: Session, users: tuple[str, ...]) -> list[str]:
        """``session`` watches ``users`` from now on: those online now. The channels are
        subscribed before the status is read, so a change meanwhile is not missed."""
        subscribe, unsubscribe = hub.user_watches.replace(session, users)
        for user_id in unsubscribe:
            await self._broker.unsubscribe(ToWatchers(user_id).channel)
        for user_id in subscribe:
            await self._broker.subscribe(ToWatchers(user_id).channel)
        return await self._broker.online(list(users)) if users else []

    async def unwatch(self, hub: Hub, session: Session) -> None:
        """``session`` closed: drop the channels no local connection watches any more."""
        for user_id in hub.user_watches.unwatch(session):
            await self._broker.unsubscribe(ToWatchers(user_id).channel)
