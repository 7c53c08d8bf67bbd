"""ChatBoard on PostgreSQL with Redis as the broker only: board two's link to Redis is cut while
board one keeps posting. The database holds what was missed, so board two fills its rooms'
gaps from it once the link is back: its tab gets every message and edit in order, and never
reconnects."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack

import anyio
import pytest

from tests.django.conftest import Site, serve
from tests.helpers import port_open, require
from tests.redis.support import REDIS_URL, delete_keys, need_redis, unique_prefix
from tests.reliability.test_redis_cut import CuttableProxy
from tests.scale.pair import until, where
from tests.scale.test_chatboard import Boards, drop_database, migrated_database

pytestmark = [pytest.mark.anyio, pytest.mark.network]


@pytest.fixture
async def cut_boards() -> AsyncIterator[tuple[CuttableProxy, Boards]]:
    """Board one on Redis directly, board two through a proxy the test cuts."""
    need_redis()
    if not port_open("127.0.0.1", 5432):
        require("PostgreSQL", "nothing answers on 127.0.0.1:5432")
    name, prefix = f"chatboard_cut_{secrets.token_hex(4)}", unique_prefix()
    host, port = REDIS_URL.removeprefix("redis://").split("/")[0].split(":")
    proxy = CuttableProxy(host, int(port))
    await proxy.start()
    try:
        url = await anyio.to_thread.run_sync(migrated_database, name)
        async with AsyncExitStack() as stack:
            sites: list[Site] = []
            for redis_url in (REDIS_URL, proxy.url):
                served = serve(url, 1, CHATCORE_REDIS_URL=redis_url, CHATCORE_REDIS_PREFIX=prefix)
                sites += await anyio.to_thread.run_sync(stack.enter_context, served)
            yield proxy, Boards(sites, stack)
    finally:
        await proxy.close()
        await anyio.to_thread.run_sync(drop_database, name)
        await delete_keys(REDIS_URL, prefix)


async def test_a_cut_board_fills_its_gap_from_the_database(
    cut_boards: tuple[CuttableProxy, Boards],
) -> None:
    proxy, boards = cut_boards
    ana, ben = [await boards.account(name) for name in ("ana3", "ben3")]
    ana_one, ben_two = await boards.tab(ana, 0), await boards.tab(ben, 1)
    await ana_one.create_room("yard", "Yard")
    for client in (ana_one, ben_two):
        await client.join("yard")
    first = await ana_one.send("yard", "before the cut")
    await until(ben_two, "message", where(id=first))

    proxy.cut()
    await anyio.sleep(0.5)  # board two notices (its pub/sub connection was reset)
    missed = [await ana_one.send("yard", f"during the cut {n}") for n in range(5)]
    await ana_one.edit("yard", missed[0], "during the cut 0, edited")
    await anyio.sleep(2)
    proxy.restore()

    # Everything arrives on board two, in id order, then the edit; no reconnect.
    for id in missed:
        _, before = await until(ben_two, "message", where(id=id))
        assert [e for e in before if e["type"] == "message"] == []  # nothing skipped or early
    changed, _ = await until(ben_two, "message_changed", where(change="edited"))
    assert changed["message"]["id"] == missed[0]
    after = await ana_one.send("yard", "after the cut")
    await until(ben_two, "message", where(id=after))
    assert (ana_one.sessions, ben_two.sessions) == (1, 1)
