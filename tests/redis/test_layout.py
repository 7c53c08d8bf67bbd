"""The shard-group key layout of the Redis backends (``chatcore.redis._layout``): where keys
and channels go, and that every command a chat sends would be legal on a Redis Cluster."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import anyio
import attrs
import pytest
import redis.asyncio

from chatcore.backends.envelope import (
    Envelope,
    LinkLost,
    LinkRestored,
    ToRoom,
    ToRoomList,
    ToUser,
    ToWatchers,
)
from chatcore.redis import RedisBroker, RedisStore
from chatcore.redis._layout import Layout, tags
from chatcore.redis._wire import Wire
from chatcore.wire.errors import UsageError
from chatcore.wire.moderation import AuditEntry, Sanction
from chatcore.wire.values import Room, RoomKind, User
from tests.conformance.backends import Process
from tests.redis.support import redis_prefix

pytestmark = [pytest.mark.anyio]


def crc16(data: bytes) -> int:
    """CRC16-XMODEM, Redis Cluster's key hash (written out here, not taken from redis-py)."""
    crc = 0
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def slot(key: str) -> int:
    """The hash slot of ``key`` as a cluster computes it (the hash tag's, if it has one)."""
    data = key.encode()
    start = data.find(b"{")
    if start >= 0:
        end = data.find(b"}", start + 1)
        if end > start + 1:
            data = data[start + 1 : end]
    return crc16(data) % 16384


@pytest.mark.parametrize("groups", [1, 2, 3, 4, 16, 100, 16384])
def test_each_group_s_tag_hashes_into_its_share_of_the_slots(groups: int) -> None:
    found = tags(groups)
    assert len(found) == groups
    for index, tag in enumerate(found):
        assert index * 16384 // groups <= slot(f"{{{tag}}}") < (index + 1) * 16384 // groups
    assert tags(groups) == found  # the same on every process


def test_one_group_on_one_redis_is_the_plain_layout() -> None:
    layout = Layout.of("chatcore:")
    (group,) = layout.groups
    assert (group.prefix, group.fence, group.changes) == ("chatcore:", (), "chatcore:room-changes")
    assert layout.plain
    assert not layout.sharded
    assert layout.publish == "PUBLISH"
    assert layout.room("lobby") is group
    assert layout.user("1") is group
    assert layout.channels("room:lobby") == ((group, "chatcore:room:lobby"),)
    assert layout.channels("rooms") == ((group, "chatcore:rooms"),)
    assert layout.target(ToRoom("lobby")) == "chatcore:room:lobby"
    assert layout.target(ToUser("1")) == "chatcore:user:1"
    assert layout.target(ToWatchers("1")) == "chatcore:status:1"
    assert layout.target(ToRoomList("lobby")) == "chatcore:rooms"
    assert layout.script("redis.call('PUBLISH', c, m)") == "redis.call('PUBLISH', c, m)"


def test_a_group_s_keys_fence_and_channels_share_its_slot() -> None:
    layout = Layout.of("chat:", 4, sharded=True)
    assert layout.publish == "SPUBLISH"
    assert layout.script("redis.call('PUBLISH', c, m)") == "redis.call('SPUBLISH', c, m)"
    for group in layout.groups:
        assert re.fullmatch(r"chat:\{[0-9a-z]+\}:", group.prefix)
        assert group.fence == (group.prefix + "fence:a", group.prefix + "fence:b")
        slots = {slot(key) for key in (*group.fence, group.changes, group.prefix + "log:x")}
        assert len(slots) == 1
    room = layout.room("lobby")
    assert layout.target(ToRoom("lobby")) == room.prefix + "room:lobby"
    assert layout.target(ToRoomList("lobby")) == room.prefix + "rooms"
    user = layout.user("42")
    assert layout.target(ToUser("42")) == user.prefix + "user:42"
    assert layout.target(ToWatchers("42")) == user.prefix + "status:42"
    # The room list's channel is in every group, and subscribed to one call per group.
    everywhere = layout.channels("rooms")
    assert [group for group, _ in everywhere] == list(layout.groups)
    assert sorted(map(len, layout.by_group(everywhere))) == [1, 1, 1, 1]
    # The same groups under another prefix land on the same slots.
    other = layout.under("other:")
    assert [slot(g.prefix) for g in other.groups] == [slot(g.prefix) for g in layout.groups]


@pytest.mark.parametrize("groups", [1, 4, 16])
def test_an_envelope_goes_out_on_a_channel_its_recipients_subscribe_to(groups: int) -> None:
    layout = Layout.of("chat:", groups, sharded=groups > 1)
    for n in range(50):
        for target in (ToRoom(f"r{n}"), ToRoomList(f"r{n}"), ToUser(str(n)), ToWatchers(str(n))):
            assert layout.target(target) in {key for _, key in layout.channels(target.channel)}
    assert layout.target(ToRoomList("r1")) == layout.room("r1").prefix + "rooms"


def test_one_group_on_a_cluster_is_tagged() -> None:
    (group,) = Layout.of("chat:", 1, cluster=True).groups
    assert group.fence
    assert slot(group.fence[0]) == slot(group.fence[1])


def test_rooms_and_users_spread_over_the_groups() -> None:
    layout = Layout.of("chat:", 16, sharded=True)
    counts = Counter(layout.room(f"room-{n}").index for n in range(4000))
    assert len(counts) == 16
    assert all(180 <= count <= 320 for count in counts.values())  # 250 each, evenly
    assert len({layout.user(str(n)).index for n in range(200)}) == 16


@pytest.mark.parametrize(
    ("url", "groups", "sharded", "tagged"),
    [
        ("redis://h:1/0", 1, False, False),
        ("redis://h:1/0?groups=4", 4, False, True),
        ("redis://h:1/0?groups=4&sharded=true", 4, True, True),
        ("redis://h:1/0?cluster=true", 16, True, True),
        ("redis://h:1/0?cluster=true&groups=64", 64, True, True),
        ("redis://h:1/0?cluster=true&sharded=false", 16, False, True),
        ("redis://h:1/0?cluster=true&groups=1", 1, True, True),
    ],
)
def test_the_url_chooses_the_layout(url: str, groups: int, sharded: bool, tagged: bool) -> None:
    layout = Layout.from_url(url, "p:")
    assert (len(layout.groups), layout.sharded, not layout.plain) == (groups, sharded, tagged)


def test_arguments_override_the_url_and_nonsense_is_refused() -> None:
    layout = Layout.from_url("redis://h:1/0?groups=4", "p:", groups=2, sharded=True)
    assert (len(layout.groups), layout.sharded) == (2, True)
    for url in ("redis://h:1/0?groups=many", "redis://h:1/0?groups=0", "redis://h:1/0?sharded=x"):
        with pytest.raises(UsageError):
            Layout.from_url(url, "p:")
    with pytest.raises(UsageError):
        Layout.of("p:", 16385)


def test_the_store_takes_its_broker_s_layout() -> None:
    broker = RedisBroker("redis://127.0.0.1:6379/0?groups=4", prefix="p:")
    assert len(broker.layout.groups) == 4
    assert not broker.layout.sharded
    assert RedisStore(prefix="p:", broker=broker).layout is broker.layout
    assert RedisStore(prefix="p:", broker=broker, groups=4).layout is broker.layout
    other = RedisStore(prefix="q:", broker=broker).layout
    assert [g.prefix for g in other.groups] == [
        g.prefix.replace("p:", "q:", 1) for g in broker.layout.groups
    ]
    with pytest.raises(UsageError, match="broker's layout"):
        RedisStore(prefix="p:", broker=broker, groups=2)
    with pytest.raises(UsageError, match="broker's layout"):
        RedisStore(prefix="p:", broker=broker, sharded=True)


# What a chat sends to Redis, checked as a cluster would check it.


def _keys(command: Sequence[str | int]) -> list[str]:
    """The keys (and pub/sub channels) of the commands the backends send outside scripts."""
    name = str(command[0]).upper()
    if name in ("MULTI", "EXEC"):
        return []
    if name == "DEL":
        return [str(key) for key in command[1:]]
    return [str(command[1])]


class _Checked(Wire):
    """The broker's wire, checking each command as Redis Cluster would route and refuse it:
    a script's KEYS are its group's fence keys, and every key or channel a command names
    (a script's too) is in one slot: that of a group's hash tag."""

    def __init__(self, wire: Wire, layout: Layout) -> None:
        super().__init__(wire.endpoint)
        self.prefixes = {group.prefix for group in layout.groups}
        self.seen: Counter[str] = Counter()

    def _one_slot(self, names: list[str]) -> None:
        assert names
        for name in names:
            assert any(name.startswith(prefix) for prefix in self.prefixes), name
        assert len({slot(name) for name in names}) == 1, names

    async def calls(self, *commands: tuple[str | int, ...]) -> list[Any]:
        if commands and commands[0][0] == "MULTI":
            self._one_slot([key for command in commands for key in _keys(command)])
        elif not (commands and commands[0][0] in ("EVALSHA", "EVAL")):
            for command in commands:
                self._one_slot(_keys(command))
        for command in commands:
            self.seen[str(command[0])] += 1
        return await super().calls(*commands)

    async def script(self, source: str, *args: str | int, keys: Sequence[str] = ()) -> Any:
        prefix = str(args[0])
        assert tuple(keys) == (prefix + "fence:a", prefix + "fence:b")
        # Channels and keys passed as arguments (a room's channel, room changes) too.
        named = [arg for arg in args if isinstance(arg, str) and "{" in arg and "}:" in arg]
        self._one_slot([*keys, *named])
        assert "redis.call('PUBLISH'" not in source
        self.seen["script"] += 1
        return await super().script(source, *args, keys=keys)


@asynccontextmanager
async def _checked_chat(url: str, prefix: str) -> AsyncIterator[tuple[RedisBroker, RedisStore]]:
    broker = RedisBroker(url, prefix=prefix, groups=4, sharded=True, expiry=0.4, heartbeat=0.1)
    checked = _Checked(broker.wire, broker.layout)
    broker._wire = checked
    store = RedisStore(prefix=prefix, broker=broker)
    assert store._wire is checked
    yield broker, store


@pytest.mark.network
async def test_every_command_of_a_chat_stays_in_one_slot() -> None:
    alice, bob = User(id="alice", name="Alice"), User(id="bob", name="Bob")
    async with redis_prefix() as (url, prefix), _checked_chat(url, prefix) as (broker, store):
        process = Process(broker)
        async with anyio.create_task_group() as tasks:
            await tasks.start(process.run)
            for name in ("lobby", "dev", "ops", "random"):
                await broker.subscribe(f"room:{name}")
                await store.create_room(
                    Room(name=name, title=name, owner="alice", kind=RoomKind.GROUP)
                )
                await broker.enter(name, alice)
                await broker.enter(name, bob)
                appended = await store.append(name, alice, "hi", 1, client_id="c1")
                await store.change(
                    name, "edited", attrs.evolve(appended.message, text="hi!", version=1)
                )
                await store.mark_read(name, "bob", None)
                await store.set_moderator(name, "bob", True)
                await store.sanction(name, "mute", "bob", Sanction(by="alice", at=1))
                entry = AuditEntry(id=0, room=name, action="mute", user="bob", by="alice", ts=1)
                await store.audit(entry)
            direct = Room(name="dm", title="dm", owner="alice", kind=RoomKind.DIRECT,
                          users=("alice", "bob"))  # fmt: skip
            await store.create_room(direct)
            await broker.subscribe("rooms")
            await broker.subscribe("user:bob")
            await broker.connect(bob)
            await broker.come_online(alice)
            assert await broker.online(["alice", "bob", "carol"]) == ["alice", "bob"]
            assert await broker.counts(["lobby", "dev", "none"]) == {
                "lobby": 2,
                "dev": 2,
                "none": 0,
            }
            assert {room.name for room in await store.list_rooms("bob")} == {
                "lobby", "dev", "ops", "random", "dm"
            }  # fmt: skip
            assert set(await store.reading("bob")) == {"lobby", "dev", "ops", "random", "dm"}
            assert sorted(await broker.update_user(User(id="bob", name="Robert"))) == [
                "dev", "lobby", "ops", "random"
            ]  # fmt: skip
            page = await broker.members_page("lobby", None, 10)
            assert [user.name for user in page.members] == ["Alice", "Robert"]
            await store.block("bob", "alice", True)
            assert await store.blocked("bob") == ["alice"]
            await store.update_access("ops", private=True, invite=("bob",))
            await store.update_room("dev", "Dev")
            await store.delete_room("random")
            await broker.clear("lobby")
            await anyio.sleep(0.3)  # a few heartbeats (BEAT in every group)
            tasks.cancel_scope.cancel()
        assert isinstance(broker._wire, _Checked)
        seen = broker._wire.seen
        assert seen["script"] > 40
        assert seen["MULTI"] >= 3
        assert seen["SCARD"] >= 3
        # The keys: each room's in one group, and the groups all used.
        client = redis.asyncio.Redis.from_url(url, decode_responses=True)
        try:
            keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
        finally:
            await client.aclose()
        rooms: dict[str, set[int]] = {}
        for key in keys:
            assert re.match(re.escape(prefix) + r"\{[0-9a-z]+\}:", key), key
            name = key.rsplit(":", 1)[-1]
            rooms.setdefault(name, set()).add(slot(key))
        assert all(len(rooms[room]) == 1 for room in ("lobby", "dev", "ops"))
        assert len({slot(key) for key in keys if key.endswith(":procs")}) == 4


@pytest.mark.network
async def test_the_plain_layout_keeps_the_key_names_of_one_redis() -> None:
    alice = User(id="alice", name="Alice")
    async with redis_prefix() as (url, prefix):
        broker = RedisBroker(url, prefix=prefix)
        store = RedisStore(prefix=prefix, broker=broker)
        process = Process(broker)
        async with anyio.create_task_group() as tasks:
            await tasks.start(process.run)
            await store.create_room(Room(name="lobby", title="L", owner="alice"))
            await broker.join("lobby", alice)
            await broker.connect(alice)
            await store.append("lobby", alice, "hi", 1)
            tasks.cancel_scope.cancel()
        client = redis.asyncio.Redis.from_url(url, decode_responses=True)
        try:
            keys = {key.removeprefix(prefix) async for key in client.scan_iter(match=f"{prefix}*")}
        finally:
            await client.aclose()
        pid = broker.process
        assert keys == {
            "rooms", "titles", "groups", "seq:lobby", "log:lobby", "procs", f"proc:{pid}",
            "ph:lobby", "pm:lobby", "ur:alice", "users", "on:alice",
        }  # fmt: skip


@pytest.mark.network
async def test_a_sharded_subscription_redis_ends_is_made_again() -> None:
    async with redis_prefix() as (url, prefix):
        broker = RedisBroker(url, prefix=prefix, groups=4, sharded=True, retry=0.2)
        process = Process(broker)
        async with anyio.create_task_group() as tasks:
            await tasks.start(process.run)
            # The broker's own unsubscriptions are not taken for Redis's, however they interleave.
            for _ in range(5):
                await broker.subscribe("room:lobby")
                await broker.unsubscribe("room:lobby")
            await broker.subscribe("room:lobby")
            await broker.publish(Envelope(ToRoom("lobby"), '{"type":"x"}'))
            assert [e.effect for e in await process.wait_for(1)] == [None]
            # Redis ends a subscription itself when its slot moves to another node (it pushes
            # SUNSUBSCRIBE, simulated here): the link counts as lost, and every channel comes back.
            (key,) = (channel for _, channel in broker.layout.channels("room:lobby"))
            subscriber = broker._pubsub
            assert subscriber is not None
            assert subscriber._protocol is not None
            subscriber._protocol.unasked(["sunsubscribe", key, 0])
            received = await process.wait_for(3)
            assert [type(e.effect) for e in received[1:]] == [LinkLost, LinkRestored]
            await broker.publish(Envelope(ToRoom("lobby"), '{"type":"y"}'))
            assert (await process.wait_for(4))[3].frame == '{"type":"y"}'
            tasks.cancel_scope.cancel()


@pytest.mark.network
async def test_the_application_s_client_ignores_the_layout_options() -> None:
    async with redis_prefix() as (url, prefix):
        broker = RedisBroker(f"{url}?groups=4&sharded=true", prefix=prefix)
        assert (len(broker.layout.groups), broker.layout.sharded) == (4, True)
        try:
            assert await broker.client.ping()
        finally:
            await broker.client.aclose()
