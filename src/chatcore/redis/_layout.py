"""Where the Redis backends keep each key and pub/sub channel: the shard groups.

The keyspace is split into ``groups`` groups, each a complete single-server layout (the keys
:mod:`~chatcore.redis._scripts` lists) under a key prefix of its own, ``f"{prefix}{{{tag}}}:"``
(``chatcore:{7k}:``). The hash tag puts every key of a group in one hash slot of a Redis
Cluster, and the tags are chosen so that group ``i``'s slot lies in
``[i * 16384 // groups, (i + 1) * 16384 // groups)``: the groups spread evenly over the slots,
hence over the masters. With one group and no cluster the prefix is the plain ``prefix``:
the keys are those of one Redis server exactly, and data stored before the groups stays valid.

A room lives in group ``crc32(room) % groups``, with all its keys and its channel
``<group prefix>room:<room>``; a user's keys (``on:<user>``, ``blocks:<user>``) and channels
(``user:<id>``, ``status:<id>``) live in the user's group, ``crc32(user id) % groups``. The
room-changes and room-list channels exist once per group (a room's on its group's); every
process subscribes to all of them. What spans rooms (the room list, unread counts, a user's
rooms, the process heartbeats) runs once per group and is merged (:func:`in_every`).

Every script runs in one group (its key names built from ``ARGV[1]``, the group's prefix) with
``KEYS`` = the group's two fence keys, which are never written: they route the script to the
group's slot on a cluster, and while that slot migrates Redis refuses the script (``TRYAGAIN``)
rather than let it run half on moved keys. In a sharded layout (``sharded``, a cluster's
default) publishing is ``SPUBLISH`` (the scripts' source is rewritten by :func:`script`) and
subscribing ``SSUBSCRIBE``, one call per group, as a call's channels must share a slot.

``groups`` and ``sharded`` come from the backends' arguments or else the URL's query
(``groups=N``, ``sharded=true``, ``cluster=true``: sharded with 16 groups). Every process of
a chat must use the same layout.
"""

from __future__ import annotations

import asyncio
import functools
import zlib
from bisect import bisect_right
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

import attrs
from redis.crc import REDIS_CLUSTER_HASH_SLOTS, key_slot

from ..backends.envelope import Target, ToRoom, ToRoomList
from ..wire.errors import UsageError
from ..wire.values import ROOM_LIST_CHANNEL
from ._cluster import url_groups, url_sharded, wants_cluster
from ._scripts import ROOM_CHANGES

__all__ = (
    "CLUSTER_GROUPS",
    "Group",
    "Layout",
    "in_every",
    "script",
    "tags",
)

#: Groups on a cluster unless the URL or the backend says otherwise.
CLUSTER_GROUPS = 16
_SLOTS = REDIS_CLUSTER_HASH_SLOTS
_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"

T = TypeVar("T")


@functools.cache
def tags(groups: int) -> tuple[str, ...]:
    """The hash tag of each of ``groups`` groups: group ``i``'s hashes to a slot in
    ``[i * 16384 // groups, (i + 1) * 16384 // groups)``. The shortest base-36 numbers, tried
    in order, each kept by the first group whose range its slot falls in: the same on every
    process."""
    bounds = [i * _SLOTS // groups for i in range(groups)]
    found: list[str | None] = [None] * groups
    missing, number = groups, 0
    while missing:
        digits, n = "", number
        while True:
            n, digit = divmod(n, 36)
            digits = _DIGITS[digit] + digits
            if not n:
                break
        number += 1
        index = bisect_right(bounds, key_slot(digits.encode())) - 1
        if found[index] is None:
            found[index] = digits
            missing -= 1
    return tuple(tag for tag in found if tag is not None)


@functools.cache
def script(source: str) -> str:
    """The sharded form of a script: its ``PUBLISH`` calls become ``SPUBLISH`` (the channels
    they publish on are in the script's group, so in its slot)."""
    return source.replace("redis.call('PUBLISH'", "redis.call('SPUBLISH'")


def _index(name: str, groups: int) -> int:
    return zlib.crc32(name.encode("utf-8", "surrogatepass")) % groups


@attrs.frozen
class Group:
    """One group: its ``index``, key ``prefix``, the ``fence`` keys its scripts get as
    ``KEYS`` (none in the plain layout) and its room-changes channel ``changes``."""

    index: int
    prefix: str
    fence: tuple[str, ...]
    changes: str


@attrs.frozen
class Layout:
    """The groups of a chat's keys (see the module doc); :meth:`of` builds one."""

    prefix: str
    groups: tuple[Group, ...]
    sharded: bool

    @classmethod
    def of(
        cls, prefix: str, groups: int = 1, *, sharded: bool = False, cluster: bool = False
    ) -> Layout:
        """``groups`` groups under ``prefix``; the plain single-server layout when there is one
        group, not sharded and not on a cluster."""
        if not 1 <= groups <= _SLOTS:
            raise UsageError(f"groups must be between 1 and {_SLOTS}, not {groups}")
        if groups == 1 and not sharded and not cluster:
            plain = Group(0, prefix, (), prefix + ROOM_CHANGES)
            return cls(prefix, (plain,), sharded=False)
        found = []
        for index, tag in enumerate(tags(groups)):
            own = f"{prefix}{{{tag}}}:"
            found.append(Group(index, own, (own + "fence:a", own + "fence:b"), own + ROOM_CHANGES))
        return cls(prefix, tuple(found), sharded=sharded)

    @classmethod
    def from_url(
        cls, url: str, prefix: str, groups: int | None = None, sharded: bool | None = None
    ) -> Layout:
        """The layout of a backend given ``url``: ``groups`` and ``sharded`` if not None, else
        the URL's ``groups=N`` and ``sharded=true``; a cluster URL is sharded with
        :data:`CLUSTER_GROUPS` groups by default, any other one plain."""
        cluster = wants_cluster(url)
        if groups is None:
            groups = url_groups(url) or (CLUSTER_GROUPS if cluster else 1)
        if sharded is None:
            found = url_sharded(url)
            sharded = cluster if found is None else found
        return cls.of(prefix, groups, sharded=sharded, cluster=cluster)

    def under(self, prefix: str) -> Layout:
        """The same groups (same tags, so the same slots) under another prefix."""
        groups = len(self.groups)
        return Layout.of(prefix, groups, sharded=self.sharded, cluster=not self.plain)

    @property
    def plain(self) -> bool:
        """True for the single-server layout of one group under the bare prefix."""
        return not self.groups[0].fence

    @property
    def publish(self) -> str:
        """The publishing command: ``SPUBLISH`` when sharded."""
        return "SPUBLISH" if self.sharded else "PUBLISH"

    def script(self, source: str) -> str:
        """``source`` as this layout runs it (:func:`script` when sharded)."""
        return script(source) if self.sharded else source

    def room(self, room: str) -> Group:
        """The group of ``room``'s keys and channel."""
        groups = self.groups
        return groups[0] if len(groups) == 1 else groups[_index(room, len(groups))]

    def user(self, user_id: str) -> Group:
        """The group of a user's keys (``on:``, ``blocks:``) and channels."""
        return self.room(user_id)

    def channels(self, channel: str) -> tuple[tuple[Group, str], ...]:
        """The Redis channels of a broker channel (``room:<name>``, ``user:<id>``,
        ``status:<id>``, ``rooms``), each with its group: the room list's is in every group."""
        if channel == ROOM_LIST_CHANNEL:
            return tuple((group, group.prefix + channel) for group in self.groups)
        kind, _, name = channel.partition(":")
        if kind == "room":
            group = self.room(name)
        elif kind in ("user", "status"):
            group = self.user(name)
        else:  # this process's own channel
            group = self.groups[0]
        return ((group, group.prefix + channel),)

    def target(self, target: Target) -> str:
        """The Redis channel an envelope to ``target`` is published on (one of
        :meth:`channels`' for ``target.channel``)."""
        groups = self.groups
        if len(groups) == 1:  # (once per envelope received: the short way)
            group = groups[0]
        elif isinstance(target, ToRoom | ToRoomList):  # a room-list event in its room's group
            group = groups[_index(target.room, len(groups))]
        else:
            group = groups[_index(target.user_id, len(groups))]
        return group.prefix + target.channel

    def by_group(self, channels: Sequence[tuple[Group, str]]) -> list[list[str]]:
        """``channels`` split as one (S)SUBSCRIBE may take them: one call per group when
        sharded (a call's channels must share a slot), else all in one."""
        if not self.sharded:
            return [[channel for _, channel in channels]] if channels else []
        calls: dict[int, list[str]] = {}
        for group, channel in channels:
            calls.setdefault(group.index, []).append(channel)
        return list(calls.values())


async def in_every(groups: Sequence[Group], call: Callable[[Group], Awaitable[T]]) -> list[T]:
    """``call(group)`` for each group, all at once (the wire pipelines them); their results
    in order. The first failure is raised once all are done."""
    if len(groups) == 1:
        return [await call(groups[0])]
    results = await asyncio.gather(*(call(group) for group in groups), return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results  # type: ignore[return-value]
