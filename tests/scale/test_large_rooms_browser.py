"""ChatBoard's large rooms and online dots in headless Chromium, on two processes with Redis.

``presence_limit`` is lowered to 2 (``CHATCORE_LIMITS``), so a room of four is large: the page
shows the member count and finds a member by name prefix. Online dots on the People page follow
another browser's user live, as that user's page opens and closes on the other process.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from contextlib import AsyncExitStack

import pytest

from tests.django.conftest import Site
from tests.django.test_browser import sign_up
from tests.helpers import chromium
from tests.scale.test_chatboard import Boards, board_pair

pytestmark = [pytest.mark.anyio, pytest.mark.network, pytest.mark.browser]


@pytest.fixture(scope="module")
def large_boards() -> Iterator[list[Site]]:
    limits = json.dumps({"presence_limit": 2, "occupancy_interval": 300})
    with board_pair("large", CHATCORE_LIMITS=limits) as sites:
        yield sites


async def test_a_large_room_shows_its_count_and_finds_members_and_dots_go_live(
    large_boards: list[Site],
) -> None:
    from playwright.async_api import expect

    sites = large_boards
    tag = secrets.token_hex(3)
    room = f"hall-{tag}"
    async with chromium() as browser, AsyncExitStack() as stack:
        boards = Boards(sites, stack)
        errors: list[str] = []
        ann_context = await browser.new_context(base_url=sites[0].url)
        ann = await ann_context.new_page()
        ann.on("pageerror", lambda error: errors.append(str(error)))
        await sign_up(sites[0], ann, f"ann{tag}")
        await ann.goto("/")
        await ann.fill("#create-room input[name=room]", room)
        await ann.click("#create-room button")
        await expect(ann.locator(f'#rooms li[data-room="{room}"]')).to_have_count(1)

        # Three more members, by socket, on both processes: four is over the limit of 2.
        others = [await boards.account(prefix) for prefix in ("bea", "bob", "cid")]
        for index, account in enumerate(others):
            tab = await boards.tab(account, index % 2)
            await tab.request("join", room=room)
        await ann.goto(f"/rooms/{room}/")
        await expect(ann.locator("#member-count")).to_have_text("(4)")
        await expect(ann.locator("#member-search")).to_be_visible()
        await ann.fill("#member-search", "bo")
        await expect(ann.locator("#members li")).to_have_count(1)
        await expect(ann.locator("#members li")).to_contain_text(others[1].username)
        # One more joins on the other process: the count follows (occupancy).
        late = await boards.account("dan")
        await (await boards.tab(late, 1)).request("join", room=room)
        await expect(ann.locator("#member-count")).to_have_text("(5)")

        # Ben signs up in a second browser; Ann's People page shows him offline, then online
        # while his page (on the other process) is open, then offline again.
        ben_context = await browser.new_context(base_url=sites[1].url)
        ben = await ben_context.new_page()
        await sign_up(sites[1], ben, f"ben{tag}")
        await ann.goto("/people/")
        ben_dot = ann.locator(f'#people li:has-text("@ben{tag}") .dot')
        await expect(ben_dot).to_have_count(1)
        await expect(ben_dot).not_to_have_class("dot online")
        await ben.goto("/people/")
        await expect(ben_dot).to_have_class("dot online")
        ann_dot = ben.locator(f'#people li:has-text("@ann{tag}") .dot')
        await expect(ann_dot).to_have_class("dot online")
        await ben_context.close()
        await expect(ben_dot).to_have_class("dot", timeout=15_000)
        assert errors == []
