"""A connection's bounded queue of outgoing frames, with the slow-consumer policy.

The outbox is bounded twice: in frames (``capacity``) and in bytes (``budget``). The bytes it
holds are those of its queued frames and of the frame whose send is under way and waiting (the
socket's buffer is full). A frame that arrives when nothing is held is always taken, whatever
its size, so a reading client gets every reply; otherwise, when the frame would pass either
bound:

1. an ephemeral frame (typing) arriving is dropped;
2. otherwise the oldest queued ephemeral frames are dropped until it fits;
3. otherwise (only chat frames are queued) the outbox closes with 1013. The client learns it
   from the close code and resumes with ``join``/``since``; no chat frame is lost silently.

:meth:`Outbox.put` is synchronous and takes no lock: fan-out calls it once per recipient
with the same, already encoded text.

Frames go out one way: an :meth:`Outbox.attach`-ed :class:`Writer` takes each frame from
:meth:`put`, in the caller's frame: its ``write`` puts a frame in the socket's buffer at once and
says whether the buffer can take more. Once it says no, frames queue (counted against the bounds
as above, with the last frame written) until :meth:`Outbox.resume` (the buffer drained);
``closed`` tells it the close code. A fan-out to N sockets then costs N buffer appends, not N
task wake-ups. The native adapter (``chatcore_server``) writes into its own buffers this way;
``Connection.serve`` on asyncio attaches a writer that runs the adapter's ``send`` on the spot
and finishes one that has to wait in a task started for it (:mod:`chatcore.runtime._serve`);
:meth:`Outbox.write_all` on asyncio attaches one that leaves such a send to its own task. On
other backends (trio), whose tasks may not finish each other's waits, :meth:`Outbox.write_all`
sends every frame from its task, and :meth:`put` only queues.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Protocol

import anyio

from ..wire.errors import CloseCode
from ..wire.protocol import frame_size
from ._inline import Rest, start

__all__ = ("Closed", "Outbox", "SendFrame", "Writer")

#: Sends one text frame on a socket: a function returning an awaitable (a coroutine, a
#: future), such as an adapter's wrapper around its ASGI ``send``.
SendFrame = Callable[[str], Awaitable[object]]


class Writer(Protocol):
    """Puts frames in a socket's buffer without waiting (see :meth:`Outbox.attach`)."""

    def write(self, text: str) -> bool:
        """Write ``text`` now; False if the buffer is now full (hold the next frames until
        :meth:`Outbox.resume`)."""
        ...

    def closed(self, code: CloseCode) -> None:
        """The outbox closed with ``code``: send the close frame."""
        ...


class Closed(Exception):
    """The outbox is closed; ``code`` is the WebSocket close code to send."""

    def __init__(self, code: CloseCode) -> None:
        super().__init__(f"connection closed with {int(code)}")
        self.code = code


class Outbox:
    __slots__ = (
        "_budget",
        "_busy",
        "_capacity",
        "_closed",
        "_closing",
        "_ephemeral",
        "_frames",
        "_held",
        "_in_flight",
        "_waiter",
        "_writer",
        "close_code",
        "dropped",
    )

    def __init__(self, capacity: int, budget: int = 1 << 20) -> None:
        self._capacity = capacity
        self._budget = budget
        self._frames: deque[tuple[str, bool, int]] = deque()
        self._ephemeral = 0
        self._held = 0  # bytes of the queued frames and of the send that waits
        self._in_flight = 0  # bytes of the send that waits
        self._waiter: anyio.Event | None = None
        self._closed: anyio.Event | None = None  # made on first wait_closed()
        self._closing: Callable[[CloseCode], None] | None = None  # see when_closed()
        #: Set once closed; no frame is queued after that.
        self.close_code: CloseCode | None = None
        #: Ephemeral frames dropped so far.
        self.dropped = 0
        self._busy = False  # the writer's buffer is full: put() queues
        self._writer: Writer | None = None  # attached: frames go to it from put()

    def __len__(self) -> int:
        return len(self._frames)

    @property
    def held(self) -> int:
        """Bytes of frames held: queued, or handed to a send that is waiting."""
        return self._held

    def put(self, text: str, ephemeral: bool = False, size: int = -1) -> bool:
        """Queue ``text`` (``size``: its UTF-8 bytes, if the caller knows them); False if the
        outbox is (now) closed."""
        if self.close_code is not None:
            return False
        if size < 0:
            size = frame_size(text)
        frames = self._frames
        held = self._held
        # (_full, written out: this runs once per frame and recipient.)
        if (len(frames) >= self._capacity or (held and held + size > self._budget)) and not (
            self._make_room(ephemeral, size)
        ):
            # A dropped ephemeral frame leaves the outbox open; a chat frame that found no room
            # has closed it (1013).
            return ephemeral
        if not frames and not self._busy:
            writer = self._writer
            if writer is not None:
                if not writer.write(text):
                    self._hold_written(size)
                return True
        frames.append((text, ephemeral, size))
        self._held += size
        if ephemeral:
            self._ephemeral += 1
        if self._waiter is not None:
            self._wake()
        return True

    def attach(self, writer: Writer) -> None:
        """Hand every frame, the queued ones first, to ``writer`` as it comes, from :meth:`put`
        (instead of :meth:`write_all` or :meth:`get`); ``writer.closed`` learns the close code."""
        self._writer = writer
        if self.close_code is not None:
            writer.closed(self.close_code)
            return
        self.resume()

    def resume(self) -> None:
        """The attached writer's buffer drained: write the queued frames until it is full."""
        writer = self._writer
        if writer is None or self.close_code is not None:
            return
        self._busy = False
        self._sent()  # the frame written last is out of the buffer's way now
        frames = self._frames
        while frames:
            text, ephemeral, size = frames.popleft()
            self._held -= size
            if ephemeral:
                self._ephemeral -= 1
            if not writer.write(text):
                self._hold_written(size)
                return

    def _hold_written(self, size: int) -> None:
        """The writer's buffer is full after a frame of ``size`` bytes: count it until resume,
        and queue what comes next."""
        self._busy = True
        self._in_flight = size
        self._held += size

    def _wake(self) -> None:
        if self._waiter is not None:
            self._waiter.set()
            self._waiter = None

    def _full(self, count: int, held: int, size: int) -> bool:
        """Whether a frame of ``size`` bytes finds no room beside ``count`` frames holding
        ``held`` bytes (when nothing is held, any one frame has room)."""
        return count >= self._capacity or (held > 0 and held + size > self._budget)

    def _make_room(self, ephemeral: bool, size: int) -> bool:
        """Whether a frame of ``size`` bytes may be queued, once ephemeral frames are dropped."""
        if ephemeral:
            self.dropped += 1
            return False
        if self._ephemeral:
            frames = self._frames
            count, held = len(frames), self._held
            kept: deque[tuple[str, bool, int]] = deque()
            for frame in frames:  # the oldest ephemeral frames go first
                if frame[1] and self._full(count, held, size):
                    count -= 1
                    held -= frame[2]
                    self._ephemeral -= 1
                    self.dropped += 1
                else:
                    kept.append(frame)
            frames.clear()  # the same queue: put() holds it
            frames.extend(kept)
            self._held = held
            if not self._full(count, held, size):
                return True
        self.close(CloseCode.TRY_AGAIN_LATER)
        return False

    def close(self, code: CloseCode) -> None:
        """Close with ``code`` (the first code wins); queued frames are discarded."""
        if self.close_code is None:
            self.close_code = code
            self._frames.clear()
            self._ephemeral = self._held = self._in_flight = 0
            self._wake()
            if self._closed is not None:
                self._closed.set()
            if self._writer is not None:
                self._writer.closed(code)
            if self._closing is not None:
                self._closing(code)

    def when_closed(self, callback: Callable[[CloseCode], None]) -> None:
        """Call ``callback`` with the close code when the outbox closes (now, if it is closed):
        a socket's end can be timed from it without a task waiting on :meth:`wait_closed`."""
        if self.close_code is not None:
            callback(self.close_code)
        else:
            self._closing = callback

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
        text = self._pop()
        self._sent()
        return text

    def _pop(self) -> str | None:
        """The next frame, whose bytes stay held (in flight) until :meth:`_sent`."""
        if self.close_code is not None:
            raise Closed(self.close_code)
        if not self._frames:
            return None
        text, ephemeral, size = self._frames.popleft()
        if ephemeral:
            self._ephemeral -= 1
        self._in_flight = size
        return text

    def _sent(self) -> None:
        """The frame in flight left: its bytes are no longer held."""
        self._held -= self._in_flight
        self._in_flight = 0

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

    async def write_all(self, send: SendFrame) -> CloseCode:
        """Send every frame with ``send``, in order, until the outbox closes; its close code.

        On asyncio :meth:`put` sends each frame itself, through a writer this attaches, and
        only a send that has to wait (or fails) is left to this method's task (see the module's
        doc). A send that fails raises from this method. Call it once, from the socket's sending
        task; frames put once it has ended are queued and not sent.
        """
        if not _on_asyncio():
            return await self._send_each(send)
        # A send started in put() is finished by this task: asyncio allows that (what it waits
        # on is a future any task may await); trio does not (a task's wait belongs to it).
        writer = _Handoff(send)
        self.attach(writer)
        try:
            while True:
                if writer.failure is not None:
                    raise writer.failure
                rest = writer.rest
                if rest is not None:
                    writer.rest = None
                    await rest
                    self.resume()  # the frames queued meanwhile
                elif self.close_code is not None:
                    return self.close_code
                else:
                    await writer.wait()
        finally:
            self._writer = None
            if writer.rest is not None:
                writer.rest.close()

    async def _send_each(self, send: SendFrame) -> CloseCode:
        """:meth:`write_all` where only the writing task may send: each frame from here."""
        try:
            while True:
                text = self._pop()  # raises Closed once closed
                if text is None:
                    await self._wait()
                    continue
                await send(text)
                self._sent()
        except Closed as closed:
            return closed.code


class _Handoff:
    """The :class:`Writer` :meth:`Outbox.write_all` attaches on asyncio: runs each send in
    :meth:`Outbox.put`'s frame, and hands one that has to wait, or failed, to the writing task."""

    __slots__ = ("_event", "_send", "failure", "rest")

    def __init__(self, send: SendFrame) -> None:
        self._send = send
        self._event: anyio.Event | None = None
        self.rest: Rest | None = None  # a send that has to wait, for the writing task
        self.failure: Exception | None = None  # a send failed: the socket is gone

    def write(self, text: str) -> bool:
        try:
            rest = start(self._send(text))
        except Exception as failure:
            self.failure = failure
        else:
            if rest is None:
                return True
            self.rest = rest
        self._wake()
        return False

    def closed(self, code: CloseCode) -> None:
        self._wake()

    def _wake(self) -> None:
        if self._event is not None:
            self._event.set()
            self._event = None

    async def wait(self) -> None:
        """Wait until a send is handed over, or the outbox closes."""
        self._event = anyio.Event()
        await self._event.wait()


def _on_asyncio() -> bool:
    """Whether the running event loop is asyncio's."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True
