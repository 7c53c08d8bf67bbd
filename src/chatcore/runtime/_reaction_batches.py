"""Reactions reach a room in batches: at most one ``message_changed`` per message per window.

A storm of reactions on one message (a live event's room of thousands, each clicking 👍) would
otherwise cost one room-wide fan-out per click, more than the messages themselves. Each
reaction is still stored, and logged for resume, as it comes; what is batched is the event.
The first reactions to a message (:data:`AT_ONCE`) are sent one by one as they come, and the
first opens a window of ``Limits.reaction_batch`` ms; more reactions to it within the window
are held, and when the window closes the newest state held is sent (opening the next window,
which again lets the first few through). A few people reacting are seen click by click; a
storm costs the room about ``AT_ONCE + 1`` events per message per window, however many click. Any other change to the message (an edit, a deletion)
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

__all__ = ("AT_ONCE", "ReactionBatches")

log = logging.getLogger("chatcore")

_Key = tuple[str, int]

#: Reactions to one message sent one by one in each window before the rest are batched.
AT_ONCE = 3


class _Window:
    __slots__ = ("held", "sent")

    def __init__(self) -> None:
        self.sent = 1  # the reaction that opened it
        self.held: Change | None = None


class ReactionBatches:
    """The open windows of one server, by (room, message id)."""

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
        self._open: dict[_Key, _Window] = {}

    def claim(self, room: str, message_id: int) -> bool:
        """A reaction to the message is about to be stored: whether its event goes out with it
        (no window is open: this opens one) or is held (:meth:`hold`)."""
        if self._window == 0:
            return True
        key = (room, message_id)
        window = self._open.get(key)
        if window is None:
            self._open[key] = _Window()
            self._spawn(self._close, key, self._clock.now() + self._window)
            return True
        if window.sent < AT_ONCE and window.held is None:
            window.sent += 1
            return True
        return False

    def hold(self, change: Change) -> None:
        """A reaction stored without its event: send its state when the window closes."""
        window = self._open.get((change.message.room, change.message.id))
        if window is None:  # (the window closed meanwhile)
            self._spawn(self._send_now, change)
        elif window.held is None or window.held.message.version < change.message.version:
            window.held = change

    def superseded(self, room: str, message_id: int) -> None:
        """Another change to the message went out: what is held is older than it."""
        window = self._open.get((room, message_id))
        if window is not None:
            window.held = None

    async def _close(self, key: _Key, deadline: int) -> None:
        """End the window at ``deadline``; if it held a change, send it and keep the next
        window in this same task, until one ends with nothing held."""
        while True:
            await self._clock.sleep_until(deadline)
            window = self._open.pop(key, None)
            if window is None or window.held is None:
                return
            self._open[key] = _Window()  # the next one, opened by the batch sent now
            deadline += self._window
            await self._send_now(window.held)

    async def _send_now(self, change: Change) -> None:
        try:
            await self._send(change)
        except ChatError:
            # A client that missed it gets the state from the next change, or on resume.
            log.warning("could not send a batch of reactions in %s", change.message.room)
        except Exception:
            log.exception("sending a batch of reactions in %s failed", change.message.room)
