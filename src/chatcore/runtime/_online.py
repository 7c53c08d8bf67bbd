"""Online status: ``status`` events to the connections that watch a user (``watch_users``).

A user comes online with their first connection in any process and goes offline with their
last (the broker's ``come_online`` / ``go_offline`` say when, across processes), so a user
with several tabs is online once. Going offline waits ``Limits.presence_grace``, as leaving a
room does: a page reload (the last socket closes, a new one opens a moment later) is no
``status`` offline and online again. Each process subscribes to the status channel of the
users its connections watch (``ToWatchers``), once per user.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from ..backends.broker import Broker
from ..backends.envelope import Envelope, ToWatchers
from ..clock import Clock
from ..wire.errors import ChatError, UsageError
from ..wire.values import User
from .hub import Hub, Session

__all__ = ("OnlineStatus",)

log = logging.getLogger("chatcore")


class OnlineStatus:
    """Online status of one server's users, and its watchers."""

    __slots__ = ("_broker", "_clock", "_grace", "_leaving", "_spawn")

    def __init__(
        self, broker: Broker, clock: Clock, grace: int, spawn: Callable[..., None]
    ) -> None:
        self._broker = broker
        self._clock = clock
        self._grace = grace  # ms
        self._spawn = spawn
        self._leaving: dict[str, int] = {}  # user id: when they go offline, unless back

    async def came(self, user: User) -> None:
        """The user's first connection in this process opened."""
        back = self._leaving.pop(user.id, None) is not None
        # Back within the grace in this process: watchers were never told offline.
        if await self._broker.come_online(user) and not back:
            await self._broker.publish(Envelope.status(user.id, True))

    async def went(self, user_id: str) -> None:
        """The user's last connection in this process closed. The broker learns it at once
        (``is_online`` must stay true to connections: a private message to a user with none
        is ``recipient_unavailable``); watchers learn it after the grace, if the user is
        offline still."""
        if not await self._broker.go_offline(user_id):
            return  # online in another process
        if self._grace <= 0:
            await self._broker.publish(Envelope.status(user_id, False))
            return
        deadline = self._clock.now() + self._grace
        try:
            self._spawn(self._offline_at, user_id, deadline)
        except UsageError:  # the server is stopping: no grace to wait out
            await self._broker.publish(Envelope.status(user_id, False))
            return
        self._leaving[user_id] = deadline

    def forget(self) -> None:
        """The server stopped: its users' pending ``status`` offline notices are moot."""
        self._leaving.clear()

    async def _offline_at(self, user_id: str, deadline: int) -> None:
        await self._clock.sleep_until(deadline)
        if self._leaving.get(user_id) != deadline:
            return  # back meanwhile (or gone again later, with a later deadline)
        del self._leaving[user_id]
        try:
            if not await self._broker.is_online(user_id):  # (not back in another process)
                await self._broker.publish(Envelope.status(user_id, False))
        except ChatError:
            log.warning("broker unavailable while %s went offline", user_id)
        except Exception:
            log.exception("%s going offline failed", user_id)

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
