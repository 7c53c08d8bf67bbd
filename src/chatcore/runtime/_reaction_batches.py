"""Reactions reach a room in batches: at most one ``message_changed`` per message per window.

A storm of reactions on one message (a live event's room of thousands, each clicking 👍) would
otherwise cost one room-wide fan-out per click, more than the messages themselves. Each
reaction is still stored, and logged for resume, as it comes; what is batched is the event.
The first reaction to a message is sent at once and opens a window of ``Limits.reaction_batch``
ms; reactions to it within the window are held, and when the window closes the newest state
held is sent (opening the next window). Any other change to the message (an edit, a deletion)
is sent at once, and drops what is held: its state is newer and includes those reactions.

The window is per process: with several processes each sends its own batches, and the broker
drops a batch older than a state it has already sent (``Envelope.version``).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from ..backends.store import Change
from ..clock import Clock
from ..wire.errors import ChatError

__all__ = ("ReactionBatches",)

log = logging.getLogger("chatcore")

_Key = tuple[str, int]


class ReactionBatches:
    """The open windows of one server: (room, message id) -> the newest change held, if any."""

    __slots__ = ("_clock", "_open", "_send", "_spawn", "_window")

    def __init__(
        self,
        window: int,
        clock: Clock,
        send: Callable[[Change], Awaitable[None]],
        spawn: Callable[..., None],
    ) -> None:
        self._window = window
        self._clock = clock
        self._send = send  # sends a change made without its event (``Posting.send_later``)
        self._spawn = spawn
        self._open: dict[_Key, Change | None] = {}

    def claim(self, room: str, message_id: int) -> bool:
        """A reaction to the message is about to be stored: whether its event goes out with it
        (no window is open: this opens one) or is held (:meth:`hold`)."""
        if self._window == 0:
            return True
        key = (room, message_id)
        if key in self._open:
            return False
        self._open[key] = None
        self._spawn(self._close, key, self._clock.now() + self._window)
        return True

    def hold(self, change: Change) -> None:
        """A reaction stored without its event: send its state when the window closes."""
        key = (change.message.room, change.message.id)
        held = self._open.get(key)
        if key in self._open and (held is None or held.message.version < change.message.version):
            self._open[key] = change
        elif key not in self._open:  # (the window closed meanwhile)
            self._spawn(self._send_now, change)

    def superseded(self, room: str, message_id: int) -> None:
        """Another change to the message went out: what is held is older than it."""
        key = (room, message_id)
        if key in self._open:
            self._open[key] = None

    async def _close(self, key: _Key, deadline: int) -> None:
        """End the window at ``deadline``; if it held a change, send it and keep the next
        window in this same task, until one ends with nothing held."""
        while True:
            await self._clock.sleep_until(deadline)
            held = self._open.pop(key, None)
            if held is None:
                return
            self._open[key] = None  # the next window
            deadline += self._window
            await self._send_now(held)

    async def _send_now(self, change: Change) -> None:
        try:
            await self._send(change)
        except ChatError:
            # A client that missed it gets the state from the next change, or on resume.
            log.warning("could not send a batch of reactions in %s", change.message.room)
        except Exception:
            log.exception("sending a batch of reactions in %s failed", change.message.room)
