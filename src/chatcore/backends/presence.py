"""Presence at scale: what a broker answers for large rooms, and the rules every broker shares.

A room's members are listed in the order of :func:`member_key` (the name, case-folded, then the
id), so a page is a range after a cursor (the last key of the page before) and a name prefix is
a range too: a broker keeps the keys sorted (the memory broker in a list, Redis in a sorted
set) and never sorts a room per request. :func:`occupancy_claim` is the rule that decides when a
large room's count is sent; a broker applies it atomically, so several processes send one count
per room per interval between them.
"""

from __future__ import annotations

import bisect
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Literal

import attrs

from ..wire.values import User
from .envelope import Departed, Envelope, ToRoom

__all__ = (
    "Claim",
    "MemberIndex",
    "MembersPage",
    "PresenceChange",
    "announce_settled",
    "member_key",
    "occupancy_claim",
    "occupancy_wait",
    "query_key",
)


@attrs.frozen
class PresenceChange:
    """What a join or leave did in a room, in every process."""

    #: Join: the user was not present before; leave: no process holds them there any more.
    changed: bool
    #: Users present in the room after it.
    count: int


@attrs.frozen
class MembersPage:
    """A page of a room's members, in :func:`member_key` order."""

    members: list[User]
    #: Users present in the room (all of them, not only those matching a query).
    count: int
    #: The cursor of the next page (the key of this page's last member); None on the last.
    next: str | None


@attrs.frozen
class Claim:
    """The answer to :meth:`~chatcore.backends.broker.Broker.claim_occupancy`."""

    count: int
    #: This caller sends ``occupancy`` with ``count`` now (the claim is recorded).
    announce: bool = False
    #: The count changed but was sent less than an interval ago: ask again later.
    retry: bool = False


def member_key(user: User) -> str:
    """The sort key (and cursor) of a member: the case-folded name, a newline, the id."""
    return f"{user.name.casefold()}\n{user.id}"


def query_key(query: str) -> str:
    """The key prefix of the members whose name starts with ``query``."""
    return query.casefold()


def occupancy_wait(count: int, interval: int, scale: int) -> int:
    """How long after a count the next one of a room of ``count`` may go: ``interval``, or
    longer for a room of more than ``scale`` members, so that a room's counts cost at most
    about ``scale`` deliveries per interval (a count goes to every member: sent every second
    to a room of N during a join storm as long as N, it would make the storm cost N²)."""
    return interval if scale <= 0 else max(interval, interval * count // scale)


def occupancy_claim(
    count: int,
    last: tuple[int, int] | None,
    now: int,
    interval: int,
    limit: int,
    scale: int = 0,
) -> tuple[Claim, tuple[int, int] | None, bool]:
    """Whether to send ``count`` for a room whose last sent (count, time) is ``last``:
    (the claim, the record to keep, whether to change the record).

    A count is sent when it differs from the last one sent, and the room is large or was
    large when last sent (the one count at or below ``limit`` that tells clients it is small
    again), and :func:`occupancy_wait` has passed since the last one; a small room forgets its
    record.
    """
    last_count = None if last is None else last[0]
    relevant = count > limit or (last_count is not None and last_count > limit)
    if not relevant:
        return Claim(count), None, last is not None
    if last_count == count:
        return Claim(count), last, False
    if last is not None and now - last[1] < occupancy_wait(count, interval, scale):
        return Claim(count, retry=True), last, False
    return Claim(count, announce=True), (count, now), True


class MemberIndex:
    """One room's member keys, sorted; pages and prefix ranges by bisection."""

    __slots__ = ("_ids", "_keys", "by_user")

    def __init__(self) -> None:
        self._keys: list[str] = []
        self._ids: dict[str, str] = {}  # key -> user id (an id may hold a newline)
        self.by_user: dict[str, str] = {}

    def __len__(self) -> int:
        return len(self.by_user)

    def add(self, user: User) -> None:
        key = member_key(user)
        old = self.by_user.get(user.id)
        if old == key:
            return
        if old is not None:
            self._discard(old)
        self.by_user[user.id] = key
        self._ids[key] = user.id
        bisect.insort(self._keys, key)

    def remove(self, user_id: str) -> None:
        key = self.by_user.pop(user_id, None)
        if key is not None:
            self._discard(key)

    def _discard(self, key: str) -> None:
        del self._ids[key]
        index = bisect.bisect_left(self._keys, key)
        if index < len(self._keys) and self._keys[index] == key:
            del self._keys[index]

    def page(
        self, after: str | None, limit: int, query: str | None
    ) -> tuple[list[str], str | None]:
        """Up to ``limit`` member ids after the cursor ``after`` whose name starts with
        ``query``, and the cursor of the next page (None when none follows)."""
        keys = self._keys
        start = 0 if after is None else bisect.bisect_right(keys, after)
        prefix = None if query is None else query_key(query)
        if prefix is not None:
            start = max(start, bisect.bisect_left(keys, prefix))
        found = keys[start : start + limit + 1]
        if prefix is not None:
            found = [key for key in found if key.startswith(prefix)]
        more = len(found) > limit
        found = found[:limit]
        return [self._ids[key] for key in found], found[-1] if more else None


async def announce_settled(
    event: Literal["join", "leave"],
    rooms: Mapping[str, Sequence[User]],
    deliver: Callable[[Envelope], None] | None,
    publish: Callable[[Envelope], Awaitable[None]],
) -> None:
    """Announce who joined or left ``rooms`` when a broker's heartbeat or resync settled
    presence that no local connection changed (a dead process's users, a process's state
    made good after an outage). A running process's server gets the leaves (``deliver``),
    announcing each user, or one count in a large room, and dropping rooms it no longer
    needs (see :class:`~chatcore.backends.envelope.Departed`); the rest is published."""
    if event == "leave" and deliver is not None:
        for room, users in rooms.items():
            deliver(Envelope(ToRoom(room), None, effect=Departed(room, tuple(users))))
        return
    for room, users in rooms.items():
        for user in users:
            await publish(Envelope.presence(room, event, user))
