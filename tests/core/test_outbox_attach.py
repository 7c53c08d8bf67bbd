"""Outbox.attach: a writer that owns its socket's buffer gets every frame from put(), with no
task, holds the frames that come while its buffer is full, and learns the close code."""

from __future__ import annotations

from chatcore import CloseCode
from chatcore.runtime.outbox import Outbox


class Buffer:
    """A writer double: a socket buffer that is full past ``room`` frames."""

    def __init__(self, room: int = 100) -> None:
        self.written: list[str] = []
        self.room = room
        self.codes: list[CloseCode] = []

    def write(self, text: str) -> bool:
        self.written.append(text)
        return len(self.written) < self.room

    def closed(self, code: CloseCode) -> None:
        self.codes.append(code)


def test_queued_frames_go_first_then_each_frame_from_put() -> None:
    box, buffer = Outbox(8), Buffer()
    box.put("welcome")
    box.attach(buffer)
    assert buffer.written == ["welcome"]
    for text in ("a", "b"):
        assert box.put(text)
    assert buffer.written == ["welcome", "a", "b"]
    assert (len(box), box.held) == (0, 0)


def test_a_full_buffer_holds_the_next_frames_until_resume() -> None:
    box, buffer = Outbox(8, budget=100), Buffer(room=2)
    box.attach(buffer)
    box.put("x" * 10)
    box.put("y" * 10)  # written; the buffer is full now
    assert box.held == 10  # the last frame written counts until the buffer drains
    box.put("z" * 10)
    box.put("t", ephemeral=True)
    assert buffer.written == ["x" * 10, "y" * 10]
    assert (len(box), box.held) == (2, 21)
    buffer.room = 100
    box.resume()
    assert buffer.written[2:] == ["z" * 10, "t"]
    assert (len(box), box.held) == (0, 0)


def test_the_byte_bound_closes_with_1013_and_the_writer_learns_it_once() -> None:
    box, buffer = Outbox(64, budget=100), Buffer(room=1)
    box.attach(buffer)
    for _ in range(9):
        assert box.put("x" * 10)
    assert box.held == 90
    assert not box.put("y" * 20)  # a chat frame over the bound: 1013
    assert buffer.codes == [CloseCode.TRY_AGAIN_LATER]
    box.close(CloseCode.NORMAL)
    box.resume()  # (a drain after the close writes nothing)
    assert buffer.codes == [CloseCode.TRY_AGAIN_LATER]
    assert buffer.written == ["x" * 10]


def test_attaching_to_a_closed_outbox_tells_the_code() -> None:
    box, buffer = Outbox(8), Buffer()
    box.close(CloseCode.GOING_AWAY)
    box.attach(buffer)
    assert (buffer.written, buffer.codes) == ([], [CloseCode.GOING_AWAY])
