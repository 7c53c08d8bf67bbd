"""Django signals for the chat's listener events (see docs/hooks.md).

Each :class:`~chatcore.hooks.ChatEvent` is sent as :data:`chat_event` and as the signal of its
kind (:data:`SIGNALS`), with ``sender=ChatEvent`` and ``event=`` the event, from a worker thread
(``sync_to_async``), so receivers may use the ORM. Receivers connected when the chat server is
built (in an ``AppConfig.ready``, say) are sent the events; a receiver that raises is logged.
"""

from __future__ import annotations

import logging

from asgiref.sync import sync_to_async
from django.dispatch import Signal

from chatcore.hooks import EVENT_KINDS, ChatEvent

__all__ = (
    "SIGNALS",
    "chat_event",
    "has_receivers",
    "message_deleted",
    "message_edited",
    "message_posted",
    "moderation",
    "reactions_changed",
    "room_created",
    "room_deleted",
    "room_updated",
    "send_signals",
    "user_joined",
    "user_left",
)

log = logging.getLogger("chatcore.django")

#: Every event, whatever its kind.
chat_event = Signal()
message_posted = Signal()
message_edited = Signal()
message_deleted = Signal()
reactions_changed = Signal()
user_joined = Signal()
user_left = Signal()
room_created = Signal()
room_updated = Signal()
room_deleted = Signal()
moderation = Signal()

#: The signal of each event kind.
SIGNALS: dict[str, Signal] = {kind: globals()[kind] for kind in EVENT_KINDS}


def has_receivers() -> bool:
    """Whether any of these signals has a receiver (else the server need not send them)."""
    return chat_event.has_listeners() or any(s.has_listeners() for s in SIGNALS.values())


def _send(event: ChatEvent) -> None:
    for signal in (chat_event, SIGNALS[event.kind]):
        for receiver, result in signal.send_robust(sender=ChatEvent, event=event):
            if isinstance(result, Exception):
                log.error("signal receiver %r failed on %s", receiver, event.kind, exc_info=result)


async def send_signals(event: ChatEvent) -> None:
    """A listener: send ``event``'s signals from a worker thread."""
    if chat_event.has_listeners() or SIGNALS[event.kind].has_listeners():
        await sync_to_async(_send, thread_sensitive=True)(event)
