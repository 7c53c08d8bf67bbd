"""Run a coroutine in the caller's frame; finish it in a task only if it has to wait.

Sending a frame to a socket whose buffer has room is, with the usual servers, a synchronous
buffer append behind an ``async`` signature. :func:`start` runs such a send on the spot, so a
fan-out need not wake each recipient's task for each frame; the rare send that has to wait
(a full buffer) comes back as a :class:`Rest` for the socket's own task to await.
"""

from __future__ import annotations

from collections.abc import Awaitable, Generator
from typing import Any

__all__ = ("Rest", "start")


class Rest:
    """The remainder of a coroutine started by :func:`start` that had to wait. Await it once
    (from any task), or :meth:`close` it to abandon it."""

    __slots__ = ("_steps", "_waiting_on")

    def __init__(self, steps: Generator[Any, Any, Any], waiting_on: Any) -> None:
        self._steps = steps
        self._waiting_on = waiting_on

    def __await__(self) -> Generator[Any, Any, Any]:
        # Hand what the coroutine waits on to the awaiting task's event loop, and what the loop
        # sends or throws back to the coroutine, until it returns (its result is the await's).
        steps, waiting_on = self._steps, self._waiting_on
        while True:
            try:
                answer = yield waiting_on
            except GeneratorExit:
                steps.close()
                raise
            except BaseException as error:  # cancellation included: the coroutine decides
                try:
                    waiting_on = steps.throw(error)
                except StopIteration as done:
                    return done.value
            else:
                try:
                    waiting_on = steps.send(answer)
                except StopIteration as done:
                    return done.value

    def close(self) -> None:
        self._steps.close()


def start(awaitable: Awaitable[object]) -> Rest | None:
    """Run ``awaitable`` until it completes (None) or first waits (its :class:`Rest`).

    An exception raised before the first wait propagates to the caller.
    """
    steps = awaitable.__await__()
    try:
        waiting_on = steps.send(None)
    except StopIteration:
        return None
    return Rest(steps, waiting_on)
