"""Copy a Redis store's data into another key layout: from one Redis to a Redis Cluster, to
more or fewer shard groups, or under another prefix.

A chat's keys are laid out in shard groups (:mod:`~chatcore.redis._layout`); a room's keys live
in the group its name hashes to, and the number of groups is part of the layout. So moving a
chat to a cluster, or to another number of groups, is not a copy of its keys as they are: each
room's keys go to the room's group in the new layout, a user's ``blocks:`` to the user's, and
the indexes that each group holds a part of (``rooms``, ``titles``, ``groups``, ``dms:<user>``,
``marked:<user>``) are split again by room. What is copied is what the store keeps (rooms,
history, changes, read marks, moderation, blocks, the client ids of recent sends); presence,
heartbeats and the broker's ordering keys are not: they belong to running processes, which
assert them again when they start.

Stop every process of the chat first (nothing may write the source while it is copied), copy,
then start them on the target. The target must hold none of the chat's keys: a copy adds to
nothing, so a half-done copy is deleted and started again, never merged.

Run: ``python -m chatcore.redis.copy SOURCE_URL TARGET_URL`` (``--source-prefix``,
``--target-prefix``; the layouts come from the URLs: ``?cluster=true``, ``?groups=N``;
``--dry-run`` checks and counts, and writes nothing).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import AsyncIterator, Sequence
from typing import Any

import attrs
import redis.asyncio

from ..wire.errors import UsageError
from ._cluster import wants_cluster, without_cluster_options
from ._layout import Group, Layout

__all__ = ("Copied", "copy_store", "main")

#: ``<kind>:<room>`` keys: the whole key goes to the room's group.
_ROOM_KEYS = frozenset(
    {"seq", "log", "cid", "chn", "ch", "chcut", "rd", "mods", "bans", "mutes", "audn", "audit"}
)
#: ``<kind>:<user>`` keys: the whole key goes to the user's group.
_USER_KEYS = frozenset({"blocks"})
#: Hashes keyed by room (each group holds its rooms' part): each field to its room's group.
_ROOM_HASHES = frozenset({"rooms", "titles"})
#: Sets of rooms, ``groups`` and ``<kind>:<user>`` (each group holds its rooms' part): each
#: member to its room's group, under the same key name.
_ROOM_SETS = frozenset({"groups", "dms", "marked"})
#: What running processes hold (presence, heartbeats, occupancy, the order of published
#: messages) and the never-written fence keys: not copied.
_LEFT = frozenset(
    {
        "procs", "proc", "ph", "pm", "pz", "pk", "ur", "on", "users", "occ",
        "pub", "pubv", "held", "heldat", "heldc", "heldrooms", "fence",
    }
)  # fmt: skip


#: Keys copied at once (each a few round trips; more at once, more connections).
_AT_ONCE = 32


@attrs.frozen
class Copied:
    """What :func:`copy_store` did: keys written in the target, source keys read, and source
    keys left behind (presence and the like, see the module's doc)."""

    written: int
    read: int
    left: int


@attrs.frozen
class _Key:
    """A source key: its full name, its group's prefix and what follows it."""

    name: bytes
    kind: str
    rest: bytes  # after the group's prefix


async def copy_store(
    source: str,
    target: str,
    *,
    source_prefix: str = "chatcore:",
    target_prefix: str | None = None,
    dry_run: bool = False,
) -> Copied:
    """Copy the store kept under ``source_prefix`` at ``source`` into ``target`` (under
    ``target_prefix``, the same by default) in the target URL's layout. A
    :class:`~chatcore.wire.errors.UsageError` if the target already holds keys of the chat,
    if it is the source itself, or if a source key is of no kind the store knows (then
    nothing is written). ``dry_run``: check and count as a copy would, and write nothing."""
    target_prefix = source_prefix if target_prefix is None else target_prefix
    source_layout = Layout.from_url(source, source_prefix)
    target_layout = Layout.from_url(target, target_prefix)
    if _same_server(source, target) and source_layout.groups == target_layout.groups:
        raise UsageError("the target is the source: same server, prefix and layout")
    reader, writer = _client(source), _client(target)
    try:
        for group in target_layout.groups:
            async for name in _keys(writer, target_layout, group):
                kind = _kind(name[len(group.prefix.encode()) :])
                if kind != "fence":
                    raise UsageError(
                        f"the target already holds the chat's keys ({_text(name)!r}...): copy into "
                        "an empty layout (delete its keys first)"
                    )
        found = [
            _Key(name, _kind(rest), rest)
            for group in source_layout.groups
            async for name in _keys(reader, source_layout, group)
            for rest in (name[len(group.prefix.encode()) :],)
        ]
        unknown = [_text(key.name) for key in found if not _known(key)]
        if unknown:
            raise UsageError(
                f"{len(unknown)} key(s) of no kind the store knows, e.g. {unknown[:3]}: is "
                "this a chat's prefix and layout? Nothing was written"
            )
        written = 0
        for start in range(0, len(found), _AT_ONCE):
            batch = found[start : start + _AT_ONCE]
            out = None if dry_run else writer
            done = await asyncio.gather(*(_copy(reader, out, key, target_layout) for key in batch))
            written += sum(done)
        return Copied(written, len(found), sum(key.kind in _LEFT for key in found))
    finally:
        await reader.aclose()
        await writer.aclose()


def _known(key: _Key) -> bool:
    """Whether ``key`` is of a kind the store keeps, or leaves to the processes."""
    kind = key.kind
    if kind in _ROOM_KEYS or kind in _USER_KEYS:
        return b":" in key.rest  # (its room or user follows)
    return kind in _LEFT or kind in _ROOM_HASHES or kind in _ROOM_SETS


def _kind(rest: bytes) -> str:
    """The kind of a key from what follows its group's prefix: ``log`` of ``log:lobby``."""
    return rest.split(b":", 1)[0].decode("utf-8", "surrogatepass")


async def _copy(reader: Any, writer: Any, key: _Key, to: Layout) -> int:
    """Write ``key`` into the target layout ``to`` (with ``writer``; None: only count); the
    keys written."""
    kind = key.kind
    if kind in _LEFT:
        return 0
    if kind in _ROOM_KEYS or kind in _USER_KEYS:
        owner = _text(key.rest.split(b":", 1)[1])
        group = to.user(owner) if kind in _USER_KEYS else to.room(owner)
        if writer is None:
            return 1
        dumped = await reader.dump(key.name)
        if dumped is None:
            return 0  # (gone since it was listed: the source was not stopped)
        ttl = await reader.pttl(key.name)
        await writer.restore(group.prefix.encode() + key.rest, max(ttl, 0), dumped)
        return 1
    parts: dict[Group, list[bytes]] = {}
    if kind in _ROOM_HASHES:
        fields = await reader.hgetall(key.name)
        for room, value in fields.items():
            parts.setdefault(to.room(_text(room)), []).extend((room, value))
        for group, pairs in parts.items() if writer is not None else ():
            await writer.hset(group.prefix.encode() + key.rest, items=pairs)
    else:
        for room in await reader.smembers(key.name):
            parts.setdefault(to.room(_text(room)), []).append(room)
        for group, rooms in parts.items() if writer is not None else ():
            await writer.sadd(group.prefix.encode() + key.rest, *rooms)
    return len(parts)


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogatepass")


async def _keys(client: Any, layout: Layout, group: Group) -> AsyncIterator[bytes]:
    """The keys of ``group`` (every master's, on a cluster). In the plain layout, the keys of
    grouped layouts under the same prefix (``chatcore:{7k}:...``) are not its own."""
    prefix = group.prefix.encode()
    async for name in client.scan_iter(match=_glob(prefix) + b"*", count=1000):
        if layout.plain and name[len(prefix) : len(prefix) + 1] == b"{":
            continue
        yield name


def _glob(prefix: bytes) -> bytes:
    """``prefix`` as a literal in a SCAN pattern."""
    for special in (b"\\", b"*", b"?", b"[", b"]"):
        prefix = prefix.replace(special, b"\\" + special)
    return prefix


def _client(url: str) -> Any:
    plain = without_cluster_options(url)
    if wants_cluster(url):
        return redis.asyncio.RedisCluster.from_url(plain)
    return redis.asyncio.Redis.from_url(plain)


def _same_server(a: str, b: str) -> bool:
    return without_cluster_options(a) == without_cluster_options(b)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m chatcore.redis.copy",
        description="Copy a chat's Redis store into another key layout (see the module's doc: "
        "stop the chat's processes first; the target must be empty).",
    )
    parser.add_argument("source", help="the Redis URL the chat runs on now")
    parser.add_argument("target", help="the Redis URL to copy to (?cluster=true, ?groups=N)")
    parser.add_argument("--source-prefix", default="chatcore:")
    parser.add_argument("--target-prefix", help="default: the source's")
    parser.add_argument(
        "--dry-run", action="store_true", help="check and count as a copy would; write nothing"
    )
    args = parser.parse_args(argv)
    try:
        copied = asyncio.run(
            copy_store(
                args.source,
                args.target,
                source_prefix=args.source_prefix,
                target_prefix=args.target_prefix,
                dry_run=args.dry_run,
            )
        )
    except UsageError as error:
        print(f"not copied: {error}", file=sys.stderr)
        return 2
    if not copied.read:
        print(
            f"nothing to copy: no key under {args.source_prefix!r} in the source's layout "
            "(is it the chat's prefix, and the URL its layout: ?groups=N, ?cluster=true?)",
            file=sys.stderr,
        )
        return 2
    done = "would copy (dry run)" if args.dry_run else "copied"
    written = "would be written" if args.dry_run else "written"
    print(
        f"{done}: {copied.read} source keys read, {copied.written} target keys {written}, "
        f"{copied.left} left (presence and the like)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
