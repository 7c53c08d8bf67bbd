"""A connection's bounded queue of outgoing frames, with the slow-consumer policy.

Policy, when the queue is full and one more frame arrives:

1. an ephemeral frame (typing) arriving is dropped;
2. otherwise the oldest queued ephemeral frame is dropped to make room;
3. otherwise (only chat frames are queued) the outbox closes with 1013. The client learns it
   from the close code and resumes with ``join``/``since``; no chat frame is lost silently.

:meth:`Outbox.put` is synchronous and takes no lock: fan-out calls it once per recipient
with the same, already encoded text.

While a writer runs (:meth:`Outbox.write_all`), a frame put into an empty outbox of an idle
socket is sent at once, in the caller's frame, when the socket takes it without waiting (the
usual case); only frames that find the socket busy are queued for the writer's task. A fan-out
to N sockets then costs N buffer appends, not N task wake-ups.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Awaitable, Callable

import anyio

from ._inline import Rest, start
from .errors import CloseCode

__all__ = ("Closed", "Outbox", "Send")

#: Sends one text frame on a socket: a function returning an awaitable (a coroutine, a
#: future), such as an adapter's wrapper around its ASGI ``send``.
Send = Callable[[str], Awaitable[object]]


class Closed(Exception):
    """The outbox is closed; ``code`` is the WebSocket close code to send."""

    def __init__(self, code: CloseCode) -> None:
        super().__init__(f"connection closed with {int(code)}")
        self.code = code


class Outbox:
    __slots__ = (
        "_busy",
        "_capacity",
        "_closed",
        "_ephemeral",
        "_failure",
        "_frames",
        "_rest",
        "_send",
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
        # Set while write_all() runs: frames may then be sent from put().
        self._send: Send | None = None
        self._busy = False  # a send is under way: put() queues
        self._rest: Rest | None = None  # a send put() started that has to wait
        self._failure: Exception | None = None  # a send put() started failed

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
        if self._send is not None and not frames and not self._busy:
            self._send_now(self._send, text)
            return True
        frames.append((text, ephemeral))
        if ephemeral:
            self._ephemeral += 1
        self._wake()
        return True

    def _send_now(self, send: Send, text: str) -> None:
        """Send ``text`` in the caller's frame; leave any wait, or failure, to the writer."""
        self._busy = True
        try:
            self._rest = start(send(text))
        except Exception as failure:  # the socket is gone: the writer raises it
            self._failure = failure
            self._send = None
        else:
            if self._rest is None:
                self._busy = False
                return
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None:
            self._waiter.set()
            self._waiter = None

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
            self._wake()
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
            await self._wait()

    async def _wait(self) -> None:
        if self._waiter is None:
            self._waiter = anyio.Event()
        await self._waiter.wait()

    async def write_all(self, send: Send) -> CloseCode:
        """Send every frame with ``send``, in order, until the outbox closes; its close code.

        Meanwhile :meth:`put` sends frames itself when it can (see the module's doc). A send
        that fails, here or in :meth:`put`, raises from this method. Call it once, from the
        socket's sending task.
        """
        self._send = send
        try:
            while True:
                failure = self._failure
                if failure is not None:
                    self._failure = None
                    raise failure
                rest = self._rest
                if rest is not None:
                    self._rest = None
                    await rest
                    self._busy = False
                    continue
                text = self.get_nowait()  # raises Closed once closed
                if text is None:
                    await self._wait()
                    continue
                self._busy = True
                await send(text)
                self._busy = False
        except Closed as closed:
            return closed.code
        finally:
            self._send = None
            if self._rest is not None:
                self._rest.close()
                self._rest = None
