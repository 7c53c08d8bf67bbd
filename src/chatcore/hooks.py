"""Hooks for applications: what an app adds to take part in the chat (see docs/hooks.md).

- message hooks (:meth:`Hooks.message`) see a :class:`Draft` of each message a client sends or
  edits before it is stored, and pass it, change its text or ``meta``, or refuse it
  (:class:`~chatcore.wire.errors.MessageRejected`);
- listeners (:meth:`Hooks.listen`) get a :class:`ChatEvent` after something happened, in order
  per room, without delaying the room;
- the offline notifier (:meth:`Hooks.notify_offline`) hears of direct-room messages and
  mentions for users with no open connection, in batches;
- startup functions (:meth:`Hooks.on_start`) run when the server starts (bots connect there).

A :class:`Hooks` is a plain registry: :class:`~chatcore.ChatServer` (``hooks=``) runs it. The
values here are frozen; their ``to_wire`` is the JSON form webhooks send.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Literal, TypeVar, get_args

import attrs

from .wire.errors import MessageRejected, UsageError
from .wire.values import Message, Room, User

__all__ = (
    "EVENT_KINDS",
    "ChatEvent",
    "Draft",
    "EventKind",
    "FailMode",
    "HookEntry",
    "Hooks",
    "Listener",
    "ListenerEntry",
    "Mentions",
    "MessageHook",
    "MessageRejected",
    "ModerationAction",
    "Notice",
    "Notify",
    "OfflineNotices",
    "Startup",
)

FailMode = Literal["closed", "open"]
EventKind = Literal[
    "message_posted",
    "message_edited",
    "message_deleted",
    "reactions_changed",
    "user_joined",
    "user_left",
    "room_created",
    "room_updated",
    "room_deleted",
    "moderation",
]
#: Every listener event kind, in the order docs/hooks.md lists them.
EVENT_KINDS: tuple[EventKind, ...] = get_args(EventKind)

_KEEP: Any = object()


@attrs.frozen(kw_only=True)
class Draft:
    """A message a client sends or edits, before it is stored: what message hooks see."""

    kind: Literal["send", "edit"]
    sender: User
    room: Room
    text: str
    meta: Mapping[str, Any] | None = None
    #: (send) the id of the message it answers.
    reply_to: int | None = None
    #: (edit) the id of the message being edited.
    message_id: int | None = None

    def evolve(self, *, text: str = _KEEP, meta: Mapping[str, Any] | None = _KEEP) -> Draft:
        """This draft with a new ``text`` and/or ``meta`` (None removes it)."""
        changes: dict[str, Any] = {}
        if text is not _KEEP:
            changes["text"] = text
        if meta is not _KEEP:
            changes["meta"] = meta
        return attrs.evolve(self, **changes)

    def to_wire(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "sender": self.sender.to_wire(),
            "room": self.room.to_wire(0),
            "text": self.text,
            "meta": dict(self.meta) if self.meta is not None else None,
            "reply_to": self.reply_to,
            "message_id": self.message_id,
        }


@attrs.frozen(kw_only=True)
class ModerationAction:
    """A moderation action, for ``moderation`` events (emitted by the moderation commands)."""

    #: What was done: ``"ban"``, ``"mute"``, ``"kick"``... (the moderation commands' names).
    action: str
    #: Who did it (None: the application).
    actor: User | None = None
    #: The user it was done to, by id.
    target: str | None = None
    detail: Mapping[str, Any] = attrs.field(factory=dict)

    def to_wire(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "actor": self.actor.to_wire() if self.actor else None,
            "target": self.target,
            "detail": dict(self.detail),
        }


@attrs.frozen(kw_only=True)
class ChatEvent:
    """Something that happened in ``room`` at ``ts`` (ms), for listeners. Which of ``message``,
    ``user``, ``room_info`` and ``moderation`` is set depends on ``kind`` (docs/hooks.md)."""

    kind: EventKind
    room: str
    ts: int
    message: Message | None = None
    user: User | None = None
    room_info: Room | None = None
    moderation: ModerationAction | None = None

    def to_wire(self) -> dict[str, Any]:
        wire: dict[str, Any] = {"kind": self.kind, "room": self.room, "ts": self.ts}
        if self.message is not None:
            wire["message"] = self.message.to_wire()
        if self.user is not None:
            wire["user"] = self.user.to_wire()
        if self.room_info is not None:
            wire["room_info"] = self.room_info.to_wire(0)
        if self.moderation is not None:
            wire["moderation"] = self.moderation.to_wire()
        return wire


@attrs.frozen(kw_only=True)
class Notice:
    """One reason to tell an offline user: a message in their direct room, or one naming them."""

    kind: Literal["direct", "mention"]
    room: Room
    message: Message


MessageHook = Callable[[Draft], Awaitable[Draft | None]]
Listener = Callable[[ChatEvent], Awaitable[None]]
#: ``notify(recipient, notices)``: one call per recipient per window.
Notify = Callable[[User, Sequence[Notice]], Awaitable[None]]
#: The user an ``@name`` names, or None.
Mentions = Callable[[str], Awaitable[User | None]]
#: Called with the running :class:`~chatcore.ChatServer`.
Startup = Callable[[Any], Awaitable[None]]

_F = TypeVar("_F")


@attrs.frozen
class HookEntry:
    """A message hook with its time budget (seconds) and what a failure does."""

    function: MessageHook
    timeout: float
    fail: FailMode


@attrs.frozen
class ListenerEntry:
    """A listener and the kinds it hears (None: all)."""

    function: Listener
    kinds: frozenset[str] | None

    def hears(self, kind: str) -> bool:
        return self.kinds is None or kind in self.kinds


@attrs.frozen
class OfflineNotices:
    """The offline notifier's settings: ``notify``, its batching ``window`` (ms), and how
    ``@name`` mentions find their user."""

    notify: Notify
    window: int
    mentions: Mentions | None


class Hooks:
    """The application's hooks, in the order added. Give it to ``ChatServer(hooks=...)``; add
    to it before the server starts."""

    def __init__(self, *, stop_wait: float = 5.0) -> None:
        if stop_wait < 0:
            raise UsageError("stop_wait is a number of seconds, 0 or more")
        self.message_hooks: list[HookEntry] = []
        self.listeners: list[ListenerEntry] = []
        self.notifier: OfflineNotices | None = None
        self.startups: list[Startup] = []
        self.stops: list[Startup] = []
        #: Seconds a stopping server gives its listeners to handle the events emitted before
        #: the stop, and then its :meth:`on_stop` functions (webhooks send what is left).
        self.stop_wait = stop_wait

    def message(
        self, *, timeout: float = 1.0, fail: FailMode = "closed"
    ) -> Callable[[MessageHook], MessageHook]:
        """Decorator: add a message hook (see :meth:`add_message_hook`)."""

        def add(function: MessageHook) -> MessageHook:
            self.add_message_hook(function, timeout=timeout, fail=fail)
            return function

        return add

    def add_message_hook(
        self, function: MessageHook, *, timeout: float = 1.0, fail: FailMode = "closed"
    ) -> None:
        """Run ``function`` on every message a client sends or edits, after the hooks added
        before it; past ``timeout`` seconds (or on an error) ``fail="closed"`` refuses the
        message (``unavailable``) and ``"open"`` passes it on unchanged."""
        if timeout <= 0:
            raise UsageError("a message hook's timeout is a positive number of seconds")
        if fail not in ("closed", "open"):
            raise UsageError("fail is 'closed' or 'open'")
        self.message_hooks.append(HookEntry(function, timeout, fail))

    def listen(self, *kinds: EventKind) -> Callable[[_F], _F]:
        """Decorator: add a listener for ``kinds`` (none: every kind)."""

        def add(function: _F) -> _F:
            self.add_listener(function, *kinds)  # type: ignore[arg-type]
            return function

        return add

    def add_listener(self, function: Listener, *kinds: EventKind) -> None:
        """Call ``function`` with each :class:`ChatEvent` of ``kinds`` (none: every kind)."""
        unknown = set(kinds) - set(EVENT_KINDS)
        if unknown:
            raise UsageError(f"unknown event kinds: {', '.join(sorted(unknown))}")
        self.listeners.append(ListenerEntry(function, frozenset(kinds) if kinds else None))

    def notify_offline(
        self, notify: Notify, *, window: int = 60_000, mentions: Mentions | None = None
    ) -> None:
        """Call ``notify(recipient, notices)`` for users with no open connection who get a
        direct-room message or are mentioned (``@name``, found with ``mentions``), at most once
        per ``window`` ms per user."""
        if window < 0:
            raise UsageError("the window is a number of milliseconds, 0 or more")
        self.notifier = OfflineNotices(notify, window, mentions)

    def on_start(self, function: Startup) -> Startup:
        """Run ``function(server)`` in a task of its own each time the server starts."""
        self.startups.append(function)
        return function

    def on_stop(self, function: Startup) -> Startup:
        """Await ``function(server)`` each time the server stops, once the listeners handled
        the events emitted before the stop; all within ``stop_wait`` seconds (then cancelled)."""
        self.stops.append(function)
        return function
