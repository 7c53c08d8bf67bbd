"""The serve demo (examples/serve_demo: chatcore.js) in headless Chromium against ``chatcore
serve --guests``: two guests chat, text stays text, and a drain's 1012 brings them back."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from playwright.async_api import Browser, Page, expect

from tests.helpers import chromium
from tests.starlette.example_server import ROOT

from .serve_process import Serve

pytestmark = [pytest.mark.browser, pytest.mark.network, pytest.mark.anyio]

XSS = "<img src=x onerror=alert(1)>"


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    expect.set_options(timeout=10_000)
    try:
        async with chromium() as browser:
            yield browser
    finally:
        expect.set_options(timeout=None)


@pytest.fixture
def demo() -> Iterator[Serve]:
    server = Serve("--guests", "--static", str(ROOT / "examples" / "serve_demo"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def guest(browser: Browser, demo: Serve) -> Page:
    page = await (await browser.new_context()).new_page()
    await page.goto(demo.url)
    await expect(page.locator("#me")).not_to_have_text("…")
    return page


async def test_two_guests_chat_through_chatcore_js(browser: Browser, demo: Serve) -> None:
    ann, bob = await guest(browser, demo), await guest(browser, demo)
    bob_name = await bob.locator("#me").inner_text()
    await expect(ann.locator("#members")).to_contain_text(bob_name)
    dialogs: list[str] = []
    ann.on("dialog", lambda dialog: dialogs.append(dialog.message))
    await bob.fill("#text", "hello from bob")
    await bob.press("#text", "Enter")
    await expect(ann.locator("#log p").filter(has_text="hello from bob")).to_have_count(1)
    await ann.fill("#text", XSS)
    await ann.press("#text", "Enter")
    await expect(bob.locator("#log p").filter(has_text=XSS)).to_have_count(1)
    assert await bob.locator("#log img").count() == 0
    assert dialogs == []
