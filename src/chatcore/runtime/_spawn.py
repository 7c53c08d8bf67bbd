"""Short background tasks for the server, at a tenth of what an anyio task costs on asyncio.

A pipelined ``send`` (see :class:`~chatcore.runtime.connection.Connection`) finishes in a task of its
own, one task per message. On asyncio, ``TaskGroup.start_soon`` costs about ten times what
``loop.create_task`` does (its cancel-scope bookkeeping), which is as much as the rest of a
message's work in one process (figures in docs/performance.md). So on asyncio the tasks are plain ones, kept in a set (a
running task needs a strong reference) and cancelled when the server stops; on any other
backend they go to the server's task group.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from anyio.abc import TaskGroup

__all__ = ("Spawner",)

log = logging.getLogger("chatcore")


class Spawner:
    """Starts tasks that must not outlive ``group`` (the server's task group). Make it in the
    event loop that runs them."""

    __slots__ = ("_group", "_loop", "_tasks")

    def __init__(self, group: TaskGroup) -> None:
        self._group = group
        self._tasks: set[asyncio.Task[None]] = set()
        # Looked up once: on Python 3.11 each get_running_loop() is a getpid() system call.
        try:
            self._loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:  # not asyncio (trio)
            self._loop = None

    @property
    def in_order(self) -> bool:
        """Whether tasks take their first step in the order they were started (asyncio's do;
        trio's scheduler promises no order)."""
        return self._loop is not None

    def start(self, function: Callable[..., Coroutine[Any, Any, None]], *args: Any) -> None:
        """Run ``function(*args)`` soon, in a task of its own; it must handle its own errors."""
        if self._loop is None:
            self._group.start_soon(function, *args)
            return
        task = self._loop.create_task(function(*args))
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("a server task failed", exc_info=task.exception())

    async def aclose(self) -> None:
        """Cancel the tasks still running and wait for them to end."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)
