"""A room's joins and leaves in one process, written together: a join storm must not become a
round trip per join (the Redis and PostgreSQL brokers).

The first caller of an idle room runs its batches (after one yield, so that the joins of the
same moment go together); the others queue and wait for their answer. ``apply`` writes one
batch (one Redis script, one PostgreSQL function call) and answers each operation in order.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

import anyio
import anyio.lowlevel

from .presence import PresenceChange

__all__ = ("RoomBatches",)

Op = TypeVar("Op")


class _Pending(Generic[Op]):
    __slots__ = ("done", "error", "op", "result")

    def __init__(self, op: Op) -> None:
        self.op = op
        self.done = anyio.Event()
        self.result = PresenceChange(False, 0)
        self.error: BaseException | None = None


class RoomBatches(Generic[Op]):
    """Queues each room's operations and applies those that came together with ``apply``
    (one room's operations, in order; a change for each)."""

    __slots__ = ("_apply", "_queues")

    def __init__(
        self, apply: Callable[[str, Sequence[Op]], Awaitable[list[PresenceChange]]]
    ) -> None:
        self._apply = apply
        # room -> operations waiting for the next batch; present while a caller runs them
        self._queues: dict[str, list[_Pending[Op]]] = {}

    async def run(self, room: str, op: Op) -> PresenceChange:
        pending = _Pending(op)
        queue = self._queues.get(room)
        if queue is not None:
            queue.append(pending)  # a caller is running this room's batches
            await pending.done.wait()
        else:
            self._queues[room] = [pending]
            # Shielded: the callers waiting for this batch must get their answer.
            with anyio.CancelScope(shield=True):
                await self._run(room)
        if pending.error is not None:
            raise pending.error
        return pending.result

    async def _run(self, room: str) -> None:
        try:
            await anyio.lowlevel.checkpoint()  # let the joins of this moment queue up
            while batch := self._queues[room]:
                self._queues[room] = []
                try:
                    results = await self._apply(room, [pending.op for pending in batch])
                except BaseException as error:
                    for pending in batch:
                        pending.error = error
                        pending.done.set()
                    raise
                for pending, result in zip(batch, results, strict=True):
                    pending.result = result
                    pending.done.set()
        finally:
            for pending in self._queues.pop(room, []):
                pending.error = RuntimeError("the presence batch stopped")
                pending.done.set()
