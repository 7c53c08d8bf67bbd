"""Hooks through the Starlette adapter, in a real uvicorn process over real sockets: a message
hook that masks and refuses, a slow hook failing closed, listeners, the offline notifier and
a bot (tests/starlette/hooks_site/app.py)."""

from __future__ import annotations

import asyncio
import http.client
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from chatcore.client import ChatClient, ReplyError
from tests.core.test_webhooks import Receiver, receiving
from tests.core.test_webhooks import until as until_seen
from tests.starlette.example_server import HOST, ExampleServer
from tests.starlette.test_uvicorn import connect as connect  # the same, on this module's server
from tests.starlette.test_uvicorn import until

pytestmark = [pytest.mark.network]


class HooksSite(ExampleServer):
    app_dir = Path(__file__).parent / "hooks_site"

    def get(self, path: str) -> Any:
        connection = http.client.HTTPConnection(HOST, self.port, timeout=10)
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            return json.loads(response.read())
        finally:
            connection.close()


@pytest.fixture(scope="module")
def webhooks() -> Iterator[tuple[Receiver, str]]:
    yield from receiving()


@pytest.fixture(scope="module")
def server(webhooks: tuple[Receiver, str]) -> Iterator[HooksSite]:
    """The hooks site, for test_uvicorn's ``connect`` fixture; its events go to ``webhooks``."""
    site = HooksSite()
    site.env["HOOKS_WINDOW_MS"] = "300"
    site.env["HOOKS_WEBHOOK_URL"] = webhooks[1] + "/events"
    site.start()
    try:
        yield site
    finally:
        site.stop()


@pytest.mark.anyio
async def test_message_hooks_listeners_and_a_bot_over_uvicorn(
    server: HooksSite, connect: Callable[..., Any]
) -> None:
    alice: ChatClient = await connect("Alice")
    bob: ChatClient = await connect("Bob")
    await alice.create_room("hooked")
    await alice.join("hooked")
    await bob.join("hooked")
    await alice.send("hooked", "oh darn")
    message, _ = await until(bob, "message", lambda e: e["from"]["id"] == "alice")
    assert (message["text"], message["meta"]) == ("oh d**n", {"masked": True})
    with pytest.raises(ReplyError) as refused:
        await alice.send("hooked", "cheap spam")
    assert (refused.value.code, refused.value.frame["reason"]) == ("rejected", "spam")
    assert refused.value.message == "no spam here, please"
    # A hook that hangs fails closed after its budget; the room goes on meanwhile.
    slow = asyncio.ensure_future(alice.send("hooked", "slow"))
    await bob.send("hooked", "meanwhile")
    assert not slow.done()
    with pytest.raises(ReplyError) as timed_out:
        await slow
    assert timed_out.value.code == "unavailable"
    # The bot joined the new room and answers.
    await bob.send("hooked", "/roll")
    answer, _ = await until(bob, "message", lambda e: e["from"]["id"] == "dice")
    assert answer["text"] == "Bob rolled 4"
    kinds = [
        (e["kind"], e.get("message", {}).get("text"))
        for e in server.get("/events")
        if e["room"] == "hooked"
    ]
    assert kinds[:2] == [("room_created", None), ("user_joined", None)]
    posted = [text for kind, text in kinds if kind == "message_posted"]
    assert posted == ["oh d**n", "meanwhile", "/roll", "Bob rolled 4"]


@pytest.mark.anyio
async def test_webhooks_from_a_uvicorn_process(
    webhooks: tuple[Receiver, str], connect: Callable[..., Any]
) -> None:
    seen, _ = webhooks
    hana: ChatClient = await connect("Hana")
    await hana.create_room("posted-out")
    await hana.join("posted-out")
    await hana.send("posted-out", "to the webhook")

    def texts() -> list[str]:
        return [
            event["message"]["text"]
            for _, _, events in list(seen.requests)
            for event in events
            if event["room"] == "posted-out" and event["kind"] == "message_posted"
        ]

    await until_seen(lambda: texts() == ["to the webhook"])
    assert seen.bad_signatures == 0


@pytest.mark.anyio
async def test_an_offline_user_is_notified_once_per_window(
    server: HooksSite, connect: Callable[..., Any]
) -> None:
    carol: ChatClient = await connect("Carol")
    direct = (await carol.direct("dora"))["name"]  # Dora has never connected
    await carol.join(direct)
    await carol.send(direct, "are you there?")
    await carol.send(direct, "hello?")
    await carol.create_room("mentions")
    await carol.join("mentions")
    await carol.send("mentions", "@Erin look at this")
    deadline = asyncio.get_running_loop().time() + 5
    while len([n for n in server.get("/notices") if n["to"] in ("dora", "erin")]) < 2:
        assert asyncio.get_running_loop().time() < deadline, server.get("/notices")
        await asyncio.sleep(0.05)  # a real server's real clock: poll its record
    got = {n["to"]: n["notices"] for n in server.get("/notices") if n["to"] in ("dora", "erin")}
    assert got == {
        "dora": [["direct", direct, "are you there?"], ["direct", direct, "hello?"]],
        "erin": [["mention", "mentions", "@Erin look at this"]],
    }
