"""One holder at a time per key (a room), in arrival order, at no cost when nobody waits.

``ChatServer.post`` holds a room's key from the store's append to the publish, so messages
reach every connection in id order. Posting is the hottest path there is: an uncontended
acquire here neither checkpoints nor allocates (``anyio.Lock`` costs more than the rest of a
post), and a key with no holder takes no memory.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable

import anyio

__all__ = ("KeyedLock",)


class KeyedLock:
    __slots__ = ("_held",)

    def __init__(self) -> None:
        # A key is held while it is here; its deque holds the turns of the tasks waiting for it.
        self._held: dict[Hashable, deque[anyio.Event]] = {}

    def locked(self, key: Hashable) -> bool:
        return key in self._held

    async def acquire(self, key: Hashable) -> None:
        waiting = self._held.get(key)
        if waiting is None:
            self._held[key] = deque()
            return
        turn = anyio.Event()
        waiting.append(turn)
        try:
            await turn.wait()
        except BaseException:
            if turn.is_set():  # handed the key while being cancelled: hand it on
                self.release(key)
            else:
                waiting.remove(turn)
            raise

    def release(self, key: Hashable) -> None:
        waiting = self._held[key]
        if waiting:
            waiting.popleft().set()  # the key passes to the next task, still held
        else:
            del self._held[key]
