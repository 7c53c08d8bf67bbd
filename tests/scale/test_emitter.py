"""An emitter in a process that runs no chat server (a cron job, a Celery task) reaches the
sockets of real servers: two processes of the Starlette example on Redis.

(The PostgreSQL broker's emitter, through ``chatcore_django.sync`` in a management command, is
in ``test_chatboard.py``; its unit tests are in ``tests/postgres/test_emitter.py``.)
"""

from __future__ import annotations

import sys

import anyio
import pytest

from tests.redis.stack import layout_url
from tests.redis.support import need_redis, unique_prefix
from tests.scale.pair import example_pair, until, where

pytestmark = [pytest.mark.anyio, pytest.mark.network]

SCRIPT = """
import sys, anyio
from chatcore import CloseCode, User
from chatcore.emitter import Emitter

async def main(url: str, prefix: str) -> None:
    cron = User(id="cron", name="Cron")
    async with Emitter.from_url(url, prefix=prefix) as emitter:
        message = await emitter.post("news", "the nightly build passed", sender=cron)
        await emitter.send_private(cron, User(id="ben", name="ben"), "just for Ben")
        await emitter.disconnect_user("ana", CloseCode.UNAUTHORIZED)
    print(message.id)

anyio.run(main, *sys.argv[1:])
"""


async def test_a_process_without_a_server_posts_sends_privately_and_disconnects() -> None:
    url, prefix = need_redis(), unique_prefix()
    async with example_pair(url, prefix) as pair:
        ana = await pair.open(0, "ana", reconnect=False)
        ben = await pair.open(1, "ben")
        await ana.create_room("news", "News")
        for client in (ana, ben):
            await client.join("news")
        first = await ben.send("news", "before the job")

        done = await anyio.run_process(
            [sys.executable, "-c", SCRIPT, layout_url(url), prefix], check=False
        )
        assert done.returncode == 0, done.stderr.decode()
        posted = int(done.stdout.decode().split()[-1])
        assert posted == first + 1  # the room's next id, as a server would have given
        for client in (ana, ben):
            message, before = await until(client, "message", where(id=posted))
            assert (message["text"], message["from"]["id"]) == ("the nightly build passed", "cron")
            assert first in [e.get("id") for e in before if e["type"] == "message"]
        private, _ = await until(ben, "private")
        assert (private["text"], private["from"]["id"]) == ("just for Ben", "cron")
        closed, _ = await until(ana, "close")
        assert closed["code"] == 4401
        assert await ben.send("news", "after the job") == posted + 1
