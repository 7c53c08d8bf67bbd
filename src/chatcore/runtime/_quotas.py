"""The per-user room quotas, and the per-user token buckets they use.

A user who has not created a room for a while has a full bucket, which is the same as having
none: such buckets are forgotten, so the map holds only users who created rooms lately.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from ..backends.store import Store
from ..clock import Clock
from ..wire.errors import QuotaExceeded
from ..wire.limits import Limits
from ..wire.values import User
from ._queue_lock import KeyedLock
from .ratelimit import TokenBucket

__all__ = ("RoomQuotas", "UserBuckets")

_HOUR_MS = 3_600_000


class UserBuckets:
    """``per_hour`` tokens per user, refilled at ``per_hour`` an hour."""

    __slots__ = ("_buckets", "_per_hour", "_sweep_at")

    def __init__(self, per_hour: int) -> None:
        self._per_hour = per_hour
        self._buckets: dict[str, TokenBucket] = {}
        self._sweep_at = 64

    def __len__(self) -> int:
        return len(self._buckets)

    def take(self, user_id: str, now: int) -> bool:
        """Spend one of ``user_id``'s tokens if there is one."""
        bucket = self._buckets.get(user_id)
        if bucket is None:
            if len(self._buckets) >= self._sweep_at:
                self._sweep(now)
            bucket = self._buckets[user_id] = TokenBucket(
                self._per_hour * 1000 / _HOUR_MS, self._per_hour, now
            )
        return bucket.take(now)

    def give_back(self, user_id: str) -> None:
        """Return a token taken for something that did not happen."""
        bucket = self._buckets.get(user_id)
        if bucket is not None:
            bucket.tokens = min(bucket.capacity, bucket.tokens + 1)

    def clear(self) -> None:
        self._buckets.clear()

    def _sweep(self, now: int) -> None:
        """Forget the buckets that are full again by ``now``."""
        refill = self._per_hour / _HOUR_MS
        self._buckets = {
            user_id: bucket
            for user_id, bucket in self._buckets.items()
            if bucket.tokens + (now - bucket.stamp) * refill < bucket.capacity
        }
        self._sweep_at = max(64, 2 * len(self._buckets))


class RoomQuotas:
    """The room quotas of :class:`~chatcore.wire.limits.Limits`: ``rooms_per_user`` (rooms owned,
    counted in the store, so across processes) and ``rooms_per_hour`` (this process's bucket)."""

    __slots__ = ("_buckets", "_clock", "_limits", "_lock")

    def __init__(self, limits: Limits, clock: Clock) -> None:
        self._limits = limits
        self._clock = clock
        self._buckets = UserBuckets(limits.rooms_per_hour)
        self._lock = KeyedLock()  # one creation per user at a time, so checks do not race

    def clear(self) -> None:
        self._buckets.clear()

    @asynccontextmanager
    async def creating(self, user: User, store: Store, *, owned: bool) -> AsyncIterator[None]:
        """Check ``user``'s quotas (``owned``: the room will be theirs), then create the room
        in the body. Raises :class:`QuotaExceeded`; a room the body did not create costs
        nothing."""
        limits = self._limits
        await self._lock.acquire(user.id)
        try:
            if owned:
                # Creations are rare (the hourly bucket), so counting the user's rooms from
                # the list every store has is cheap enough.
                rooms = await store.list_rooms(user.id)
                if sum(room.owner == user.id for room in rooms) >= limits.rooms_per_user:
                    raise QuotaExceeded(
                        f"quota rooms_per_user: you own {limits.rooms_per_user} rooms, "
                        "the most allowed; delete one first",
                        field="room",
                    )
            if not self._buckets.take(user.id, self._clock.now()):
                raise QuotaExceeded(
                    f"quota rooms_per_hour: you may create {limits.rooms_per_hour} rooms "
                    "an hour; try again later",
                    field="room",
                )
            try:
                yield
            except BaseException:
                self._buckets.give_back(user.id)
                raise
        finally:
            self._lock.release(user.id)
