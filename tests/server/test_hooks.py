"""Hooks on the native adapter and ``chatcore serve``, over real sockets: webhooks signed and
retried to a local receiver, the message proxy refusing and changing messages, and a message
hook and a listener given as Python objects to the library, and every hook kind in a program
that runs ``chatcore serve`` with hooks of its own (docs/hooks.md, docs/server.md)."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chatcore.client import Backoff, ChatClient, ReplyError
from chatcore.hooks import ChatEvent, Draft, Hooks, MessageRejected
from chatcore_server._hooks import settings_hooks
from chatcore_server.config import ConfigError, settings
from tests.core.test_webhooks import SECRET, Receiver, receiving
from tests.core.test_webhooks import until as until_seen
from tests.starlette.test_uvicorn import until

from .conftest import ServeApi
from .serve_process import Serve
from .test_app import serving

pytestmark = [pytest.mark.network]


def test_hook_settings_come_from_flags_the_environment_and_the_file(tmp_path: Path) -> None:
    config = tmp_path / "chatcore.toml"
    config.write_text(
        'webhook_urls = ["http://a.example/hook", "http://b.example/hook"]\n'
        'webhook_secret = "from-file"\nwebhook_kinds = ["message_posted"]\n'
        'message_proxy_url = "http://a.example/proxy"\n'
    )
    environ = {"CHATCORE_WEBHOOK_SECRET": "from-env", "CHATCORE_MESSAGE_PROXY_FAIL": "open"}
    chosen = settings(["--config", str(config), "--webhook-window", "50"], environ)
    assert chosen.webhook_urls == ("http://a.example/hook", "http://b.example/hook")
    assert (chosen.webhook_secret, chosen.webhook_window, chosen.webhook_kinds) == (
        "from-env",
        50,
        ("message_posted",),
    )
    assert (chosen.message_proxy_url, chosen.message_proxy_fail) == (
        "http://a.example/proxy",
        "open",
    )
    mine = Hooks()
    hooks, proxy = settings_hooks(chosen, mine)
    assert hooks is mine
    assert proxy is not None
    assert (proxy.url, proxy.secret, proxy.fail) == ("http://a.example/proxy", "from-env", "open")
    assert [entry.function for entry in mine.message_hooks] == [proxy]
    [webhooks] = mine.listeners
    assert webhooks.kinds == frozenset({"message_posted"})
    assert settings_hooks(settings([], {}), None) == (None, None)
    with pytest.raises(ConfigError, match="webhook_secret"):
        settings_hooks(settings(["--webhook-urls", "http://a.example"], {}))
    with pytest.raises(ConfigError, match="kinds"):
        settings_hooks(
            settings(
                ["--webhook-urls", "http://a", "--webhook-secret", "s"],
                {"CHATCORE_WEBHOOK_KINDS": "typing"},
            )
        )
    with pytest.raises(ConfigError, match="message_proxy_fail"):
        settings(["--message-proxy-fail", "maybe"], {})


@pytest.fixture(scope="module")
def receiver() -> Iterator[tuple[Receiver, str]]:
    yield from receiving()


@pytest.fixture(scope="module")
def hooked(receiver: tuple[Receiver, str]) -> Iterator[Serve]:
    """``chatcore serve`` with guests, webhooks to ``receiver`` and its message proxy."""
    url = receiver[1]
    server = Serve(
        "--guests",
        "--webhook-urls",
        f"{url}/events",
        "--webhook-window",
        "100",
        "--message-proxy-url",
        f"{url}/proxy",
        env={"CHATCORE_WEBHOOK_SECRET": SECRET},
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.anyio
async def test_chatcore_serve_posts_signed_webhooks_and_asks_the_message_proxy(
    hooked: Serve, receiver: tuple[Receiver, str]
) -> None:
    seen, _ = receiver
    seen.fail_first = 1  # the first batch is refused once, then sent again
    fast = Backoff(initial=0.05)
    async with (
        ChatClient(hooked.ws_url, backoff=fast) as ann,
        ChatClient(hooked.ws_url, backoff=fast) as bob,
    ):
        await ann.create_room("hooked")
        await ann.join("hooked")
        await bob.join("hooked")
        sent = await ann.send("hooked", "hello")
        await until(bob, "message", lambda event: event["id"] == sent)
        changed = await ann.send("hooked", "oh darn")
        message, _ = await until(bob, "message", lambda event: event["id"] == changed)
        assert (message["text"], message["meta"]) == ("oh d**n", {"by": ann.welcome["user"]["id"]})
        with pytest.raises(ReplyError) as refused:
            await ann.send("hooked", "cheap spam")
        assert (refused.value.code, refused.value.frame["reason"]) == ("rejected", "spam")
        assert refused.value.message == "no spam"

        def posted() -> list[str]:  # (a batch sent twice counts once)
            batches = {batch: events for batch, _, events in seen.requests}
            return [
                event["message"]["text"]
                for events in batches.values()
                for event in events
                if event["kind"] == "message_posted"
            ]

        def retried() -> bool:
            return any(attempt == 2 for _, attempt, _ in seen.requests)

        await until_seen(lambda: retried() and posted() == ["hello", "oh d**n"])
    assert seen.bad_signatures == 0
    first_batch = seen.requests[0][0]
    assert [(batch, attempt) for batch, attempt, _ in seen.requests[:2]] == [
        (first_batch, 1),
        (first_batch, 2),
    ]
    kinds = [event["kind"] for _, _, events in seen.requests[1:] for event in events]
    assert seen.requests[0][2] == seen.requests[1][2]
    assert kinds[:4] == ["room_created", "user_joined", "user_joined", "message_posted"]


@pytest.mark.anyio
async def test_a_message_hook_and_a_listener_through_the_native_adapter() -> None:
    hooks = Hooks()
    heard: list[dict[str, Any]] = []

    @hooks.message()
    async def words(draft: Draft) -> Draft | None:
        if "spam" in draft.text:
            raise MessageRejected("no spam here", reason="spam")
        return draft.evolve(text=draft.text.upper())

    @hooks.listen("message_posted", "user_joined")
    async def listen(event: ChatEvent) -> None:
        heard.append(event.to_wire())

    async with (
        serving(hooks=hooks) as (app, url),
        ChatClient(f"{url}?user=ann") as ann,
        ChatClient(f"{url}?user=bob") as bob,
    ):
        await ann.create_room("lib")
        await ann.join("lib")
        await bob.join("lib")
        sent = await ann.send("lib", "quiet")
        message, _ = await until(bob, "message", lambda event: event["id"] == sent)
        assert message["text"] == "QUIET"
        with pytest.raises(ReplyError) as refused:
            await bob.send("lib", "spam")
        assert (refused.value.code, refused.value.frame["reason"]) == ("rejected", "spam")
        async with asyncio.timeout(5):
            await app.server.hooks_idle()
    assert [(e["kind"], (e.get("user") or e["message"]["from"])["id"]) for e in heard] == [
        ("user_joined", "ann"),
        ("user_joined", "bob"),
        ("message_posted", "ann"),
    ]
    assert heard[-1]["message"]["text"] == "QUIET"


class HooksServe(ServeApi):
    """``chatcore serve`` (JWT logins) run by tests/server/hooks_serve.py, with its Python
    hooks."""

    def command(self) -> list[str]:
        return [
            sys.executable,
            str(Path(__file__).parent / "hooks_serve.py"),
            *super().command()[3:],
        ]


@pytest.mark.anyio
async def test_chatcore_serve_run_by_a_program_with_its_own_hooks(tmp_path: Path) -> None:
    log = tmp_path / "hooks.jsonl"
    server = HooksServe(env={"HOOKS_LOG": str(log)})
    server.start()
    try:
        async with ChatClient(server.user_url("zed")):
            pass  # Zed has been here (the server knows him), and is gone
        async with ChatClient(server.user_url("ann"), backoff=Backoff(initial=0.05)) as ann:
            await ann.create_room("scripted")
            await ann.join("scripted")
            loud = await ann.send("scripted", "a whisper")
            message, _ = await until(ann, "message", lambda event: event["id"] == loud)
            assert message["text"] == "A WHISPER"
            await ann.send("scripted", "/roll")
            answer, _ = await until(ann, "message", lambda event: event["from"]["id"] == "dice")
            assert answer["text"] == "Ann rolled 4"
            await ann.send("scripted", "@Zed look")

            def lines() -> list[dict[str, Any]]:
                text = log.read_text() if log.exists() else ""
                return [json.loads(line) for line in text.splitlines()]

            await until_seen(lambda: any(line["kind"] == "notify" for line in lines()))
    finally:
        server.stop()
    assert [line["text"] for line in lines() if line["kind"] == "message_posted"] == [
        "A WHISPER",
        "/roll",
        answer["text"],
        "@Zed look",
    ]
    assert [line for line in lines() if line["kind"] == "notify"] == [
        {"kind": "notify", "to": "zed", "texts": ["@Zed look"]}
    ]
