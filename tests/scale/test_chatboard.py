"""ChatBoard as two ASGI processes on a fresh PostgreSQL database and one Redis, or with the
database as the broker too (``CHATCORE_BROKER=postgres``).

``tests/django/test_scale.py`` has the ids both processes append in order, a private message and
a logout reaching the other process; this adds member lists, second tabs, private messages
reaching nobody else, and room renames and deletes, all across the two processes.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from typing import Any

import anyio
import psycopg
import pytest
from psycopg import sql

from chatcore.client import ChatClient, ReplyError
from tests.django.conftest import CHATBOARD, WORK, Site, serve
from tests.django.test_site import Browserless
from tests.helpers import port_open, require
from tests.redis.cluster_session import shared_cluster_url
from tests.redis.support import REDIS_URL, delete_keys, need_redis, unique_prefix
from tests.scale.pair import FAST, until, where

pytestmark = [pytest.mark.anyio, pytest.mark.network]

#: The server that gets a throwaway database (trust auth, as on this machine and in CI).
POSTGRES = os.environ.get("CHATCORE_TEST_POSTGRES", "postgres://postgres@127.0.0.1:5432/test")


def migrated_database(name: str) -> str:
    """Create database ``name`` on :data:`POSTGRES`, migrate it for ChatBoard; its URL."""
    with psycopg.connect(POSTGRES, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = POSTGRES.rsplit("/", 1)[0] + "/" + name
    env = {**os.environ, "DATABASE_URL": url, "DEBUG": "", "PYTHONPATH": str(CHATBOARD)}
    migrate = [sys.executable, "manage.py", "migrate", "--noinput"]
    done = subprocess.run(migrate, cwd=CHATBOARD, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    return url


def drop_database(name: str) -> None:
    with psycopg.connect(POSTGRES, autocommit=True) as admin:
        drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        admin.execute(drop)


#: The environment of the boards of the running pair (the database and the broker), for
#: processes that run no server, such as a management command.
ENGINE_ENV: dict[str, str] = {}


@contextlib.contextmanager
def board_pair(tag: str, engine: str = "redis", **env: str) -> Iterator[list[Site]]:
    """Two ChatBoard processes on a fresh database ``chatboard_<tag>_...``, with Redis as the
    broker (``engine="cluster"``: the session's local Redis Cluster) or (``engine="postgres"``:
    ``CHATCORE_BROKER=postgres``) the database alone (``env``: more of their environment); all
    removed after."""
    redis_url = REDIS_URL
    if engine == "redis":
        need_redis()
    elif engine == "cluster":
        redis_url = shared_cluster_url()
    if not port_open("127.0.0.1", 5432):
        require("PostgreSQL", "nothing answers on 127.0.0.1:5432")
    name, prefix = f"chatboard_{tag}_{os.getpid()}_{secrets.token_hex(4)}", unique_prefix()
    if engine in ("redis", "cluster"):
        broker = {"CHATCORE_REDIS_URL": redis_url, "CHATCORE_REDIS_PREFIX": prefix}
    else:
        broker = {"CHATCORE_BROKER": "postgres", "CHATCORE_REDIS_URL": ""}
    WORK.mkdir(parents=True, exist_ok=True)  # an earlier pair's teardown may have removed it
    try:
        url = migrated_database(name)
        ENGINE_ENV.clear()
        ENGINE_ENV.update(broker, DATABASE_URL=url)
        with serve(url, 2, **broker, **env) as sites:
            yield sites
            for site in sites:
                site.log.unlink(missing_ok=True)
    finally:
        drop_database(name)
        if engine in ("redis", "cluster"):
            anyio.run(delete_keys, redis_url, prefix)
        with contextlib.suppress(OSError):  # the log directory, unless the Django suite uses it
            WORK.rmdir()


@pytest.fixture(
    scope="module", params=["redis", pytest.param("cluster", marks=pytest.mark.cluster), "postgres"]
)
def two_boards(request: pytest.FixtureRequest) -> Iterator[list[Site]]:
    """Two boards on a fresh database, with Redis, Redis Cluster or PostgreSQL alone as the
    broker."""
    with board_pair("scale", request.param) as sites:
        yield sites


class Boards:
    """Accounts signed up on the boards and chat clients (tabs) opened for them."""

    def __init__(self, sites: list[Site], stack: AsyncExitStack) -> None:
        self.sites = sites
        self.stack = stack

    async def account(self, name: str) -> Browserless:
        return await self.stack.enter_async_context(Browserless.sign_up(self.sites[0], name))

    async def tab(self, account: Browserless, board: int) -> ChatClient:
        """A socket of ``account`` on board 0 or 1 (the session lives in the shared database)."""
        site = self.sites[board]
        cookies: dict[str, Any] = dict(account.http.cookies.items())
        client = ChatClient(site.ws_url, cookies=cookies, origin=site.url, backoff=FAST)
        await client.connect()
        self.stack.push_async_callback(client.close)
        return client


@pytest.fixture
async def boards(two_boards: list[Site]) -> AsyncIterator[Boards]:
    async with AsyncExitStack() as stack:
        yield Boards(two_boards, stack)


async def test_members_private_messages_and_room_changes_span_both_boards(boards: Boards) -> None:
    ana, ben, cy = [await boards.account(name) for name in ("ana", "ben", "cy")]
    ana_one, ana_two = await boards.tab(ana, 0), await boards.tab(ana, 1)
    ben_two, cy_one = await boards.tab(ben, 1), await boards.tab(cy, 0)
    ids = {name: client.user["id"] for name, client in (("ana", ana_one), ("ben", ben_two))}
    assert "porch" not in [room["name"] for room in await cy_one.rooms(watch=True)]

    await ben_two.create_room("porch", "Porch")
    created, _ = await until(cy_one, "room", where(event="created"))
    assert (created["room"]["name"], created["room"]["owner"]) == ("porch", ids["ben"])
    for client in (ben_two, ana_one, ana_two):
        await client.join("porch")
    await until(ben_two, "presence", where(event="join", user=ids["ana"]))

    # Ana has a tab on each board and is one member; both boards give the same list.
    members = await ana_one.members("porch")
    assert sorted(user["id"] for user in members) == sorted(ids.values())
    assert await ben_two.members("porch") == members
    assert await ana_two.members("porch") == members

    # A private message reaches both of Ana's tabs and Ben's, and not Cy (who watches the list).
    sent = await ben_two.send_private(ids["ana"], "just for Ana")
    for client in (ana_one, ana_two, ben_two):
        private, _ = await until(client, "private")
        assert (private["id"], private["text"]) == (sent, "just for Ana")
    # Rename and delete by the owner on board two: the member's tabs and the watcher on board
    # one see both; the watcher got no private message before them.
    await ben_two.update_room("porch", "Veranda")
    for client in (cy_one, ana_one, ana_two):
        updated, before = await until(client, "room", where(event="updated"))
        assert (updated["room"]["name"], updated["room"]["title"]) == ("porch", "Veranda")
        if client is cy_one:
            assert [e for e in before if e["type"] == "private"] == []
    titles = {room["name"]: room["title"] for room in await cy_one.rooms()}
    assert titles["porch"] == "Veranda"  # from board one's reading of the shared database

    await ben_two.delete_room("porch")
    for client in (cy_one, ana_one, ana_two):
        deleted, _ = await until(client, "room", where(event="deleted"))
        assert deleted["room"]["name"] == "porch"
    with pytest.raises(ReplyError) as refused:
        await ana_one.request("join", room="porch")
    assert refused.value.code == "no_such_room"


async def test_edits_reactions_deletions_and_read_marks_span_both_boards(boards: Boards) -> None:
    """The ORM store with the Redis broker: changes are published by the server, ordered by
    the broker after their message, and an older state never lands last."""
    ana, ben = [await boards.account(name) for name in ("ana2", "ben2")]
    ana_one, ana_two = await boards.tab(ana, 0), await boards.tab(ana, 1)
    ben_two = await boards.tab(ben, 1)
    ben_id = ben_two.user["id"]
    await ana_one.create_room("deck", "Deck")
    for client in (ana_one, ana_two, ben_two):
        await client.join("deck")
    first = await ben_two.send("deck", "helo from board two")
    reply = await ana_one.send("deck", "a reply from board one", reply_to=first, meta={"k": 1})
    for client in (ana_two, ben_two):
        message, _ = await until(client, "message", where(id=reply))
        assert (message["reply_to"], message["meta"]) == (first, {"k": 1})

    # Reactions from both boards at once, to one message: every tab ends on the same state,
    # the one the database holds.
    emoji = ["👍", "🎉", "❤️", "😂"]
    async with anyio.create_task_group() as group:
        for client in (ana_one, ana_two, ben_two):
            for e in emoji:
                group.start_soon(client.react, "deck", first, e)
    page = await ana_one.history("deck")
    (stored,) = [m for m in page["messages"] if m["id"] == first]
    assert {e: r["count"] for e, r in stored["reactions"].items()} == dict.fromkeys(emoji, 2)
    for client in (ana_one, ana_two, ben_two):
        last: dict[str, Any] = {}
        with anyio.move_on_after(3):
            while last.get("reactions") != stored["reactions"]:
                changed, _ = await until(client, "message_changed", where(change="reactions"))
                last = changed["message"]
        assert last["reactions"] == stored["reactions"]

    # An edit on board two and a deletion by the room's owner on board one reach every tab.
    edited = await ben_two.edit("deck", first, "hello from board two")
    assert edited["text"] == "hello from board two"
    await until(ana_one, "message_changed", where(change="edited"))
    await ana_one.delete_message("deck", first)
    for client in (ana_two, ben_two):
        gone, _ = await until(client, "message_changed", where(change="deleted"))
        assert (gone["message"]["id"], gone["message"]["deleted"]) == (first, True)
    with pytest.raises(ReplyError) as refused:
        await ben_two.edit("deck", reply, "not his")
    assert refused.value.code == "forbidden"

    # Ben's read mark, set on board two, reaches his tab on board one; unread counts agree.
    ben_one = await boards.tab(ben, 0)
    assert await ben_two.mark_read("deck", reply) == reply
    read, _ = await until(ben_one, "read", where(room="deck"))
    assert (read["user"], read["id"]) == (ben_id, reply)
    await ana_two.send("deck", "one more")
    rooms = {room["name"]: room for room in await ben_one.rooms()}
    assert (rooms["deck"]["read"], rooms["deck"]["unread"]) == (reply, 1)


@pytest.mark.browser
async def test_the_message_model_in_chromium_across_both_boards(two_boards: list[Site]) -> None:
    """ChatBoard's replies, edits, deletions, reactions, unread badges and "seen" in headless
    Chromium, Ann on board one and Ben (both his tabs) on board two."""
    from tests.django.test_browser import messages_beyond_text
    from tests.helpers import chromium

    async with chromium() as browser:
        await messages_beyond_text({"ann": two_boards[0], "ben": two_boards[1]}, browser)


@pytest.mark.browser
async def test_moderation_in_chromium_across_both_boards(two_boards: list[Site]) -> None:
    """ChatBoard's moderation in headless Chromium: Ann (board one) mutes, kicks and bans Ben
    (board two), whose connections there are put out; a private room hidden from Cat (board
    two) until invited; a block refusing Ben's private message across the boards."""
    from tests.django.test_browser_moderation import moderation_scenario
    from tests.helpers import chromium

    sites = {"ann": two_boards[0], "ben": two_boards[1], "cat": two_boards[1]}
    async with chromium() as browser:
        await moderation_scenario(sites, browser)


async def test_a_management_command_posts_through_the_broker_with_the_next_id(
    boards: Boards,
) -> None:
    """``chatcore_django.sync`` in a process with no chat server (a management command, a
    Celery task) posts through the emitter: the message takes the room's next id and reaches
    the sockets on both boards, after the messages sent before it."""
    eve = await boards.account("eve")
    eve_one, eve_two = await boards.tab(eve, 0), await boards.tab(eve, 1)
    await eve_one.create_room("yard", "Yard")
    for client in (eve_one, eve_two):
        await client.join("yard")
    first = await eve_two.send("yard", "before the command")
    script = (
        "from django.contrib.auth import get_user_model\n"
        "from chatcore_django import sync\n"
        f"user = get_user_model().objects.get(username={eve.username!r})\n"
        "print(sync.post('yard', 'from a management command', user).id)\n"
    )
    env = {**os.environ, **ENGINE_ENV, "DEBUG": "", "PYTHONPATH": str(CHATBOARD)}
    command = [sys.executable, "manage.py", "shell", "-c", script]
    done = await anyio.run_process(command, cwd=CHATBOARD, env=env, check=False)
    assert done.returncode == 0, done.stderr.decode()
    posted = int(done.stdout.decode().split()[-1])
    assert posted == first + 1
    for client in (eve_one, eve_two):
        message, _ = await until(client, "message", where(id=posted))
        assert (message["text"], message["from"]["id"]) == (
            "from a management command",
            eve_one.user["id"],
        )
    assert await eve_one.send("yard", "after it") == posted + 1
