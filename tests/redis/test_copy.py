"""chatcore.redis.copy: a chat's Redis store copied into another key layout (4 shard groups on
the shared Redis; the session's Redis Cluster) reads the same and takes new messages."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
import redis.asyncio

from chatcore import ChatServer
from chatcore.backends.store import Store
from chatcore.redis import RedisBroker, RedisStore
from chatcore.redis.copy import copy_store, main
from chatcore.testing import LocalClient
from chatcore.wire.errors import UsageError
from chatcore.wire.limits import Limits
from tests.redis.stack import ALICE, BOB, CAROL
from tests.redis.support import redis_prefix

pytestmark = [pytest.mark.anyio, pytest.mark.network]

#: Enough rooms to land in every one of 4 groups (and in several slots of a cluster).
ROOMS = [f"room-{index}" for index in range(8)]
USERS = [ALICE, BOB, CAROL]
#: The fill sends many frames at once.
LIMITS = Limits(rate=1_000, burst=1_000, reaction_rate=1_000, reaction_burst=1_000)


async def fill(server: ChatServer) -> list[str]:
    """A chat's life: rooms, messages and their changes, read marks, a direct room,
    moderation, a private room, blocks. The rooms it made."""
    alice, bob, carol = [await LocalClient.connect(server, user) for user in USERS]
    for room in ROOMS:
        await alice.call("create_room", room=room, title=f"Title of {room}")
        await alice.call("join", room=room)
        await bob.call("join", room=room)
        first = (await alice.call("send", room=room, text=f"hello {room}"))["id"]
        second = (await bob.call("send", room=room, text="a reply", reply_to=first))["id"]
        await alice.call("edit", room=room, id=first, text=f"hello again {room}")
        await bob.call("react", room=room, id=first, emoji=":thumbsup:")
        await bob.call("delete_message", room=room, id=second)
        await bob.call("read", room=room, id=first)
    await alice.call("send", room=ROOMS[3], text="sent once", client_id="c-1")
    direct = (await alice.call("direct", to=BOB.id))["room"]["name"]
    await alice.call("join", room=direct)
    await alice.call("send", room=direct, text="just us")
    await alice.call("set_role", room=ROOMS[0], user=BOB.id, role="moderator")
    await alice.call("ban", room=ROOMS[1], user=CAROL.id, reason="spam")
    await alice.call("mute", room=ROOMS[2], user=BOB.id, until=4_102_444_800_000)
    await alice.call("create_room", room="hideout", title="Hideout", private=True)
    await alice.call("invite", room="hideout", user=BOB.id)
    await carol.call("block", user=ALICE.id)
    return [*ROOMS, direct, "hideout"]


async def snapshot(store: Store, rooms: list[str]) -> dict[str, Any]:
    """Everything the store answers about ``rooms`` and the users."""
    found: dict[str, Any] = {}
    for user in USERS:
        found[f"rooms {user.id}"] = await store.list_rooms(user.id)
        found[f"reading {user.id}"] = await store.reading(user.id)
        found[f"blocked {user.id}"] = await store.blocked(user.id)
    for room in rooms:
        found[f"room {room}"] = await store.get_room(room)
        found[f"history {room}"] = await store.history(room, limit=100)
        found[f"changes {room}"] = await store.changes(room, since=0, limit=100)
        found[f"marks {room}"] = await store.read_marks(room)
        found[f"moderators {room}"] = await store.moderators(room)
        found[f"audit {room}"] = await store.audit_log(room, limit=100)
        for user in USERS:
            found[f"standing {room} {user.id}"] = await store.standing(room, user.id)
    return found


#: (the source's layout, the target's): one Redis to 4 groups, 4 groups to one Redis, one
#: Redis to the session's cluster (16 groups), and back.
MOVES = [
    ("plain", "groups"),
    ("groups", "plain"),
    pytest.param(("plain", "cluster"), marks=pytest.mark.cluster),
    pytest.param(("cluster", "plain"), marks=pytest.mark.cluster),
]


@pytest.mark.parametrize(
    "move", MOVES, ids=["plain-groups", "groups-plain", "plain-cluster", "cluster-plain"]
)
async def test_a_copied_store_reads_the_same_and_goes_on(move: tuple[str, str]) -> None:
    engines = ["cluster" if layout == "cluster" else "redis" for layout in move]
    async with (
        redis_prefix(engines[0]) as (here, source),
        redis_prefix(engines[1]) as (there, target),
    ):
        url = f"{here}?groups=4" if move[0] == "groups" else here
        target_url = f"{there}?groups=4" if move[1] == "groups" else there
        store = RedisStore(url, prefix=source)
        # A live broker on the source: its presence keys are there, and are not copied.
        broker = RedisBroker(url, prefix=source)
        async with ChatServer(store=store, broker=broker, limits=LIMITS) as server:
            rooms = await fill(server)
            # A dry run checks and counts, and writes nothing.
            planned = await copy_store(
                url, target_url, source_prefix=source, target_prefix=target, dry_run=True
            )
            assert await _kinds(target_url, target) == set()
            copied = await copy_store(url, target_url, source_prefix=source, target_prefix=target)
            assert planned.written == copied.written  # (presence may move meanwhile: live broker)
        assert copied.left > 0
        assert copied.written >= len(rooms)
        copy = RedisStore(target_url, prefix=target)
        try:
            assert copy.layout.groups != store.layout.groups
            before = await snapshot(store, rooms)
            assert before[f"history {ROOMS[0]}"].messages  # (not two empty stores)
            assert await snapshot(copy, rooms) == before
            # No presence came along: only the store's kinds of keys are in the target.
            left = await _kinds(target_url, target)
            assert left <= {"seq", "log", "cid", "chn", "ch", "chcut", "rd", "mods", "bans"} | {
                "mutes",
                "audn",
                "audit",
                "blocks",
                "rooms",
                "titles",
                "groups",
                "dms",
                "marked",
            }
            # The chat goes on there: ids follow on, a re-sent client id is still known.
            async with ChatServer(store=copy) as server:
                alice = await LocalClient.connect(server, ALICE)
                await alice.call("join", room=ROOMS[3])
                last = before[f"history {ROOMS[3]}"].last_id
                again = await alice.call("send", room=ROOMS[3], text="sent once", client_id="c-1")
                assert again["id"] == last  # posted before the move: not posted twice
                sent = await alice.call("send", room=ROOMS[3], text="after the move")
                assert sent["id"] == last + 1
            # Copying again into a target that holds the chat is refused.
            with pytest.raises(UsageError, match="already holds"):
                await copy_store(url, target_url, source_prefix=source, target_prefix=target)
        finally:
            await copy.aclose()
            await store.aclose()


async def test_a_key_of_no_known_kind_stops_the_copy_before_anything_is_written() -> None:
    async with redis_prefix() as (url, source), redis_prefix() as (_, target):
        store = RedisStore(url, prefix=source)
        try:
            async with ChatServer(store=store) as server:
                alice = await LocalClient.connect(server, ALICE)
                await alice.call("create_room", room="lobby")
        finally:
            await store.aclose()
        client = redis.asyncio.Redis.from_url(url)
        try:
            await client.set(f"{source}mystery:1", "?")
            await client.set(f"{source}log", "a room's kind with no room")
        finally:
            await client.aclose()
        with pytest.raises(UsageError, match=r"2 key\(s\) of no kind the store knows"):
            await copy_store(url, f"{url}?groups=2", source_prefix=source, target_prefix=target)
        assert await _kinds(f"{url}?groups=2", target) == set()
        # The command line says so, and exits with 2.
        argv = [url, f"{url}?groups=2", "--source-prefix", source, "--target-prefix", target]
        assert await anyio.to_thread.run_sync(main, argv) == 2


async def test_the_source_itself_is_refused() -> None:
    async with redis_prefix() as (url, prefix):
        with pytest.raises(UsageError, match="the target is the source"):
            await copy_store(url, url, source_prefix=prefix)


async def test_the_command_line_says_when_there_is_nothing_to_copy(
    capsys: pytest.CaptureFixture[str],
) -> None:
    async with redis_prefix() as (url, prefix):
        argv = [url, f"{url}?groups=2", "--source-prefix", prefix, "--dry-run"]
        assert await anyio.to_thread.run_sync(main, argv) == 2
    assert "nothing to copy" in capsys.readouterr().err


async def _kinds(url: str, prefix: str) -> set[str]:
    """The kinds of key (``log`` of ``log:lobby``) under ``prefix`` in ``url``'s layout."""
    layout = RedisStore(url, prefix=prefix).layout
    if "cluster=true" in url:
        client: Any = redis.asyncio.RedisCluster.from_url(url.split("?", 1)[0])
    else:
        client = redis.asyncio.Redis.from_url(url.split("?", 1)[0])
    kinds = set()
    try:
        for group in layout.groups:
            async for name in client.scan_iter(match=f"{group.prefix}*"):
                kinds.add(name.decode()[len(group.prefix) :].split(":", 1)[0])
    finally:
        await client.aclose()
    return kinds - {"fence"}
