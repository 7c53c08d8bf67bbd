"""The cluster wire on a real local Redis Cluster (3 masters, 3 replicas): routing by slot,
pipelines across nodes, scripts, transactions, MOVED/ASK/TRYAGAIN while a slot migrates,
sharded pub/sub and a master's failover. One cluster for the module; the failover test, which
kills a master, runs last."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest
import redis.asyncio
import redis.exceptions

from chatcore.redis._client import unavailable
from chatcore.redis._cluster import url_groups, without_cluster_options
from chatcore.redis._cluster_wire import ClusterWire, command_slot, key_slot
from chatcore.redis._wire import Subscriber, Wire, _parse, make_wire
from chatcore.wire.errors import Unavailable, UsageError
from tests.redis.cluster_support import LocalCluster, local_cluster
from tests.redis.support import _free_port, need_redis

pytestmark = [pytest.mark.anyio, pytest.mark.cluster]

network = pytest.mark.network


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
async def cluster() -> AsyncIterator[LocalCluster]:
    async with local_cluster() as cluster:
        yield cluster


@pytest.fixture
async def wire(cluster: LocalCluster) -> AsyncIterator[ClusterWire]:
    wire = make_wire(cluster.url, 5.0, name="chatcore-test")
    assert isinstance(wire, ClusterWire)
    try:
        yield wire
    finally:
        wire.close()


def tag_in(ranges: list[tuple[int, int]], avoid: set[int] = frozenset()) -> str:  # type: ignore[assignment]
    """A fresh hash tag whose slot lies in ``ranges`` (and not in ``avoid``)."""
    while True:
        tag = secrets.token_hex(4)
        slot = key_slot(tag)
        if slot not in avoid and any(start <= slot <= end for start, end in ranges):
            return tag


async def tags_by_master(cluster: LocalCluster) -> dict[int, str]:
    return {port: tag_in(ranges) for port, ranges in (await cluster.masters()).items()}


async def on_node(port: int, *args: Any) -> Any:
    client = redis.asyncio.Redis(port=port, decode_responses=True)
    try:
        return await client.execute_command(*args)  # type: ignore[no-untyped-call]
    finally:
        await client.aclose()


async def next_of(subscriber: Subscriber, kind: str) -> dict[str, Any]:
    with anyio.fail_after(5):
        while True:
            message = await subscriber.get_message()
            if message["type"] == kind:
                return message


# no server needed


def test_the_slot_of_a_key_is_redis_cluster_s() -> None:
    assert key_slot("foo") == 12182
    assert key_slot("123456789") == 12739  # CRC16/XMODEM's check value, 0x31C3, mod 16384
    assert key_slot("{user1000}.following") == key_slot("{user1000}.followers")
    assert key_slot("{user1000}.following") == key_slot("user1000")
    assert key_slot("foo{}{bar}") != key_slot("bar")  # an empty tag is no tag
    assert key_slot("foo{{bar}}zap") == key_slot("{bar")  # up to the first "}"


def test_a_command_s_slot_is_its_key_s_or_a_script_s_first_key() -> None:
    assert command_slot(("GET", "foo")) == 12182
    assert command_slot(("SPUBLISH", "foo", "x")) == 12182
    assert command_slot(("EVALSHA", "abc", 2, "foo", "bar", "arg")) == 12182
    assert command_slot(("EVAL", "return 1", 0, "foo")) is None  # "foo" is an ARGV
    for keyless in (("PING",), ("SCRIPT", "FLUSH"), ("TIME",), ("MULTI",)):
        assert command_slot(keyless) is None


def test_redirections_parse_as_redis_py_s_errors() -> None:
    moved, _ = _parse(bytearray(b"-MOVED 3999 127.0.0.1:6381\r\n"), 0)
    assert isinstance(moved, redis.exceptions.MovedError)
    assert (moved.slot_id, moved.host, moved.port) == (3999, "127.0.0.1", 6381)
    ask, _ = _parse(bytearray(b"-ASK 3999 127.0.0.1:6381\r\n"), 0)
    assert type(ask) is redis.exceptions.AskError
    for text, kind in [
        (b"-TRYAGAIN Multiple keys request during rehashing of slot\r\n", "TryAgainError"),
        (b"-CLUSTERDOWN The cluster is down\r\n", "ClusterDownError"),
        (b"-CROSSSLOT Keys in request don't hash to the same slot\r\n", "ClusterCrossSlotError"),
    ]:
        error, _ = _parse(bytearray(text), 0)
        assert type(error) is getattr(redis.exceptions, kind)
    # An outage for the backends (Unavailable), not a bug: they end a retry that failed.
    for error in (moved, ask, _parse(bytearray(b"-TRYAGAIN x\r\n"), 0)[0]):
        with pytest.raises(Unavailable), unavailable():
            raise error


def test_chatcore_s_own_url_options_are_read_and_hidden_from_redis_py() -> None:
    assert url_groups("redis://h:1/0?cluster=true&groups=16") == 16
    assert url_groups("redis://h:1/0?cluster=true") is None
    for bad in ("0", "-2", "x"):
        with pytest.raises(UsageError, match="groups"):
            url_groups(f"redis://h:1/0?groups={bad}")
    assert (
        without_cluster_options("redis://u:p@h:1/0?cluster=true&groups=4&ssl_cert_reqs=none")
        == "redis://u:p@h:1/0?ssl_cert_reqs=none"
    )
    assert without_cluster_options("redis://h:1/0?cluster=1") == "redis://h:1/0"
    assert without_cluster_options("unix:///tmp/r.sock?db=1") == "unix:///tmp/r.sock?db=1"


def test_make_wire_gives_a_cluster_wire_for_a_cluster_url() -> None:
    wire = make_wire("redis://u:p@10.0.0.1:7000/0?cluster=true&groups=4", 1, name="n")
    assert isinstance(wire, ClusterWire)
    assert wire.cluster is True
    assert wire.endpoint.address == ("10.0.0.1", 7000)
    assert wire.endpoint.hello == (("AUTH", "u", "p"), ("CLIENT", "SETNAME", "n"))
    assert make_wire("rediss://h:1?ssl_cert_reqs=none&cluster=1", 1).endpoint.ssl is not None
    plain = make_wire("redis://h:1/2?groups=4", 1)
    assert type(plain) is Wire
    assert plain.cluster is False
    with pytest.raises(UsageError, match="database 0"):
        make_wire("redis://h:1/2?cluster=true", 1)
    with pytest.raises(UsageError, match="socket"):
        make_wire("unix:///tmp/redis.sock?cluster=true", 1)
    with pytest.raises(UsageError, match="sharded"):
        wire.pubsub()


@network
async def test_no_node_to_start_from_is_unavailable_and_a_plain_server_is_refused() -> None:
    port = _free_port()
    wire = make_wire(f"redis://127.0.0.1:{port}/0?cluster=true", 1)
    try:
        with pytest.raises(redis.exceptions.ConnectionError, match="no Redis Cluster node"):
            await wire.call("GET", "k")
        with pytest.raises(Unavailable), unavailable():
            await wire.call("GET", "k")
    finally:
        wire.close()
    # The shared Redis (only asked for its slot map) is no cluster node: a usage error.
    wire = make_wire(need_redis() + "?cluster=true", 1)
    try:
        with pytest.raises(UsageError, match="not a Redis Cluster node"):
            await wire.call("PING")
    finally:
        wire.close()


# on the local cluster


@network
async def test_keys_go_to_the_master_serving_their_slot(
    cluster: LocalCluster, wire: ClusterWire
) -> None:
    tags = await tags_by_master(cluster)
    for port, tag in tags.items():
        assert await wire.call("SET", f"{{{tag}}}:where", port) == "OK"
    assert sorted(wire.masters) == sorted(("127.0.0.1", port) for port in tags)
    for port, tag in tags.items():
        assert await on_node(port, "GET", f"{{{tag}}}:where") == str(port)
    assert await wire.call("PING") == "PONG"


@network
async def test_pipelined_calls_across_nodes_reply_in_the_caller_s_order(
    cluster: LocalCluster, wire: ClusterWire
) -> None:
    a, b, c = (f"{{{tag}}}:n" for tag in (await tags_by_master(cluster)).values())
    replies = await wire.calls(
        ("SET", a, 1),
        ("INCR", b),
        ("INCRBY", a, 10),
        ("PING",),
        ("INCR", b),
        ("INCRBY", c, 5),
        ("GET", a),
        ("MGET", b),
    )
    assert replies == ["OK", 1, 11, "PONG", 2, 5, "11", ["2"]]
    # Concurrent pipelines on the shared connections keep each one's order.
    results = await asyncio.gather(
        *(wire.calls(("INCR", a), ("INCR", b), ("INCR", c)) for _ in range(50))
    )
    assert sorted(result[0] for result in results) == list(range(12, 62))
    with pytest.raises(redis.exceptions.ResponseError, match="WRONGTYPE"):
        await wire.calls(("INCR", b), ("HGET", a, "x"))


@network
async def test_scripts_run_on_the_master_of_their_first_key(
    cluster: LocalCluster, wire: ClusterWire
) -> None:
    # Loaded on first use on each node (NOSCRIPT there, then EVAL); its undeclared key
    # (ARGV[1]) is in the slot of KEYS[1], which Redis allows to a script without a shebang.
    source = "redis.call('INCR', KEYS[1]) return redis.call('INCRBY', ARGV[1], 2)"
    tags = await tags_by_master(cluster)
    for _ in range(2):
        for tag in tags.values():
            await wire.script(source, f"{{{tag}}}:other", keys=(f"{{{tag}}}:fence",))
    for port, tag in tags.items():
        assert await on_node(port, "MGET", f"{{{tag}}}:fence", f"{{{tag}}}:other") == ["2", "4"]
        (loaded,) = await on_node(port, "SCRIPT", "EXISTS", wire._shas[source])
        assert loaded == 1
    assert await wire.script("return 7") == 7  # no key: any master


@network
async def test_a_transaction_runs_on_its_slot_s_master(
    cluster: LocalCluster, wire: ClusterWire
) -> None:
    tag, other = list((await tags_by_master(cluster)).values())[:2]
    assert await wire.transaction(
        ("SET", f"{{{tag}}}:a", "x"), ("APPEND", f"{{{tag}}}:a", "y"), ("GET", f"{{{tag}}}:a")
    ) == ["OK", 2, "xy"]
    with pytest.raises(UsageError, match="one hash slot"):
        await wire.transaction(("GET", f"{{{tag}}}:a"), ("GET", f"{{{other}}}:a"))
    with pytest.raises(redis.exceptions.ResponseError, match="WRONGTYPE"):
        await wire.transaction(("HGET", f"{{{tag}}}:a", "f"))


@network
async def test_a_moved_slot_s_commands_follow_moved_to_its_new_master(
    cluster: LocalCluster, wire: ClusterWire
) -> None:
    tags = await tags_by_master(cluster)
    (source, tag), (target, _) = list(tags.items())[:2]
    slot = key_slot(tag)
    await wire.calls(*(("SET", f"{{{tag}}}:{i}", i) for i in range(25)))
    await cluster.migrate(slot, target)
    assert wire._slots is not None
    assert wire._slots[slot] == ("127.0.0.1", source)  # the wire does not know yet
    # A subscriber asks the old master first: MOVED ends its connection (the broker then
    # subscribes again), and the map learns the slot's new master from it.
    subscriber = wire.pubsub(sharded=True)
    try:
        await subscriber.subscribe(f"{{{tag}}}:room")
        with pytest.raises(redis.exceptions.ConnectionError):
            await next_of(subscriber, "subscribe")
    finally:
        await subscriber.aclose()
    assert wire._slots[slot] == ("127.0.0.1", target)
    await _subscribed(subscriber := wire.pubsub(sharded=True), [f"{{{tag}}}:room"])
    await subscriber.aclose()
    await cluster.migrate(slot, source)  # and back: the wire still thinks the target has it
    assert await wire.calls(*(("GET", f"{{{tag}}}:{i}") for i in range(25))) == [
        str(i) for i in range(25)
    ]
    assert await wire.transaction(("INCR", f"{{{tag}}}:0")) == [1]
    assert wire._slots[slot] == ("127.0.0.1", source)
    assert await on_node(source, "GET", f"{{{tag}}}:0") == "1"
    assert await on_node(source, "CLUSTER", "COUNTKEYSINSLOT", slot) == 25


@network
async def test_a_key_already_migrated_is_reached_with_ask(
    cluster: LocalCluster, wire: ClusterWire
) -> None:
    tags = await tags_by_master(cluster)
    (_, tag), (target, _) = list(tags.items())[:2]
    keys = [f"{{{tag}}}:{i}" for i in range(4)]
    await wire.calls(*(("SET", key, key) for key in keys))
    migration = await cluster.begin_migration(key_slot(tag), target)
    try:
        assert await migration.move_keys(limit=2) == 2
        asked = await _stat(target, "cmdstat_asking")
        # Each key is read where it is: two on the source, two (after ASK) on the target.
        assert await wire.calls(*(("GET", key) for key in keys)) == keys
        assert await _stat(target, "cmdstat_asking") == asked + 2
        assert await wire.call("SET", f"{{{tag}}}:new", "n") == "OK"  # a new key: on the target
        assert await _stat(target, "cmdstat_asking") == asked + 3
        # A transaction on a moved key: ASKING, then MULTI ... EXEC, on the target.
        left = await on_node(migration.source, "CLUSTER", "GETKEYSINSLOT", key_slot(tag), 10)
        moved = next(key for key in keys if key not in left)
        assert await wire.transaction(("GET", moved), ("STRLEN", moved)) == [moved, len(moved)]
        assert await _stat(target, "cmdstat_asking") == asked + 4
    finally:
        await migration.finish()
    assert await wire.call("GET", f"{{{tag}}}:new") == "n"
    assert await on_node(target, "GET", f"{{{tag}}}:new") == "n"


async def _stat(port: int, name: str) -> int:
    """A count from ``INFO commandstats``/``errorstats`` (``calls``, or ``count``)."""
    client = redis.asyncio.Redis(port=port, decode_responses=True)
    try:
        info = await client.info("everything")
    finally:
        await client.aclose()
    found = info.get(name, {})
    return int(found.get("calls", found.get("count", 0)))


# The layout's script call: two fence keys, never written, route the script to its group's
# slot; the group's own keys (ARGV) are touched undeclared.
_BOTH = "return {redis.call('INCR', ARGV[1]), redis.call('INCR', ARGV[2])}"


@network
async def test_a_fenced_script_waits_out_a_migration_and_then_runs_whole(
    cluster: LocalCluster, wire: ClusterWire
) -> None:
    tags = await tags_by_master(cluster)
    (_, tag), (target, _) = list(tags.items())[:2]
    a, b = f"{{{tag}}}:a", f"{{{tag}}}:b"
    fences = (f"{{{tag}}}:fence:a", f"{{{tag}}}:fence:b")
    await wire.calls(("SET", a, 10), ("SET", b, 20))
    migration = await cluster.begin_migration(key_slot(tag), target)
    tried = await _stat(target, "errorstat_TRYAGAIN")
    try:
        assert await migration.move_keys(limit=1) == 1  # one of a, b moved, the other not
        running = asyncio.ensure_future(wire.script(_BOTH, a, b, keys=fences))
        await asyncio.sleep(0.5)
        assert not running.done()  # TRYAGAIN on the importing node, again and again
        assert await _stat(target, "errorstat_TRYAGAIN") > tried + 1
        assert await on_node(migration.source, "CLUSTER", "COUNTKEYSINSLOT", key_slot(tag)) == 1
    finally:
        await migration.finish()
    assert await running == [11, 21]  # run once, on all the keys, on the new master
    assert await on_node(target, "MGET", a, b) == ["11", "21"]


@network
async def test_a_migration_longer_than_the_timeout_makes_the_script_unavailable(
    cluster: LocalCluster,
) -> None:
    tags = await tags_by_master(cluster)
    (_, tag), (target, _) = list(tags.items())[:2]
    wire = make_wire(cluster.url, 0.3)
    try:
        await wire.call("SET", f"{{{tag}}}:a", 1)
        migration = await cluster.begin_migration(key_slot(tag), target)
        try:
            with pytest.raises(Unavailable), unavailable():
                await wire.script(
                    _BOTH, f"{{{tag}}}:a", f"{{{tag}}}:b", keys=(f"{{{tag}}}:f1", f"{{{tag}}}:f2")
                )
        finally:
            await migration.finish()
        assert await wire.call("GET", f"{{{tag}}}:a") == "1"  # it never ran
    finally:
        wire.close()


async def _subscribed(subscriber: Subscriber, channels: list[str]) -> None:
    await subscriber.subscribe(*channels)
    pending = set(channels)
    while pending:
        pending.discard((await next_of(subscriber, "subscribe"))["channel"])


@network
async def test_sharded_pub_sub_spans_every_master_in_one_stream(
    cluster: LocalCluster, wire: ClusterWire
) -> None:
    tags = list((await tags_by_master(cluster)).values())
    channels = [f"{{{tag}}}:room:a" for tag in tags] + [f"{{{tags[0]}}}:room:b"]
    subscriber = wire.pubsub(sharded=True)
    try:
        await _subscribed(subscriber, channels)
        for n, channel in enumerate(channels):
            assert await wire.call("SPUBLISH", channel, f"m{n}") == 1
        got = [await next_of(subscriber, "message") for _ in channels]
        # (Each master's messages come on its own connection: no order between them.)
        assert sorted((m["channel"], m["data"]) for m in got) == sorted(
            (channel, f"m{n}") for n, channel in enumerate(channels)
        )
        await subscriber.unsubscribe(channels[1])
        assert (await next_of(subscriber, "unsubscribe"))["channel"] == channels[1]
        await wire.call("SPUBLISH", channels[1], "gone")
        await wire.call("SPUBLISH", channels[2], "still")
        assert (await next_of(subscriber, "message"))["data"] == "still"
    finally:
        await subscriber.aclose()


async def _resubscribe(wire: ClusterWire, channels: list[str]) -> Subscriber:
    """What the broker does after a lost link: a new subscriber, again until it works."""
    with anyio.fail_after(20):
        while True:
            subscriber = wire.pubsub(sharded=True)
            try:
                await _subscribed(subscriber, channels)
                return subscriber
            except redis.exceptions.ConnectionError:
                await subscriber.aclose()
                await anyio.sleep(0.1)


@network
async def test_the_subscriber_reports_a_lost_link_when_its_slot_moves_away(
    cluster: LocalCluster, wire: ClusterWire
) -> None:
    tags = await tags_by_master(cluster)
    (source, tag), (target, other) = list(tags.items())[:2]
    moving, staying = f"{{{tag}}}:room", f"{{{other}}}:room"
    subscriber = wire.pubsub(sharded=True)
    try:
        await _subscribed(subscriber, [moving, staying])
        await wire.call("SPUBLISH", moving, "before")
        assert (await next_of(subscriber, "message"))["data"] == "before"
        await cluster.migrate(key_slot(tag), target)
        with anyio.fail_after(5), pytest.raises(redis.exceptions.ConnectionError, match="moved"):
            await subscriber.get_message()
    finally:
        await subscriber.aclose()
    subscriber = await _resubscribe(wire, [moving, staying])
    try:
        await wire.call("SPUBLISH", moving, "after")
        message = await next_of(subscriber, "message")
        assert (message["channel"], message["data"]) == (moving, "after")
        assert await cluster.owner(key_slot(tag)) == target != source
    finally:
        await subscriber.aclose()


# Last: it kills a master of the module's cluster.
@network
async def test_a_master_s_failover_fails_its_calls_until_the_replica_took_over(
    cluster: LocalCluster, wire: ClusterWire
) -> None:
    tags = await tags_by_master(cluster)
    (victim, tag), (_, other) = list(tags.items())[:2]
    key, channels = f"{{{tag}}}:kept", [f"{{{tag}}}:room", f"{{{other}}}:room"]
    # Written and on the replica before the kill (WAIT goes with the keyed command).
    assert await wire.calls(("SET", key, "v"), ("WAIT", 1, 2000)) == ["OK", 1]
    subscriber = await _resubscribe(wire, channels)
    try:
        await cluster.kill(victim)
        with anyio.fail_after(5), pytest.raises(redis.exceptions.ConnectionError):
            await subscriber.get_message()
    finally:
        await subscriber.aclose()
    # Until a replica is promoted and the map shows it, the victim's slots are unreachable.
    with pytest.raises(redis.exceptions.ConnectionError):
        await wire.call("GET", key)
    with pytest.raises(Unavailable), unavailable():
        await wire.call("GET", key)
    assert await wire.call("SET", f"{{{other}}}:k", 1) == "OK"  # the other masters serve
    # No call from here on until the map shows the promoted replica: the wire's own watch,
    # started by the failed calls, reads it again in the background.
    await cluster.wait_failover(victim)
    with anyio.fail_after(5):
        while True:
            if ("127.0.0.1", victim) not in wire.masters:
                break
            await anyio.sleep(0.05)  # the watch's reads: no event to wait on
    assert len(wire.masters) == 3
    assert await wire.call("GET", key) == "v"  # on the promoted replica, at once
    subscriber = await _resubscribe(wire, channels)
    try:
        await wire.call("SPUBLISH", channels[0], "promoted")
        assert (await next_of(subscriber, "message"))["data"] == "promoted"
    finally:
        await subscriber.aclose()
