"""Hooks through the Django adapter: message hooks, Django signals sent from a thread (ORM
allowed), ChatBoard's offline emails (Django's outbox) with the profile setting, and its dice
bot; in-process through Channels, then in a real uvicorn process over real sockets."""

from __future__ import annotations

import json
import logging
import re
import secrets
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import mail
from django.test import override_settings

from chatcore.hooks import ChatEvent
from chatcore_django import signals

from ..core.test_webhooks import Receiver, receiving, until
from .conftest import CHATBOARD, ROOT, Site, serve
from .factories import make_user
from .test_consumer import Peer
from .test_site import Browserless, call, next_of

pytestmark = [pytest.mark.anyio]

HOOKS = "tests.django.hooks_config.install"


@pytest.fixture
def hooked() -> Iterator[None]:
    """ChatBoard's chat with the test hooks and a short email window (for the next server)."""
    with override_settings(
        CHATCORE={**settings.CHATCORE, "HOOKS": HOOKS}, CHATBOARD_NOTIFY_WINDOW=100
    ):
        mail.outbox.clear()
        yield


def with_email(user: Any, on: bool = True) -> Any:
    from board.models import profile_of  # type: ignore[import-not-found]

    user.email = f"{user.username}@example.com"
    user.save()
    profile = profile_of(user)
    profile.email_notifications = on
    profile.save()
    return user


async def mails_to(address: str, count: int = 1) -> list[Any]:
    """The emails to ``address`` once there are ``count`` (at most 5 s)."""
    with anyio.fail_after(5):
        while True:
            found = [m for m in mail.outbox if address in m.to]
            if len(found) >= count:
                return found
            await anyio.sleep(0.02)  # the notifier's window runs on the real clock here


@pytest.mark.usefixtures("chat_runtime", "hooked")
async def test_hooks_signals_emails_and_the_bot_through_channels(
    caplog: pytest.LogCaptureFixture,
) -> None:
    heard: list[tuple[str, int, int]] = []

    def receiver(sender: Any, event: ChatEvent, **kwargs: Any) -> None:
        # The ORM works here: this runs in a worker thread, not the event loop's.
        heard.append((event.kind, threading.get_ident(), get_user_model().objects.count()))

    def broken(sender: Any, event: ChatEvent, **kwargs: Any) -> None:
        raise RuntimeError("receiver bug")

    signals.message_posted.connect(receiver)
    signals.chat_event.connect(broken)
    try:
        alice = await sync_to_async(lambda: with_email(make_user("alice", "Alice")))()
        bob = await sync_to_async(lambda: with_email(make_user("bob", "Bob")))()
        peer = await Peer.open(alice)
        direct = (await peer.call("direct", to=str(bob.pk)))["room"]["name"]
        await peer.call("join", room=direct)
        with caplog.at_level(logging.ERROR, "chatcore.django"):
            sent = await peer.call("send", room=direct, text="oh darn, are you there?")
            assert sent["type"] == "ok"
            refused = await peer.call("send", room=direct, text="spam")
            assert (refused["code"], refused["reason"]) == ("rejected", "spam")
            await peer.call("send", room=direct, text="hello?")
            [email] = await mails_to(bob.email)
        assert "2 new messages" in email.subject
        assert "oh d**n, are you there?" in email.body
        assert "hello?" in email.body
        assert f"/rooms/{direct}/" in email.body
        assert [kind for kind, _, _ in heard] == ["message_posted", "message_posted"]
        assert all(thread != threading.get_ident() and users >= 2 for _, thread, users in heard)
        assert "receiver bug" in caplog.text
        # The dice bot answers in a group room, and joins it.
        await peer.call("create_room", room="dice-table")
        await peer.call("join", room="dice-table")
        await peer.call("send", room="dice-table", text="/roll 2d6")
        with anyio.fail_after(5):
            while True:
                frame = await peer.next()
                if frame["type"] == "message" and frame["from"]["name"] == "Dice @dice":
                    break
        assert re.fullmatch(r"Alice @alice\w+ rolled 2d6: \d \+ \d = \d+", frame["text"])
        assert frame["reply_to"] == 1
        await peer.ws.disconnect()
    finally:
        signals.message_posted.disconnect(receiver)
        signals.chat_event.disconnect(broken)


@pytest.mark.usefixtures("chat_runtime", "hooked")
async def test_a_user_who_turned_emails_off_gets_none() -> None:
    alice = await sync_to_async(lambda: with_email(make_user("alice")))()
    carol = await sync_to_async(lambda: with_email(make_user("carol"), on=False))()
    dave = await sync_to_async(lambda: with_email(make_user("dave")))()
    peer = await Peer.open(alice)
    await peer.call("create_room", room=f"mention-{alice.pk}")
    await peer.call("join", room=f"mention-{alice.pk}")
    await peer.call("send", room=f"mention-{alice.pk}", text=f"@{carol.username} @{dave.username}")
    [email] = await mails_to(dave.email)
    assert f"wrote to you in #mention-{alice.pk}" in email.body
    await anyio.sleep(0.3)  # Carol's window ended with Dave's: nothing comes for her
    assert [m for m in mail.outbox if carol.email in m.to] == []
    await peer.ws.disconnect()


@pytest.fixture(scope="module")
def webhooks() -> Iterator[tuple[Receiver, str]]:
    yield from receiving()


@pytest.fixture(scope="module")
def hooked_site(
    test_database: str,
    tmp_path_factory: pytest.TempPathFactory,
    webhooks: tuple[Receiver, str],
) -> Iterator[Site]:
    outbox = tmp_path_factory.mktemp("mail")
    events = tmp_path_factory.mktemp("events") / "events.jsonl"
    with serve(
        test_database,
        CHATBOARD_HOOKS=HOOKS,
        CHATBOARD_NOTIFY_WINDOW="200",
        EMAIL_BACKEND="django.core.mail.backends.filebased.EmailBackend",
        EMAIL_FILE_PATH=str(outbox),
        CHATBOARD_URL="http://chat.example",
        PYTHONPATH=f"{CHATBOARD}:{ROOT}",
        HOOKS_EVENTS_FILE=str(events),
        HOOKS_WEBHOOK_URL=webhooks[1] + "/events",
    ) as (site,):
        site.outbox = outbox  # type: ignore[attr-defined]
        site.events = events  # type: ignore[attr-defined]
        yield site


async def written_mail(outbox: Path) -> str:
    """The one email the server process writes to ``outbox`` (at most 10 s), once whole:
    Django's file backend creates the file, then writes the message and a line of dashes."""
    for _ in range(200):
        written = await anyio.to_thread.run_sync(lambda: list(outbox.iterdir()))
        if written:
            [only] = written
            text = await anyio.to_thread.run_sync(only.read_text)
            if text.endswith("-" * 79 + "\n"):
                return text
        await anyio.sleep(0.05)  # another process writes it: there is nothing to wait on
    raise AssertionError("no whole email was written")


@pytest.mark.network
async def test_hooks_over_uvicorn(hooked_site: Site, webhooks: tuple[Receiver, str]) -> None:
    outbox: Path = hooked_site.outbox  # type: ignore[attr-defined]
    async with (
        Browserless.sign_up(hooked_site, "eve") as eve,
        Browserless.sign_up(hooked_site, "fay") as fay,
        eve.socket() as ws,
    ):
        model = get_user_model()
        fay_id = await sync_to_async(
            lambda: with_email(model.objects.get(username=fay.username)).pk
        )()
        await next_of(ws, "welcome")
        await call(ws, "create_room", 1, room=f"table-{fay_id}")
        await call(ws, "join", 2, room=f"table-{fay_id}")
        await call(ws, "send", 3, room=f"table-{fay_id}", text="darn dice")
        [masked] = (await call(ws, "history", 30, room=f"table-{fay_id}"))["messages"]
        assert masked["text"] == "d**n dice"
        refused = await call(ws, "send", 4, room=f"table-{fay_id}", text="spam")
        assert refused["code"] == "rejected"
        await call(ws, "send", 5, room=f"table-{fay_id}", text="/roll d20")
        with anyio.fail_after(5):
            while (answer := await next_of(ws, "message"))["from"]["name"] != "Dice @dice":
                pass
        assert re.fullmatch(r"eve\w+ @eve\w+ rolled 1d20: \d+", answer["text"])
        room = (await call(ws, "direct", 6, to=str(fay_id)))["room"]["name"]
        await call(ws, "join", 7, room=room)
        await call(ws, "send", 8, room=room, text="see you tomorrow")
        text = await written_mail(outbox)
        assert f"To: {fay.username}@example.com" in text
        assert "see you tomorrow" in text
        assert f"http://chat.example/rooms/{room}/" in text
    # The Django signals were sent, in order, from a thread where the ORM answered.
    lines = await anyio.to_thread.run_sync(hooked_site.events.read_text)  # type: ignore[attr-defined]
    table = [json.loads(line) for line in lines.splitlines()]
    table = [e for e in table if e["room"] == f"table-{fay_id}"]
    assert [e["kind"] for e in table][:2] == ["room_created", "user_joined"]
    posted = [e["message"]["text"] for e in table if e["kind"] == "message_posted"]
    assert posted[:2] == ["d**n dice", "/roll d20"]
    assert posted[2].startswith("eve")  # the bot's answer
    assert all(e["users"] >= 2 for e in table)
    # And the webhook receiver got the same messages, signed.
    seen, _ = webhooks

    def hooked() -> list[str]:
        return [
            event["message"]["text"]
            for _, _, events in list(seen.requests)
            for event in events
            if event["room"] == f"table-{fay_id}" and event["kind"] == "message_posted"
        ]

    await until(lambda: len(hooked()) == 3)
    assert hooked()[:2] == ["d**n dice", "/roll d20"]
    assert seen.bad_signatures == 0


@pytest.mark.browser
@pytest.mark.network
async def test_a_refused_message_and_the_dice_bot_in_chromium(hooked_site: Site) -> None:
    """In the room page: a refused message stays in the input with the hook's words; ``/roll``
    gets the dice bot's answer as a reply."""
    from playwright.async_api import Error, expect

    from ..helpers import chromium
    from .test_browser import create_and_enter, sign_up

    expect.set_options(timeout=10_000)
    errors: list[Error] = []
    async with chromium() as browser:
        context = await browser.new_context(base_url=hooked_site.url)
        page = await context.new_page()

        def record(error: Error) -> None:
            errors.append(error)

        page.on("pageerror", record)
        username = f"gus{secrets.token_hex(3)}"
        await sign_up(hooked_site, page, username)
        await create_and_enter(page, f"dice-{secrets.token_hex(3)}", page)
        await page.fill("#text", "buy spam")
        await page.press("#text", "Enter")
        await expect(page.locator("#send-error")).to_have_text("no spam here, please")
        await expect(page.locator("#text")).to_have_value("buy spam")
        await page.fill("#text", "/roll 2d6")
        await page.press("#text", "Enter")
        answer = page.locator("#log .message", has_text="rolled 2d6")
        await expect(answer.locator(".author")).to_have_text("Dice")
        await expect(answer.locator(".quote .quote-text")).to_have_text("/roll 2d6")
        await expect(page.locator("#members")).to_contain_text("Dice")
        await context.close()
    assert errors == []
