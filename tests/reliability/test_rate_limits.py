"""Rate limits against a flooding client, over real sockets, with the default limits:
10 frames a second with a burst of 30 per connection, and 30 client errors per 10 s."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Any

import attrs
import pytest
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from tests.reliability.conftest import Connect
from tests.reliability.support import raw_socket
from tests.starlette.example_server import ExampleServer
from tests.starlette.test_uvicorn import until

pytestmark = [pytest.mark.network]


@attrs.frozen
class Flood:
    answers: list[str]  # the code of each reply to the burst, in order ("ok" for ok)
    after: list[str]  # the replies to the frames sent after it, one at a time
    close_code: int | None
    seconds: float


async def flood(
    server: ExampleServer, name: str, frame: dict[str, Any], burst: int, join: str | None = None
) -> Flood:
    """Join ``join`` if given, then send ``burst`` copies of ``frame`` at once and read their
    replies, then send more, one at a time, until the server closes the socket (at most 100)."""
    ws = await raw_socket(server, server.login(name))
    await ws.recv()  # welcome
    if join is not None:
        await ws.send(json.dumps({"type": "join", "room": join, "ref": "join"}))
        async with asyncio.timeout(10):
            while json.loads(await ws.recv()).get("ref") != "join":
                pass
    started = time.monotonic()
    for ref in range(burst):
        await ws.send(json.dumps({**frame, "ref": ref}))
    answers = [await reply(ws, ref) for ref in range(burst)]
    after: list[str] = []
    with contextlib.suppress(ConnectionClosed):
        for ref in range(burst, burst + 100):
            await ws.send(json.dumps({**frame, "ref": ref}))
            after.append(await reply(ws, ref))
    await ws.close()
    return Flood(answers, after, ws.close_code, time.monotonic() - started)


async def reply(ws: ClientConnection, ref: int) -> str:
    """The code of the reply to ``ref`` ("ok" for ok); events are skipped."""
    async with asyncio.timeout(10):
        while True:
            frame = json.loads(await ws.recv())
            if frame.get("ref") == ref:
                return str(frame.get("code", "ok"))


@pytest.mark.anyio
async def test_a_flooding_client_is_limited_then_closed_and_others_chat_on(
    server: ExampleServer, connect: Connect
) -> None:
    alice = await connect("Alice")
    bob = await connect("Bob")
    await alice.create_room("flooded")
    await alice.join("flooded")
    await bob.join("flooded")
    flooding = asyncio.create_task(flood(server, "Flood", {"type": "ping"}, 55))
    sent: list[int] = []
    while not flooding.done():  # Alice and Bob chat for as long as the flood lasts
        sent.append(await alice.send("flooded", f"during the flood {len(sent)}"))
        seen, _ = await until(bob, "message", lambda e: e["id"] == sent[-1])
        assert seen["from"]["id"] == "alice"
    outcome = flooding.result()
    assert outcome.close_code == 1008
    oks = outcome.answers.count("ok")
    limited = outcome.answers.count("rate_limited")
    # The burst, and what refilled at 10/s meanwhile, went through; the rest was refused.
    assert 30 <= oks <= 30 + 10 * outcome.seconds + 1
    assert oks + limited == 55
    # Then each refusal spends the abuse allowance (30 per 10 s) until one more closes it.
    assert len(outcome.after) <= 30 - limited + 3 * outcome.seconds + 1
    assert set(outcome.after) <= {"ok", "rate_limited"}
    assert sent == list(range(1, len(sent) + 1))
    print(
        f"\nflood: {oks} ok, {limited} rate_limited, {len(outcome.after)} more answered, "
        f"then 1008 after {outcome.seconds:.2f} s; Alice and Bob exchanged {len(sent)} "
        "messages meanwhile"
    )


@pytest.mark.anyio
async def test_a_flood_of_messages_posts_no_more_than_the_rate(
    server: ExampleServer, connect: Connect
) -> None:
    bob = await connect("Bob")
    await bob.create_room("spammed")
    await bob.join("spammed")
    frame = {"type": "send", "room": "spammed", "text": "spam"}
    outcome = await flood(server, "Spammer", frame, 55, join="spammed")
    assert outcome.close_code == 1008
    posted = (outcome.answers + outcome.after).count("ok")
    assert 29 <= posted <= 29 + 10 * outcome.seconds + 1  # the join spent one of the 30
    last = await bob.send("spammed", "still mine")
    _, before = await until(bob, "message", lambda e: e["id"] == last)
    spam = [e for e in before if e["type"] == "message" and e["from"]["id"] == "spammer"]
    assert len(spam) == posted
