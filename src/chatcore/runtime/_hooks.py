"""Running the application's hooks (:mod:`chatcore.hooks`) for one server.

Message hooks run on the sender's connection, before the message is posted, each within its
time budget; with none added, :attr:`HookRunner.checks_messages` is False and the handlers skip
them (one attribute test per ``send``).

Listener events are queued per room and handled by one short task per room that has any
queued (started with the server's ``spawn``): a room's events reach each listener in the order
they were emitted, and emitting never waits. The offline notifier is one more listener here.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections import deque
from collections.abc import Awaitable, Callable, Sequence

import anyio

from ..clock import Clock
from ..hooks import EVENT_KINDS, ChatEvent, Draft, Hooks, ListenerEntry, Notice, OfflineNotices
from ..policy import Policy
from ..wire.errors import ClientError, Unavailable
from ..wire.values import Room, User
from ._inline import Rest

__all__ = ("MAX_QUEUED", "MENTION", "HookRunner", "mentioned")

log = logging.getLogger("chatcore.hooks")

#: ``@name`` in a text: a name of letters, digits and ``_ . -`` (not ending in a dot), after
#: the start or a space or punctuation (so an email address is no mention).
MENTION = re.compile(r"(?<![\w@.])@([\w][\w.-]*(?<!\.))")


#: Events queued for one room's listeners at most; past it, new ones are dropped (and logged).
MAX_QUEUED = 10_000


def mentioned(text: str) -> list[str]:
    """The names ``text`` mentions, each once, in order."""
    return list(dict.fromkeys(MENTION.findall(text)))


class HookRunner:
    """The hooks of one server. ``spawn`` runs a short task of the server."""

    def __init__(
        self,
        hooks: Hooks | None,
        *,
        clock: Clock,
        spawn: Callable[..., None],
        get_room: Callable[[str], Awaitable[Room | None]],
        find_user: Callable[[str], Awaitable[User | None]],
        is_online: Callable[[str], Awaitable[bool]],
        policy: Policy,
        running: Callable[[], bool] = lambda: True,
    ) -> None:
        self.hooks = hooks or Hooks()
        #: Whether the server runs: one that never starts (an emitter) calls no listener.
        self._running = running
        self._clock = clock
        self._spawn = spawn
        self._get_room = get_room
        self._find_user = find_user
        self._is_online = is_online
        self._policy = policy
        self._queues: dict[str, deque[ChatEvent]] = {}
        self._idle: anyio.Event | None = None
        self._batches: dict[str, list[Notice]] = {}
        self._listeners: list[ListenerEntry] = []
        self._heard: frozenset[str] = frozenset()  # the kinds some listener hears
        self._asyncio: bool | None = None  # whether the server runs on asyncio (found once)
        #: Whether anything hears events (else :meth:`emit` need not be called).
        self.listening = False
        self.refresh()

    @property
    def checks_messages(self) -> bool:
        """Whether any message hook is added (read when each message is sent)."""
        return bool(self.hooks.message_hooks)

    def refresh(self) -> None:
        """Take the listeners added since (the server does at each start)."""
        self._asyncio = None
        self._listeners = list(self.hooks.listeners)
        if self.hooks.notifier is not None:
            self._listeners.append(ListenerEntry(self._notice, frozenset({"message_posted"})))
        self.listening = bool(self._listeners)
        kinds: set[str] = set()
        for entry in self._listeners:
            kinds.update(entry.kinds if entry.kinds is not None else EVENT_KINDS)
        self._heard = frozenset(kinds)

    # message hooks

    def _on_asyncio(self) -> bool:
        if self._asyncio is None:
            try:
                asyncio.get_running_loop()
                self._asyncio = True
            except RuntimeError:  # trio
                self._asyncio = False
        return self._asyncio

    async def check(self, draft: Draft) -> Draft:
        """``draft`` through every message hook, in order; raises
        :class:`~chatcore.wire.errors.MessageRejected`, or :class:`Unavailable` when a hook
        that fails closed ran out of time or broke."""
        for entry in self.hooks.message_hooks:
            try:
                result = await _within(entry.function(draft), entry.timeout, self._on_asyncio())
            except ClientError:  # MessageRejected, or another code the hook chose (Forbidden)
                raise
            except TimeoutError:
                log.warning("message hook %s ran out of time", _name(entry.function))
                if entry.fail == "closed":
                    raise Unavailable("the message could not be checked; try again") from None
                continue
            except Exception:
                log.exception("message hook %s failed", _name(entry.function))
                if entry.fail == "closed":
                    raise Unavailable("the message could not be checked; try again") from None
                continue
            if result is not None:
                # Only the text and meta may change.
                draft = draft.evolve(text=result.text, meta=result.meta)
        return draft

    # listeners

    def emit(self, event: ChatEvent) -> None:
        """Queue ``event`` for the listeners, after the room's earlier events; never waits."""
        if event.kind not in self._heard or not self._running():
            return  # nobody listens for it (nor for anything, when none is added)
        queue = self._queues.get(event.room)
        if queue is not None:
            if len(queue) >= MAX_QUEUED:
                # Listeners far behind the room: drop rather than hold memory without bound.
                log.error(
                    "listeners are %d events behind in %s; dropped %s",
                    len(queue),
                    event.room,
                    event.kind,
                )
                return
            queue.append(event)
            return
        self._queues[event.room] = deque((event,))
        self._spawn(self._drain, event.room)

    async def idle(self) -> None:
        """Wait until every queued event was handled."""
        while self._queues:
            if self._idle is None:
                self._idle = anyio.Event()
            await self._idle.wait()

    async def _drain(self, room: str) -> None:
        queue = self._queues[room]
        try:
            while queue:
                event = queue[0]
                for entry in self._listeners:
                    if entry.hears(event.kind):
                        await self._call(entry, event)
                queue.popleft()
        finally:
            del self._queues[room]
            if not self._queues and self._idle is not None:
                self._idle.set()
                self._idle = None

    async def _call(self, entry: ListenerEntry, event: ChatEvent) -> None:
        try:
            await entry.function(event)
        except Exception:
            # A listener's bug must not stop the room's other listeners, or the chat.
            log.exception(
                "listener %s failed on %s in %s", _name(entry.function), event.kind, event.room
            )

    # offline notification

    async def _notice(self, event: ChatEvent) -> None:
        notifier = self.hooks.notifier
        message = event.message
        if notifier is None or message is None:
            return
        room = await self._get_room(message.room)
        if room is None:
            return
        sender = message.sender.id
        recipients: dict[str, Notice] = {}
        if room.is_direct:
            for user_id in room.users:
                if user_id != sender:
                    recipients[user_id] = Notice(kind="direct", room=room, message=message)
        if notifier.mentions is not None and "@" in message.text:
            for name in mentioned(message.text):
                user = await notifier.mentions(name)
                if user is None or user.id == sender or user.id in recipients:
                    continue
                if room.visible_to(user.id) and await self._policy.can_join(user, room):
                    recipients[user.id] = Notice(kind="mention", room=room, message=message)
        for user_id, notice in recipients.items():
            if not await self._is_online(user_id):
                self._add_notice(notifier, user_id, notice)

    def _add_notice(self, notifier: OfflineNotices, user_id: str, notice: Notice) -> None:
        batch = self._batches.get(user_id)
        if batch is not None:
            batch.append(notice)
            return
        self._batches[user_id] = [notice]
        self._spawn(self._flush, notifier, user_id, self._clock.now() + notifier.window)

    async def _flush(self, notifier: OfflineNotices, user_id: str, deadline: int) -> None:
        try:
            await self._clock.sleep_until(deadline)
        finally:
            notices = self._batches.pop(user_id, [])
        try:
            user = await self._find_user(user_id)
            if user is None:
                return
            await notifier.notify(user, _sorted(notices))
        except Exception:
            log.exception("the offline notifier failed for user %s", user_id)


async def _within(
    coroutine: Awaitable[Draft | None], budget: float, on_asyncio: bool
) -> Draft | None:
    """Await ``coroutine``, within ``budget`` seconds (:class:`TimeoutError`).

    On asyncio its first step runs at once with no timer, and a timer (``asyncio.timeout``,
    which keeps no stack of scopes, so any anyio scope the hook entered stays in order) is
    set only if it has to wait: most hooks do not, and an anyio cancel scope costs about as
    much as a message's whole post. Elsewhere, ``anyio.fail_after``."""
    if not on_asyncio:
        with anyio.fail_after(budget):
            return await coroutine
    steps = coroutine.__await__()
    try:
        waiting_on = steps.send(None)
    except StopIteration as done:
        result: Draft | None = done.value
        return result
    async with asyncio.timeout(budget):
        rest: Draft | None = await Rest(steps, waiting_on)
    return rest


def _sorted(notices: Sequence[Notice]) -> list[Notice]:
    """Oldest first (rooms' listeners run side by side, so they may come out of order)."""
    return sorted(
        notices, key=lambda notice: (notice.message.ts, notice.room.name, notice.message.id)
    )


def _name(function: object) -> str:
    return getattr(function, "__qualname__", None) or repr(function)
