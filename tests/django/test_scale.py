"""Two ChatBoard processes on one database and one Redis (or, on PostgreSQL, the database as the
broker too): one chat, as if one process."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator

import pytest
import websockets

from ..helpers import port_open, require
from .conftest import Site, serve
from .test_site import Browserless, call, next_of

pytestmark = [pytest.mark.anyio, pytest.mark.network]

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture(scope="module", params=["redis", "postgres"])
def two_sites(test_database: str, request: pytest.FixtureRequest) -> Iterator[list[Site]]:
    """Two processes with Redis as the broker, or with the database itself
    (``CHATCORE_BROKER=postgres``) when the suite runs on PostgreSQL."""
    if request.param == "postgres":
        if not test_database.startswith("postgres"):
            pytest.skip("the PostgreSQL broker needs the suite on PostgreSQL (DATABASE_URL)")
        env = {"CHATCORE_BROKER": "postgres", "CHATCORE_REDIS_URL": ""}
    else:
        if not port_open("127.0.0.1", 6379):
            require("Redis", "nothing listens on 127.0.0.1:6379")
        prefix = f"chatboard-test-{secrets.token_hex(4)}:"
        env = {"CHATCORE_REDIS_URL": REDIS_URL, "CHATCORE_REDIS_PREFIX": prefix}
    with serve(test_database, 2, **env) as sites:
        yield sites


async def test_people_on_two_processes_chat_and_logout_reaches_the_other(
    two_sites: list[Site],
) -> None:
    one, two = two_sites
    room = f"scale-{secrets.token_hex(4)}"
    async with (
        Browserless.sign_up(one, "uno") as uno,
        Browserless.sign_up(two, "dos") as dos,
        uno.socket() as ws_uno,
        dos.socket() as ws_dos,
    ):
        await next_of(ws_uno, "welcome")
        dos_user = (await next_of(ws_dos, "welcome"))["user"]
        await call(ws_uno, "rooms", 1, watch=True)
        await call(ws_dos, "create_room", 1, room=room, title="Across")
        assert (await next_of(ws_uno, "room"))["room"]["name"] == room
        await call(ws_uno, "join", 2, room=room)
        joined = await call(ws_dos, "join", 2, room=room)
        assert len(joined["members"]) == 2  # presence is shared
        presence = await next_of(ws_uno, "presence")
        assert (presence["event"], presence["user"]["id"]) == ("join", dos_user["id"])
        # Both processes append at once; everyone sees the room's messages in id order.
        for n in range(1, 7):
            sender = ws_dos if n % 2 else ws_uno
            await sender.send(json.dumps({"type": "send", "room": room, "text": f"m{n}"}))
        for ws in (ws_uno, ws_dos):
            assert [(await next_of(ws, "message"))["id"] for _ in range(6)] == [1, 2, 3, 4, 5, 6]
        reply = await call(ws_uno, "send_private", 20, to=dos_user["id"], text="psst")
        assert reply["type"] == "ok"  # the recipient is online in the other process
        assert (await next_of(ws_dos, "private"))["text"] == "psst"
        # Logging out through process one closes the socket held by process two.
        assert await dos.log_out(through=one) == 302
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await next_of(ws_dos, "never")
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 4401
