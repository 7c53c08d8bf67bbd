"""A token bucket with the time passed in."""

from __future__ import annotations

__all__ = ("TokenBucket",)


class TokenBucket:
    """``capacity`` tokens, refilled at ``per_second``; :meth:`take` spends one if it can."""

    __slots__ = ("_per_ms", "capacity", "stamp", "tokens")

    def __init__(self, per_second: float, capacity: int, now: int) -> None:
        self._per_ms = per_second / 1000
        self.capacity = capacity
        self.tokens = float(capacity)
        self.stamp = now

    def take(self, now: int) -> bool:
        elapsed = now - self.stamp
        if elapsed > 0:
            self.tokens = min(self.capacity, self.tokens + elapsed * self._per_ms)
            self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False
