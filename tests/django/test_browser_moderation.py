"""Moderation in ChatBoard, end to end in headless Chromium: a room's owner mutes, kicks and bans
a member across two browsers, a private room stays hidden from a third user until invited, and
a block refuses private messages. ``tests/scale`` runs the same scenario on two processes."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from ..helpers import chromium
from .conftest import Site
from .test_browser import SHOTS, create_and_enter, signed_up

pytestmark = [pytest.mark.anyio, pytest.mark.browser, pytest.mark.network]


@pytest.fixture
async def browser() -> AsyncIterator[object]:
    async with chromium() as browser:
        yield browser


async def test_moderation_in_chromium(site: Site, browser: object) -> None:
    await moderation_scenario({"ann": site, "ben": site, "cat": site}, browser)


async def moderation_scenario(sites: dict[str, Site], browser: object) -> None:
    """Ann owns a room; Ben is in it (each on their own site: the same one, or two processes
    of one board); Cat is a third user."""
    from playwright.async_api import expect

    tag, names, pages, errors = await signed_up(sites, browser)
    ann, ben, cat = pages["ann"], pages["ben"], pages["cat"]

    room = f"mod-{tag}"
    await create_and_enter(ann, room, ann, ben)
    ben_in_ann = ann.locator("#members li", has_text=f"@{names['ben']}")
    await expect(ben_in_ann).to_have_count(1)
    # The menu is Ann's (she owns the room): Ben sees none, not even on Ann.
    await expect(ben_in_ann.locator(".mod-menu")).to_have_count(1)
    await expect(ben.locator("#members li", has_text=f"@{names['ann']}")).to_have_count(1)
    await expect(ben.locator(".mod-menu")).to_have_count(0)

    async def moderate(action: str) -> None:
        await ben_in_ann.locator(".mod-menu summary").click()
        await ben_in_ann.locator(f'[data-action="{action}"]').click()

    # The menu, open (docs/chatboard.md shows it).
    await ben_in_ann.locator(".mod-menu summary").click()
    await expect(ben_in_ann.locator('[data-action="ban-day"]')).to_be_visible()
    SHOTS.mkdir(parents=True, exist_ok=True)
    await ann.screenshot(path=str(SHOTS / "chatboard-moderation.png"))
    await ben_in_ann.locator(".mod-menu summary").click()

    # A mute: Ben is told, and his messages are refused; he still reads.
    await moderate("mute")
    await expect(ben.locator("#log .notice", has_text="You were muted")).to_have_count(1)
    await ben.fill("#text", "can I talk?")
    await ben.press("#text", "Enter")
    await expect(ben.locator("#send-error")).to_contain_text("muted")
    await ann.fill("#text", "quiet please")
    await ann.press("#text", "Enter")
    await expect(ben.locator("#log .message", has_text="quiet please")).to_have_count(1)
    await moderate("unmute")
    await expect(ben.locator("#log .notice", has_text="You were unmuted")).to_have_count(1)
    await ben.fill("#text", "sorry")
    await ben.press("#text", "Enter")
    await expect(ann.locator("#log .message", has_text="sorry")).to_have_count(1)

    # A kick: Ben is out at once (Ann's member list too), and may come back.
    await moderate("kick")
    await expect(ben.locator("#log .notice", has_text="You were removed")).to_have_count(1)
    await expect(ben.locator("#text")).to_be_disabled()
    await expect(ben_in_ann).to_have_count(0)
    await ben.reload()
    await expect(ben.locator("#text")).to_be_enabled()
    await expect(ben_in_ann).to_have_count(1)

    # A ban for an hour: out, told so, and refused when he comes back.
    await moderate("ban-hour")
    await expect(ben.locator("#log .notice", has_text="You were banned")).to_have_count(1)
    await expect(ben_in_ann).to_have_count(0)
    await ben.reload()
    await expect(ben.locator("#log .notice", has_text="You are banned")).to_have_count(1)
    await expect(ben.locator("#text")).to_be_disabled()

    # Ann's page lists the ban as it happens, and again once reloaded (from the database); her
    # Unban lets Ben back in.
    ban_entry = ann.locator("#ban-list li")
    await expect(ban_entry).to_have_count(1)
    await expect(ann.locator("#no-bans")).to_be_hidden()
    await ann.reload()
    await expect(ann.locator("#text")).to_be_enabled()
    await expect(ban_entry).to_have_count(1)
    await expect(ban_entry).to_contain_text("until")
    await expect(ben.locator("#bans")).to_have_count(0)  # only moderators see who is banned
    await ban_entry.locator('[data-action="unban"]').click()
    await expect(ban_entry).to_have_count(0)
    await expect(ann.locator("#no-bans")).to_be_visible()
    await expect(ben.locator("#log .notice", has_text="You were unbanned")).to_have_count(1)
    await ben.reload()
    await expect(ben.locator("#text")).to_be_enabled()
    await expect(ben_in_ann).to_have_count(1)

    # A private room: Cat does not see it, nor get in by its address; Ben, invited, does.
    club = f"club-{tag}"
    await cat.goto("/")
    await expect(cat.locator(f'#rooms li[data-room="{room}"]')).to_have_count(1)
    await ben.goto("/")
    await ann.goto("/")
    await ann.fill("#create-room input[name=room]", club)
    await ann.check("#create-room input[name=private]")
    await ann.click("#create-room button")
    await expect(ann.locator(f'#rooms li[data-room="{club}"]')).to_contain_text("private")
    await ann.goto(f"/rooms/{club}/")
    await expect(ann.locator("#text")).to_be_enabled()
    await ann.fill("#invite-name", names["ben"])
    await ann.click("#invite button")
    await expect(ann.locator("#log .notice", has_text="may join now")).to_have_count(1)
    await expect(ben.locator(f'#rooms li[data-room="{club}"]')).to_have_count(1)
    response = await cat.goto(f"/rooms/{club}/")
    assert response is not None
    assert response.status == 404
    await cat.goto("/")
    await expect(cat.locator(f'#rooms li[data-room="{room}"]')).to_have_count(1)
    await expect(cat.locator(f'#rooms li[data-room="{club}"]')).to_have_count(0)
    await ben.goto(f"/rooms/{club}/")
    await expect(ben.locator("#text")).to_be_enabled()

    # A block: Ann blocks Ben on his profile; his private message to her is refused.
    await ann.goto(f"/users/{names['ben']}/")
    await ann.click("#block")
    await expect(ann.locator("#block")).to_have_text("Unblock")
    await ben.reload()
    await expect(ben.locator("#text")).to_be_enabled()
    await ben.locator("#members li", has_text=f"@{names['ann']}").locator(".member").click()
    await ben.fill("#text", "psst")
    await ben.press("#text", "Enter")
    await expect(ben.locator("#send-error")).to_contain_text("may not message")
    await ann.click("#block")
    await expect(ann.locator("#block")).to_have_text("Block")
    assert errors == []


async def test_staff_ban_and_unban_from_a_room_they_do_not_moderate(
    site: Site, browser: object
) -> None:
    """Staff act in any room (StaffPolicy) but get no room's `moderation` events: their page's
    ban list follows what they do from it."""
    from asgiref.sync import sync_to_async
    from django.contrib.auth import get_user_model
    from playwright.async_api import expect

    tag, names, pages, errors = await signed_up({"ann": site, "ben": site, "dee": site}, browser)
    ann, ben, dee = pages["ann"], pages["ben"], pages["dee"]
    await sync_to_async(
        lambda: get_user_model().objects.filter(username=names["dee"]).update(is_staff=True)
    )()
    await create_and_enter(ann, f"staff-{tag}", ben, dee)
    await expect(dee.locator("#no-bans")).to_be_visible()
    ben_in_dee = dee.locator("#members li", has_text=f"@{names['ben']}")
    await ben_in_dee.locator(".mod-menu summary").click()
    await ben_in_dee.locator('[data-action="ban"]').click()
    await expect(ben.locator("#log .notice", has_text="You were banned")).to_have_count(1)
    ban_entry = dee.locator("#ban-list li")
    await expect(ban_entry).to_have_count(1)
    await expect(ban_entry).not_to_contain_text("until")  # for ever
    await ban_entry.locator('[data-action="unban"]').click()
    await expect(ban_entry).to_have_count(0)
    await expect(ben.locator("#log .notice", has_text="You were unbanned")).to_have_count(1)
    assert errors == []
