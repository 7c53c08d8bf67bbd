"""The emitter on the PostgreSQL broker: a process with no server posts into a running one."""

from __future__ import annotations

import psycopg
import pytest

from chatcore.backends.directory import MemoryDirectory
from chatcore.emitter import Emitter
from chatcore.postgres import PostgresBroker
from chatcore.runtime.server import ChatServer
from chatcore.testing import LocalClient
from chatcore.wire.errors import CloseCode, UsageError
from chatcore.wire.limits import Limits
from chatcore.wire.values import User
from tests.postgres.support import postgres_prefix
from tests.redis.stack import ALICE, BOB, expect, expect_closed
from tests.redis.test_order import SlowStore

pytestmark = [pytest.mark.anyio, pytest.mark.network]

CRON = User(id="cron", name="Cron")


async def test_an_emitter_posts_in_order_and_registers_no_process() -> None:
    store = SlowStore()  # one store object for both stands for the database they share
    async with postgres_prefix() as (url, prefix):
        broker = PostgresBroker(url, prefix=prefix)
        limits = Limits(presence_grace=0)
        directory = MemoryDirectory([ALICE, BOB])
        server = ChatServer(store=store, broker=broker, directory=directory, limits=limits)
        async with server:
            alice = await LocalClient.connect(server, ALICE)
            bob = await LocalClient.connect(server, BOB)
            await alice.call("create_room", room="lobby")
            await alice.call("join", room="lobby")
            first = (await alice.call("send", room="lobby", text="one"))["id"]
            async with Emitter(broker=PostgresBroker(url, prefix=prefix), store=store) as emitter:
                posted = await emitter.post("lobby", "from a task", sender=CRON)
                assert posted.id == first + 1
                got = await expect(alice, "message", id=posted.id)
                assert (got["text"], got["from"]["id"]) == ("from a task", "cron")
                await emitter.send_private(CRON, BOB, "to Bob")
                assert (await expect(bob, "private"))["text"] == "to Bob"
                await emitter.disconnect_user(BOB.id, CloseCode.UNAUTHORIZED)
                assert await expect_closed(bob) == 4401
            async with await psycopg.AsyncConnection.connect(url) as connection:
                cursor = await connection.execute(f"SELECT count(*) FROM {prefix}procs")
                assert await cursor.fetchone() == (1,)  # the server's; none for the emitter


def test_from_url_picks_the_broker_by_scheme() -> None:
    with pytest.raises(UsageError, match="store"):
        Emitter.from_url("postgres://127.0.0.1/x")
    with pytest.raises(UsageError, match="no broker"):
        Emitter.from_url("mysql://127.0.0.1/x")
    emitter = Emitter.from_url("postgresql://127.0.0.1/x", prefix="chat_", store=SlowStore())
    assert isinstance(emitter.server.broker, PostgresBroker)
    assert emitter.server.broker.prefix == "chat_"


async def test_an_emitter_that_meets_a_database_first_makes_the_tables() -> None:
    """A task may publish before any server started on a new database (ChatBoard's
    ``demo_users`` does, through ``sync``): nobody listens yet, and nothing fails."""
    async with postgres_prefix() as (url, prefix):
        broker = PostgresBroker(url, prefix=prefix)
        async with Emitter(broker=broker, store=SlowStore()) as emitter:
            await emitter.disconnect_user("nobody")
        async with await psycopg.AsyncConnection.connect(url) as connection:
            cursor = await connection.execute(
                "SELECT to_regclass(%s) IS NOT NULL", [f"{prefix}procs"]
            )
            assert await cursor.fetchone() == (True,)
