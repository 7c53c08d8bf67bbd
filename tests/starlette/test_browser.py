"""chatcore.js in headless Chromium against the example app in a real uvicorn process."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest
from playwright.async_api import Browser, Dialog, Locator, Page, expect

from tests.helpers import chromium
from tests.starlette.example_server import ROOT, ExampleServer

pytestmark = [pytest.mark.browser, pytest.mark.network, pytest.mark.anyio]

SCREENSHOT = ROOT / "docs" / "img" / "starlette-chat.png"
XSS = "<img src=x onerror=alert(1)>"


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    expect.set_options(timeout=10_000)  # a shared 2-core machine can be slow; no test waits it out
    try:
        async with chromium() as browser:
            yield browser
    finally:
        expect.set_options(timeout=None)  # back to Playwright's default for other suites


class Person:
    """One browser context (its own cookies) logged in as ``name``."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.dialogs: list[str] = []

    @classmethod
    async def log_in(cls, browser: Browser, server: ExampleServer, name: str) -> Person:
        context = await browser.new_context(viewport={"width": 1100, "height": 640})
        person = cls(await context.new_page())
        person.page.on("dialog", person._on_dialog)
        await person.page.goto(server.url)
        await person.page.fill("#login-name", name)
        await person.page.click("button[type=submit]")
        await expect(person.page.locator("#status")).to_have_attribute("data-state", "open")
        await expect(person.page.locator("#me")).to_have_text(name)
        return person

    async def _on_dialog(self, dialog: Dialog) -> None:
        self.dialogs.append(dialog.message)
        await dialog.dismiss()

    async def create_room(self, name: str) -> None:
        await self.page.fill("#new-room", name)
        await self.page.click("#create-room button")
        await expect(self.page.locator("#room-title")).to_have_text(name)

    async def open_room(self, name: str) -> None:
        await self.page.click(f"#rooms li[data-room='{name}'] button")
        await expect(self.page.locator("#room-title")).to_have_text(name)
        await expect(self.page.locator("#composer-text")).to_be_enabled()

    async def say(self, text: str) -> None:
        await self.page.fill("#composer-text", text)
        await self.page.press("#composer-text", "Enter")

    async def sees(self, text: str, private: bool = False) -> None:
        selector = "#log .msg.private .text" if private else "#log .msg .text"
        await expect(self.page.locator(selector).filter(has_text=text)).to_have_count(1)

    async def texts(self) -> list[str]:
        return await self.page.locator("#log .msg .text").all_inner_texts()


async def test_chat_in_two_browsers(browser: Browser, tmp_path: Path) -> None:
    server = ExampleServer(grace_ms=300)
    server.start()
    try:
        alice = await Person.log_in(browser, server, "Alice")
        bob = await Person.log_in(browser, server, "Bob")
        carol = await Person.log_in(browser, server, "Carol")
        await alice.create_room("lobby")
        await bob.open_room("lobby")  # the room list is live: no reload
        await carol.open_room("lobby")
        await expect(alice.page.locator("#members li")).to_have_count(3)

        await alice.say("Hello Bob")
        await bob.sees("Hello Bob")
        await bob.say("Hi Alice, how are you?")
        await alice.sees("Hi Alice, how are you?")

        await alice.page.click("#members li[data-user='bob'] button")
        await alice.say("psst, just for you")
        await alice.sees("psst, just for you", private=True)
        await bob.sees("psst, just for you", private=True)
        await alice.page.click("#private-cancel")
        await alice.say("and now for everyone")
        await carol.sees("and now for everyone")
        assert "psst, just for you" not in await carol.texts()
        await expect(carol.page.locator("#log .msg.private")).to_have_count(0)

        await bob.say(XSS)
        for person in (alice, bob, carol):
            await expect(person.page.locator("#log .msg .text").last).to_have_text(XSS)
        await carol.say("that was only text")
        for person in (alice, bob, carol):
            await person.sees("that was only text")
            await expect(person.page.locator("#log img")).to_have_count(0)
            assert person.dialogs == []

        shot = tmp_path / "starlette-chat.png"
        await alice.page.screenshot(path=str(shot))
        if os.environ.get("CHATCORE_UPDATE_SCREENSHOTS"):
            SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(shot, SCREENSHOT)

        # Closed and opened again, the client resumes: what it missed comes once, in order.
        await alice.page.evaluate("chat.close()")
        await expect(alice.page.locator("#status")).to_have_attribute("data-state", "closed")
        for n in range(3):
            await bob.say(f"while Alice was away {n}")
        await bob.sees("while Alice was away 2")
        await alice.page.evaluate("chat.connect()")
        await alice.sees("while Alice was away 2")
        public = "#log .msg:not(.private) .text"
        assert await alice.page.locator(public).all_inner_texts() == [
            "Hello Bob",
            "Hi Alice, how are you?",
            "and now for everyone",
            XSS,
            "that was only text",
            *(f"while Alice was away {n}" for n in range(3)),
        ]

        await anyio.to_thread.run_sync(server.restart)  # same port; memory starts empty
        for person in (alice, bob):
            await expect(person.page.locator("#status")).to_have_attribute(
                "data-state", "open", timeout=20_000
            )
            await expect(person.page.locator("#room-title")).to_have_text(
                "That room is gone; pick another"
            )
        await alice.create_room("again")
        await bob.open_room("again")
        await alice.say("we are back")
        await bob.sees("we are back")
    finally:
        server.stop()


def message(person: Person, text: str) -> Locator:
    """The message of ``person``'s log whose text is ``text``."""
    own_text = person.page.locator(".text", has_text=re.compile(f"^{re.escape(text)}$"))
    return person.page.locator("#log li.msg", has=own_text)


async def test_replies_edits_reactions_and_deletions_show_live(browser: Browser) -> None:
    server = ExampleServer(grace_ms=300)
    server.start()
    try:
        alice = await Person.log_in(browser, server, "Alice")
        bob = await Person.log_in(browser, server, "Bob")
        await alice.create_room("party")  # Alice owns it: she may delete any message
        await bob.open_room("party")
        await expect(alice.page.locator("#members li")).to_have_count(2)
        await alice.say("Who brings the cake?")
        question = message(bob, "Who brings the cake?")
        await expect(question).to_have_count(1)
        # Only the author edits; only the author or the room's owner deletes.
        await expect(question.locator(".actions .edit")).to_have_count(0)
        await expect(question.locator(".actions .delete")).to_have_count(0)

        await question.locator(".actions .reply").click()
        await expect(bob.page.locator("#compose-mode-text")).to_have_text(
            "Replying to Alice: Who brings the cake?"
        )
        await bob.say("I do")
        answer = message(alice, "I do")
        await expect(answer.locator(".quote")).to_have_text("Alice: Who brings the cake?")
        await expect(answer.locator(".text")).to_have_attribute("dir", "auto")
        await expect(answer.locator(".actions .edit")).to_have_count(0)
        await expect(answer.locator(".actions .delete")).to_have_count(1)

        await message(alice, "Who brings the cake?").locator(".actions .edit").click()
        await expect(alice.page.locator("#composer-text")).to_have_value("Who brings the cake?")
        await alice.page.fill("#composer-text", f"Who brings the cake on Friday? {XSS}")
        await alice.page.press("#composer-text", "Enter")
        edited = f"Who brings the cake on Friday? {XSS}"
        await expect(message(bob, edited).locator(".edited")).to_have_text("(edited)")
        await expect(message(bob, "I do").locator(".quote")).to_have_text(f"Alice: {edited}")

        await message(bob, edited).locator(".actions .react[data-emoji='🎉']").click()
        chip = message(alice, edited).locator(".chip[data-emoji='🎉']")
        await expect(chip).to_have_text("🎉 1")
        await expect(chip).to_have_attribute("aria-pressed", "false")
        await chip.click()  # Alice adds hers
        await expect(message(bob, edited).locator(".chip[data-emoji='🎉']")).to_have_text("🎉 2")
        await expect(chip).to_have_attribute("aria-pressed", "true")
        await message(bob, edited).locator(".chip[data-emoji='🎉']").click()  # Bob takes his off
        await expect(chip).to_have_text("🎉 1")

        await message(alice, edited).locator(".actions .delete").click()
        for person in (alice, bob):
            gone = person.page.locator("#log li.msg.deleted")
            await expect(gone.locator(".text")).to_have_text("This message was deleted.")
            await expect(gone.locator(".chip")).to_have_count(0)
            await expect(message(person, "I do").locator(".quote")).to_have_text("deleted")
        await message(alice, "I do").locator(".actions .delete").click()  # the owner's right
        await expect(bob.page.locator("#log li.msg.deleted")).to_have_count(2)
        for person in (alice, bob):
            await expect(person.page.locator("#log img")).to_have_count(0)
            assert person.dialogs == []
    finally:
        server.stop()
