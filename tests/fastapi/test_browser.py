"""The FastAPI example's page in headless Chromium against a real uvicorn process."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from playwright.async_api import Browser, Page, expect

from tests.fastapi.fastapi_server import FastAPIServer
from tests.helpers import chromium

pytestmark = [pytest.mark.browser, pytest.mark.network, pytest.mark.anyio]

XSS = "<img src=x onerror=alert(1)>"


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    expect.set_options(timeout=10_000)  # a shared 2-core machine can be slow
    try:
        async with chromium() as browser:
            yield browser
    finally:
        expect.set_options(timeout=None)


async def log_in(browser: Browser, server: FastAPIServer, name: str, dialogs: list[str]) -> Page:
    page = await (await browser.new_context()).new_page()
    page.on("dialog", lambda dialog: dialogs.append(dialog.message))
    await page.goto(server.url)
    await page.fill("#login input[name=name]", name)
    await page.click("#login button")
    await expect(page.locator("#me")).to_have_text(name)
    await expect(page.locator("#status")).to_have_attribute("data-state", "joined")
    return page


async def test_two_people_chat_and_an_http_post_shows_on_both_pages(browser: Browser) -> None:
    server = FastAPIServer(grace_ms=300)
    server.start()
    try:
        dialogs: list[str] = []
        alice = await log_in(browser, server, "Alice", dialogs)
        bob = await log_in(browser, server, "Bob", dialogs)
        await expect(alice.locator("#log li.notice")).to_have_text(["Alice joined", "Bob joined"])
        await alice.fill("#composer input", XSS)
        await alice.press("#composer input", "Enter")
        for page in (alice, bob):
            await expect(page.locator("#log li:not(.notice)")).to_have_text([f"Alice: {XSS}"])

        cookies = server.login("Carol")
        async with httpx.AsyncClient(base_url=server.url, cookies=cookies) as http:
            response = await http.post("/rooms/lobby/messages", json={"text": "from HTTP"})
        assert response.status_code == 201
        for page in (alice, bob):
            await expect(page.locator("#log li").last).to_have_text("Carol: from HTTP")

        await bob.click("#logout")  # his socket is closed (4401), and the page shows the login
        await expect(bob.locator("#login")).to_be_visible()
        await expect(alice.locator("#log li.notice").last).to_have_text("Bob left")
        assert dialogs == []  # the markup was shown as text, never run
    finally:
        server.stop()
