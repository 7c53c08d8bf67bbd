"""What the PostgreSQL broker adds to the broker contract (``tests/conformance`` holds the rest):
id order across processes, payloads over NOTIFY's limit, a lost listener's gap filled, its own
tables."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import anyio
import attrs
import psycopg
import pytest

from chatcore.backends.directory import MemoryDirectory
from chatcore.backends.envelope import Envelope, ToRoom, ToUser
from chatcore.backends.store import Store
from chatcore.postgres import PostgresBroker
from chatcore.postgres._schema import INLINE_MAX
from chatcore.runtime.server import ChatServer
from chatcore.testing import LocalClient
from chatcore.wire.errors import UsageError
from chatcore.wire.limits import Limits
from chatcore.wire.values import Message
from tests.conformance.backends import Process
from tests.postgres.support import postgres_prefix, terminate_listener
from tests.redis.stack import ALICE, BOB, CAROL, expect
from tests.redis.test_changes import change, labels
from tests.redis.test_order import SlowStore, message

pytestmark = [pytest.mark.anyio, pytest.mark.network]


@asynccontextmanager
async def one_broker(order_wait: float = 0.5) -> AsyncIterator[tuple[PostgresBroker, Process]]:
    async with postgres_prefix() as (url, prefix):
        broker = PostgresBroker(url, prefix=prefix, expiry=2, heartbeat=0.1, order_wait=order_wait)
        process = Process(broker)
        async with anyio.create_task_group() as group:
            await group.start(process.run)
            yield broker, process
            group.cancel_scope.cancel()


@asynccontextmanager
async def two_servers(
    store: Store, url: str | None = None
) -> AsyncIterator[tuple[ChatServer, ChatServer]]:
    """Two servers on one PostgreSQL broker prefix (on ``url``, else this run's database),
    sharing ``store`` as processes share a database."""
    async with postgres_prefix() as (run_url, prefix), AsyncExitStack() as stack:
        url = url or run_url
        directory = MemoryDirectory([ALICE, BOB, CAROL])
        limits = Limits(presence_grace=0)
        servers = []
        for _ in range(2):
            broker = PostgresBroker(url, prefix=prefix, expiry=0.4, heartbeat=0.1, retry=0.2)
            server = ChatServer(store=store, broker=broker, directory=directory, limits=limits)
            servers.append(await stack.enter_async_context(server))
        yield servers[0], servers[1]


async def test_a_message_waits_for_its_predecessor_or_the_order_wait() -> None:
    async with one_broker(order_wait=0.3) as (broker, process):
        await broker.subscribe("room:lobby")
        await broker.publish(message("lobby", 1))
        await broker.publish(message("lobby", 3))  # 2 is on its way from elsewhere
        await broker.publish(message("lobby", 2))
        received = await process.wait_for(3)
        assert [json.loads(e.frame or "")["id"] for e in received] == [1, 2, 3]
        # 5 waits for 4, which never comes: it goes out after the order wait (a heartbeat).
        await broker.publish(message("lobby", 5))
        started = anyio.current_time()
        received = await process.wait_for(4, within=3)
        assert json.loads(received[3].frame or "")["id"] == 5
        assert 0.25 <= anyio.current_time() - started <= 1.5
        await broker.publish(message("lobby", 4))  # late: at once
        received = await process.wait_for(5)
        assert json.loads(received[4].frame or "")["id"] == 4
        await broker.publish(Envelope(ToRoom("lobby"), '{"type":"typing"}', ephemeral=True))
        assert (await process.wait_for(6))[5].frame == '{"type":"typing"}'


async def test_a_change_waits_for_its_message_and_an_older_state_is_dropped() -> None:
    async with one_broker(order_wait=5) as (broker, process):
        await broker.subscribe("room:lobby")
        await broker.publish(message("lobby", 1))
        await broker.publish(change("lobby", 1, 1))  # its message is out: at once
        await broker.publish(change("lobby", 3, 2))  # waits for 3
        await broker.publish(change("lobby", 2, 3))  # waits for 2
        await broker.publish(message("lobby", 3))  # waits for 2
        await broker.publish(message("lobby", 2))  # releases the rest, each in its place
        assert labels(await process.wait_for(6)) == ["m1", "c1", "m2", "c3", "m3", "c2"]
        newer = Envelope(ToRoom("lobby"), '{"type":"message_changed","n":7}', after=3)
        older = Envelope(ToRoom("lobby"), '{"type":"message_changed","n":6}', after=3)
        await broker.publish(attrs.evolve(newer, version=(1, 2)))
        await broker.publish(attrs.evolve(older, version=(1, 1)))  # dropped
        await broker.publish(message("lobby", 4))
        assert labels(await process.wait_for(8))[6:] == ["c7", "m4"]


@pytest.mark.parametrize("size", [INLINE_MAX - 200, INLINE_MAX + 1, 8_000, 300_000])
async def test_payloads_over_the_notify_limit_arrive_in_order(size: int) -> None:
    async with one_broker() as (broker, process):
        await broker.subscribe("user:1")
        big = json.dumps({"type": "private", "text": "é" * (size // 2)}, ensure_ascii=False)
        small = [Envelope(ToUser("1"), json.dumps({"n": n})) for n in range(3)]
        await broker.publish(small[0])
        await broker.publish(Envelope(ToUser("1"), big))
        await broker.publish(small[1])
        received = await process.wait_for(3)
        assert received == [small[0], Envelope(ToUser("1"), big), small[1]]


async def in_lobby(a: ChatServer, b: ChatServer) -> tuple[LocalClient, LocalClient]:
    """Alice on ``a``, in the lobby she made; Bob on ``b``."""
    alice = await LocalClient.connect(a, ALICE)
    bob = await LocalClient.connect(b, BOB)
    await alice.call("create_room", room="lobby")
    await alice.call("join", room="lobby")
    return alice, bob


async def test_two_processes_writing_at_once_deliver_in_id_order() -> None:
    async with two_servers(SlowStore()) as (a, b):
        alice, bob = await in_lobby(a, b)
        await bob.call("join", room="lobby")
        await expect(alice, "presence", event="join")

        async def chat(client: LocalClient) -> None:
            for n in range(20):
                await client.call("send", room="lobby", text=f"{client.user.name} {n}")

        async with anyio.create_task_group() as group:
            group.start_soon(chat, alice)
            group.start_soon(chat, bob)
        for client in (alice, bob):
            ids = [(await expect(client, "message"))["id"] for _ in range(40)]
            assert ids == list(range(1, 41))
        # A private message reaches the user on the other process; nobody else is online.
        reply = await alice.call("send_private", to=BOB.id, text="psst")
        assert reply["type"] == "ok"
        assert (await expect(bob, "private"))["text"] == "psst"
        refused = await alice.request("send_private", to=CAROL.id, text="?")
        assert refused["code"] == "recipient_unavailable"


async def test_messages_missed_by_a_lost_listener_are_filled_in() -> None:
    async with two_servers(SlowStore()) as (a, b):
        alice, bob = await in_lobby(a, b)
        await bob.call("join", room="lobby")
        await expect(alice, "presence", event="join")
        first = (await alice.call("send", room="lobby", text="seen"))["id"]
        assert (await expect(bob, "message"))["id"] == first
        broker = b.broker
        assert isinstance(broker, PostgresBroker)
        # The database ends b's listening session (as a restart or a network cut would): b
        # tells its server (LinkLost), listens again, and its server fills the gap.
        await terminate_listener(broker)
        sent = [(await alice.call("send", room="lobby", text=f"maybe missed {n}"))["id"]
                for n in range(3)]  # fmt: skip
        assert [(await expect(bob, "message"))["id"] for _ in sent] == sent
        last = (await alice.call("send", room="lobby", text="live"))["id"]
        assert (await expect(bob, "message"))["id"] == last
        assert bob.close_code is None
        assert b._gaps.filled == 1
        bob.pump()
        assert not [f for f in bob.inbox if f["type"] == "message"]  # nothing twice


async def test_tables_are_made_once_whoever_starts_first() -> None:
    async with postgres_prefix() as (url, prefix):
        brokers = [PostgresBroker(url, prefix=prefix) for _ in range(4)]
        async with anyio.create_task_group() as group:
            for broker in brokers:
                group.start_soon(broker.create_tables)
        async with await psycopg.AsyncConnection.connect(url) as connection:
            cursor = await connection.execute(
                "SELECT count(*) FROM pg_tables WHERE tablename LIKE %s", [prefix + "%"]
            )
            assert (await cursor.fetchone()) == (12,)


def test_a_prefix_must_be_a_plain_name() -> None:
    with pytest.raises(UsageError):
        PostgresBroker("postgres://x/y", prefix='chat"; drop')


async def test_a_message_envelope_keeps_its_id() -> None:
    async with one_broker() as (broker, process):
        await broker.subscribe("room:lobby")
        sent = Envelope.message(Message(id=1, room="lobby", ts=1, sender=ALICE, text="hi"))
        await broker.publish(sent)
        assert await process.wait_for(1) == [sent]


async def test_foreign_notifications_on_a_channel_are_dropped() -> None:
    async with one_broker() as (broker, process):
        await broker.subscribe("user:1")
        name = broker.pg_channel("user:1")
        async with await psycopg.AsyncConnection.connect(broker.url, autocommit=True) as other:
            for junk in ("not an envelope", "@x", "@999999", '["u","2",null,0]\n{}'):
                await other.execute("SELECT pg_notify(%s, %s)", [name, junk])
        sent = Envelope(ToUser("1"), '{"type":"private"}')
        await broker.publish(sent)
        # The junk was notified first, so it was read (and dropped) before this arrived.
        assert await process.wait_for(1) == [sent]


async def test_a_beat_removing_several_processes_cannot_deadlock_with_a_join() -> None:
    # Two dead processes: A held u1 in r1, B held u2 in r2. A join of u2 into r1 locks the user
    # u2, then the room r1. The beat must take all the users before any room: it waits for u2
    # holding no room, so the join gets r1 (it would wait for the beat there, a deadlock,
    # if the beat locked A's room before B's user).
    async with postgres_prefix() as (url, p):
        await PostgresBroker(url, prefix=p).create_tables()
        async with (
            await psycopg.AsyncConnection.connect(url, autocommit=True) as setup,
            await psycopg.AsyncConnection.connect(url) as joining,
            await psycopg.AsyncConnection.connect(url, autocommit=True) as beating,
        ):
            for pid, room, user in (("a", "r1", "u1"), ("b", "r2", "u2")):
                await setup.execute(
                    f"INSERT INTO {p}procs (pid, deadline) VALUES (%s, now() - interval '1 s')",
                    [pid],
                )
                await setup.execute(f"SELECT {p}put_user(%s, %s, NULL, %s)", [user, user, user])
                await setup.execute(f"INSERT INTO {p}rooms (room) VALUES (%s)", [room])
                await setup.execute(
                    f"INSERT INTO {p}presence (room, user_id, pid) VALUES (%s, %s, %s)",
                    [room, user, pid],
                )
            await joining.execute("SET lock_timeout = '5s'")
            await joining.execute(f"SELECT 1 FROM {p}users WHERE id = 'u2' FOR UPDATE")
            result: list[object] = []

            async def beat() -> None:
                cursor = await beating.execute(f"SELECT {p}beat('live', 1000, 1000)")
                result.append((await cursor.fetchone() or [None])[0])

            async with anyio.create_task_group() as group:
                group.start_soon(beat)
                with anyio.fail_after(5):  # until the beat waits for a lock
                    while True:
                        cursor = await setup.execute(
                            "SELECT count(*) FROM pg_stat_activity WHERE pid = %s"
                            " AND wait_event_type = 'Lock'",
                            [beating.info.backend_pid],
                        )
                        if (await cursor.fetchone()) == (1,):
                            break
                        await anyio.sleep(0.02)  # the server's lock table: no event to await
                # The join's second lock: granted, no deadlock for PostgreSQL to break.
                await joining.execute(f"SELECT 1 FROM {p}rooms WHERE room = 'r1' FOR UPDATE")
                await joining.commit()
            left = sorted(tuple(entry[:2]) for entry in result[0]["left"])  # type: ignore[index]
            assert left == [("r1", "u1"), ("r2", "u2")]
