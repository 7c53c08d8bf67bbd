"""A connection's bounded queue of outgoing frames, with the slow-consumer policy.

Policy, when the queue is full and one more frame arrives:

1. an ephemeral frame (typing) arriving is dropped;
2. otherwise the oldest queued ephemeral frame is dropped to make room;
3. otherwise (only chat frames are queued) the outbox closes with 1013. The client learns it
   from the close code and resumes with ``join``/``since``; no chat frame is lost silently.

:meth:`Outbox.put` is synchronous and takes no lock: fan-out calls it once per recipient
with the same, already encoded text.
"""

from __future__ import annotations

from collections import deque

import anyio

from .errors import CloseCode

__all__ = ("Closed", "Outbox")


class Closed(Exception):
    """The outbox is closed; ``code`` is the WebSocket close code to send."""

    def __init__(self, code: CloseCode) -> None:
        super().__init__(f"connection closed with {int(code)}")
        self.code = code


class Outbox:
    __slots__ = (
        "_capacity",
        "_closed",
        "_ephemeral",
        "_frames",
        "_waiter",
        "close_code",
        "dropped",
    )

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._frames: deque[tuple[str, bool]] = deque()
        self._ephemeral = 0
        self._waiter: anyio.Event | None = None
        self._closed: anyio.Event | None = None  # made on first wait_closed()
        #: Set once closed; no frame is queued after that.
        self.close_code: CloseCode | None = None
        #: Ephemeral frames dropped so far.
        self.dropped = 0

    def __len__(self) -> int:
        return len(self._frames)

    def put(self, text: str, ephemeral: bool = False) -> bool:
        """Queue ``text``; False if the outbox is (now) closed."""
        if self.close_code is not None:
            return False
        frames = self._frames
        if len(frames) >= self._capacity and not self._make_room(ephemeral):
            # A dropped ephemeral frame leaves the outbox open; a chat frame that found no room
            # has closed it (1013).
            return ephemeral
        frames.append((text, ephemeral))
        if ephemeral:
            self._ephemeral += 1
        if self._waiter is not None:
            self._waiter.set()
            self._waiter = None
        return True

    def _make_room(self, ephemeral: bool) -> bool:
        if ephemeral:
            self.dropped += 1
            return False
        if self._ephemeral:
            for index, (_, is_ephemeral) in enumerate(self._frames):
                if is_ephemeral:
                    del self._frames[index]
                    self._ephemeral -= 1
                    self.dropped += 1
                    return True
        self.close(CloseCode.TRY_AGAIN_LATER)
        return False

    def close(self, code: CloseCode) -> None:
        """Close with ``code`` (the first code wins); queued frames are discarded."""
        if self.close_code is None:
            self.close_code = code
            self._frames.clear()
            self._ephemeral = 0
            if self._waiter is not None:
                self._waiter.set()
                self._waiter = None
            if self._closed is not None:
                self._closed.set()

    async def wait_closed(self) -> CloseCode:
        """Wait until the outbox is closed; its close code."""
        if self.close_code is None:
            if self._closed is None:
                self._closed = anyio.Event()
            await self._closed.wait()
        assert self.close_code is not None
        return self.close_code

    def get_nowait(self) -> str | None:
        """The next frame, or None if none is queued. Raises :class:`Closed` once closed."""
        if self.close_code is not None:
            raise Closed(self.close_code)
        if not self._frames:
            return None
        text, ephemeral = self._frames.popleft()
        if ephemeral:
            self._ephemeral -= 1
        return text

    async def get(self) -> str:
        """Wait for the next frame. Raises :class:`Closed` once closed."""
        while True:
            text = self.get_nowait()
            if text is not None:
                return text
            if self._waiter is None:
                self._waiter = anyio.Event()
            await self._waiter.wait()
