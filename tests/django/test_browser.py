"""ChatBoard end to end in headless Chromium: the issue's scenario, three people, one server."""

from __future__ import annotations

import functools
import io
import os
import re
import secrets
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from PIL import Image

from ..helpers import chromium
from .conftest import ROOT, Site

if TYPE_CHECKING:
    from playwright.async_api import Page

pytestmark = [pytest.mark.anyio, pytest.mark.browser, pytest.mark.network]

# Screenshots go to docs/img only when asked for, so a test run leaves tracked files alone.
SHOTS = (
    ROOT / "docs" / "img"
    if os.environ.get("CHATCORE_UPDATE_SCREENSHOTS")
    else Path(tempfile.gettempdir()) / "chatboard-screenshots"
)
PASSWORD = "browser-test-password-271"
XSS_NAME = '<img src=x onerror="window.pwned=1">Ann'
XSS_TITLE = "<b>Bold</b> <script>window.pwned=2</script>"
XSS_TEXT = "<script>window.pwned=3</script><i>hi</i> Ben"
XSS_ABOUT = "I test <b>things</b><script>window.pwned=4</script>."
# Notifications allowed, recorded in window.notes, and a tab hidden while window.hidden is set.
FAKE_NOTIFICATIONS = """
window.Notification = class {
  static permission = "granted";
  static requestPermission() { return Promise.resolve("granted"); }
  constructor(title, options) { (window.notes ||= []).push({ title, ...options }); }
  addEventListener() {}
  close() {}
};
Object.defineProperty(Document.prototype, "visibilityState", {
  configurable: true,
  get() { return window.hidden ? "hidden" : "visible"; },
});
"""


@pytest.fixture
async def browser() -> AsyncIterator[object]:
    async with chromium() as browser:
        yield browser


def avatar_png() -> bytes:
    image = Image.new("RGB", (320, 320), (47, 111, 219))
    for x in range(80, 240):
        for y in range(80, 240):
            if (x - 160) ** 2 + (y - 160) ** 2 < 80**2:
                image.putpixel((x, y), (255, 196, 61))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


async def sign_up(site: Site, page: Page, username: str) -> None:
    from playwright.async_api import expect

    await page.goto("/accounts/signup/")
    await page.fill("#id_username", username)
    await page.fill("#id_password1", PASSWORD)
    await page.fill("#id_password2", PASSWORD)
    await page.click("button[type=submit]")
    await expect(page).to_have_url(f"{site.url}/accounts/profile/")


async def test_chatboard_scenario(site: Site, browser: object) -> None:
    from playwright.async_api import Browser, Dialog, Error, FilePayload, expect

    assert isinstance(browser, Browser)
    expect.set_options(timeout=10_000)
    tag = secrets.token_hex(3)
    names = {who: f"{who}{tag}" for who in ("ann", "ben", "cat")}
    pages: dict[str, Page] = {}
    errors: list[str] = []

    def record(who: str, error: Error) -> None:
        errors.append(f"{who}: {error}")

    async def accept(dialog: Dialog) -> None:
        await dialog.accept()

    for who in names:
        context = await browser.new_context(
            base_url=site.url, viewport={"width": 1100, "height": 760}
        )
        page = await context.new_page()
        page.on("pageerror", functools.partial(record, who))
        page.on("dialog", accept)
        pages[who] = page
    ann, ben, cat = pages["ann"], pages["ben"], pages["cat"]

    async def log_in(page: Page, username: str) -> None:
        await page.goto("/accounts/login/")
        await page.fill("#id_username", username)
        await page.fill("#id_password", PASSWORD)
        await page.click("main button[type=submit]")
        await expect(page).to_have_url(f"{site.url}/")

    for who, page in pages.items():
        await sign_up(site, page, names[who])

    # Ann's profile: an HTML display name (shown as text) and an avatar, resized by the site.
    await ann.fill("#id_display_name", XSS_NAME)
    await ann.fill("#id_about", XSS_ABOUT)
    await ann.set_input_files(
        "#id_avatar", files=[FilePayload(name="me.png", mimeType="image/png", buffer=avatar_png())]
    )
    await ann.click("main button[type=submit]")
    await expect(ann.locator(".flash")).to_contain_text("Profile saved")
    await expect(ann.locator(".profile-head strong")).to_have_text(XSS_NAME)
    avatar = await ann.locator("#avatar").get_attribute("src")
    assert avatar is not None
    assert avatar.startswith("/media/avatars/")
    assert await ann.evaluate("document.querySelector('#avatar').naturalWidth") == 256
    await ben.fill("#id_display_name", "Ben")
    await ben.click("main button[type=submit]")
    await expect(ben.locator(".flash")).to_contain_text("Profile saved")
    # Cat takes the same display name: the chat tells the two apart by their @username.
    await cat.fill("#id_display_name", "Ben")
    await cat.click("main button[type=submit]")
    await expect(cat.locator(".flash")).to_contain_text("Profile saved")
    ben_joined, ben_typing = f"Ben @{names['ben']} joined", f"Ben @{names['ben']} is typing…"
    # Ben reads Ann's profile: her about text is shown as text.
    await ben.goto(f"/users/{names['ann']}/")
    await expect(ben.locator(".about")).to_have_text(XSS_ABOUT)
    await expect(ben.locator(".about b, .about script")).to_have_count(0)

    # Ben watches the room list while Ann creates a room: it appears without a reload.
    await ben.goto("/")
    await ann.goto("/")
    room = f"e2e-{tag}"
    await ann.fill("#create-room input[name=room]", room)
    await ann.fill("#create-room input[name=title]", XSS_TITLE)
    await ann.click("#create-room button")
    ben_room = ben.locator(f'#rooms li[data-room="{room}"] .room-link')
    await expect(ben_room).to_have_text(XSS_TITLE)

    # Both in the room: member lists, join notice, messages both ways, typing.
    await ann.goto(f"/rooms/{room}/")
    await expect(ann.locator("#text")).to_be_enabled()
    await ben_room.click()
    await expect(ben.locator("#text")).to_be_enabled()
    await expect(ann.locator("#log .notice", has_text=ben_joined)).to_have_count(1)
    await expect(ann.locator("#members .member")).to_have_count(2)
    await expect(ben.locator("#members .member", has_text=XSS_NAME)).to_have_count(1)
    await ann.fill("#text", XSS_TEXT)
    await ann.press("#text", "Enter")
    await expect(ben.locator("#log .message .text").last).to_have_text(XSS_TEXT)
    await expect(ben.locator("#log .message .author").last).to_have_text(XSS_NAME)
    await expect(ben.locator("#log .message .handle").last).to_have_text(f"@{names['ann']}")
    await ben.type("#text", "Hello An")
    await expect(ann.locator("#typing")).to_have_text(ben_typing)
    await ben.press("#text", "Enter")
    await expect(ann.locator("#log .message .text").last).to_have_text("Hello An")
    await expect(ann.locator("#typing")).to_have_text("")

    # A private message from Ann to Ben: both see it marked, Cat (in the room) never does.
    await cat.goto(f"/rooms/{room}/")
    await expect(cat.locator("#text")).to_be_enabled()
    await expect(ann.locator("#members .member")).to_have_count(3)
    # Two members called Ben, each shown with their own @username.
    await expect(ann.locator("#members .member .name")).to_have_text([XSS_NAME, "Ben", "Ben"])
    handles = await ann.locator("#members .member .handle").all_inner_texts()
    assert sorted(handles) == sorted(f"@{names[who]}" for who in names)
    await expect(ann.locator("#log .message .handle").last).to_have_text(f"@{names['ben']}")
    # A second tab of Ben's: still one Ben in the member list, and no second join notice.
    ben2 = await ben.context.new_page()
    await ben2.goto(f"/rooms/{room}/")
    await expect(ben2.locator("#text")).to_be_enabled()
    await expect(ben2.locator("#log .message .text")).to_have_text([XSS_TEXT, "Hello An"])
    await expect(ann.locator("#members .member")).to_have_count(3)
    await expect(ann.locator("#log .notice", has_text=ben_joined)).to_have_count(1)
    await ann.click(f'#members .member:has-text("@{names["ben"]}")')
    await expect(ann.locator("#private-to")).to_be_visible()
    await ann.fill("#text", "just between us")
    await ann.press("#text", "Enter")
    await expect(ben.locator("#log .private .text")).to_have_text("just between us")
    await expect(ben.locator("#log .private .tag")).to_contain_text("Private from")
    await expect(ben2.locator("#log .private .text")).to_have_text("just between us")
    await expect(ann.locator("#log .private .tag")).to_have_text(f"Private to Ben @{names['ben']}")
    await expect(ben.locator("#log .private .tag")).to_have_text(
        f"Private from {XSS_NAME} @{names['ann']}"
    )
    await ann.click("#private-cancel")
    await ann.fill("#text", "everyone again")
    await ann.press("#text", "Enter")
    await expect(cat.locator("#log .message .text").last).to_have_text("everyone again")
    assert "just between us" not in await cat.locator("#log").inner_text()

    # Ann renames herself in another tab: open member lists follow without a reload.
    settings = await ann.context.new_page()
    await settings.goto("/accounts/profile/")
    await settings.fill("#id_display_name", "Ann")
    await settings.click("main button[type=submit]")
    await expect(settings.locator(".flash")).to_contain_text("Profile saved")
    await settings.close()
    await expect(ben.locator("#members .member", has_text="Ann")).to_have_count(1)
    await expect(ben.locator("#members .member", has_text="onerror")).to_have_count(0)
    await expect(
        ann.locator("#members .member", has_text=f"Ann @{names['ann']} (you)")
    ).to_have_count(1)
    await ann.screenshot(path=str(SHOTS / "chatboard-room.png"))

    # Ben leaves (after the grace period Ann sees it) and comes back to the history.
    await ben2.close()
    await ben.goto("/")
    await expect(ann.locator("#log .notice", has_text=f"Ben @{names['ben']} left")).to_have_count(1)
    await expect(ann.locator("#members .member")).to_have_count(2)
    await ben.goto(f"/rooms/{room}/")
    await expect(ben.locator("#log .message .text")).to_have_text(
        [XSS_TEXT, "Hello An", "everyone again"]
    )
    # History shows each author as they are now (the avatar file of then may be gone).
    await expect(ben.locator("#log .message .author")).to_have_text(["Ann", "Ben", "Ann"])
    await expect(ben.locator("#log .message .handle")).to_have_text(
        [f"@{names['ann']}", f"@{names['ben']}", f"@{names['ann']}"]
    )

    # Ann renames and then deletes the room: Ben's open room list follows.
    await ben.goto("/")
    await ann.goto("/")
    mine = ann.locator(f'#rooms li[data-room="{room}"]')
    await mine.get_by_role("button", name="Rename").click()
    await mine.locator("input[name=title]").fill("Renamed room")
    await mine.get_by_role("button", name="Save").click()
    await expect(ben_room).to_have_text("Renamed room")
    await ann.screenshot(path=str(SHOTS / "chatboard-home.png"))
    await mine.get_by_role("button", name="Delete").click()
    await expect(ben.locator(f'#rooms li[data-room="{room}"]')).to_have_count(0)

    # Cat logs out; Ann opens their direct conversation from People and writes; Cat finds it.
    await cat.click("#logout")
    await expect(cat).to_have_url(f"{site.url}/accounts/login/")
    await ann.goto("/people/")
    await ann.locator(f'#people li:has-text("{names["cat"]}") button').click()
    await expect(ann).to_have_url(re.compile(r"/rooms/dm-[0-9a-f]+/$"))
    await expect(ann.locator("#text")).to_be_enabled()
    await ann.fill("#text", "for when you are back")
    await ann.press("#text", "Enter")
    await expect(ann.locator("#log .message .text").last).to_have_text("for when you are back")
    await log_in(cat, names["cat"])
    direct = cat.locator("#directs .room-link")
    await expect(direct).to_have_count(1)
    await direct.click()
    await expect(cat.locator("#log .message .text")).to_have_text(["for when you are back"])
    await expect(cat.locator("#room-title")).to_have_text("Ann")

    await ann.goto("/accounts/profile/")
    await ann.screenshot(path=str(SHOTS / "chatboard-profile.png"))
    for page in pages.values():
        assert await page.evaluate("window.pwned") is None
    assert errors == []


async def test_messages_beyond_text(site: Site, browser: object) -> None:
    """Replies, edits, deletions, reactions, unread badges and "seen", across two people and
    two tabs of one of them."""
    await messages_beyond_text({"ann": site, "ben": site}, browser)


async def create_and_enter(owner: Page, room: str, *pages: Page) -> None:
    """``owner`` creates ``room`` from the home page; once the room list shows it (it is made
    over the socket), each of ``pages`` opens it and may write."""
    from playwright.async_api import expect

    await owner.goto("/")
    await owner.fill("#create-room input[name=room]", room)
    await owner.click("#create-room button")
    await expect(owner.locator(f'#rooms li[data-room="{room}"]')).to_have_count(1)
    for page in pages:
        await page.goto(f"/rooms/{room}/")
        await expect(page.locator("#text")).to_be_enabled()


async def signed_up(
    sites: dict[str, Site], browser: object
) -> tuple[str, dict[str, str], dict[str, Page], list[str]]:
    """A page for each person of ``sites`` (by first name), signed up on their site as
    ``<name><tag>``, dialogs accepted: (tag, usernames, pages, the pages' errors so far)."""
    from playwright.async_api import Browser, Dialog, Error, expect

    assert isinstance(browser, Browser)
    expect.set_options(timeout=10_000)
    tag = secrets.token_hex(3)
    names = {who: f"{who}{tag}" for who in sites}
    pages: dict[str, Page] = {}
    errors: list[str] = []

    def record(who: str, error: Error) -> None:
        errors.append(f"{who}: {error}")

    async def accept(dialog: Dialog) -> None:
        await dialog.accept()

    for who in names:
        context = await browser.new_context(
            base_url=sites[who].url, viewport={"width": 1100, "height": 760}
        )
        page = await context.new_page()
        page.on("pageerror", functools.partial(record, who))
        page.on("dialog", accept)
        pages[who] = page
        await sign_up(sites[who], page, names[who])
    return tag, names, pages, errors


async def messages_beyond_text(sites: dict[str, Site], browser: object) -> None:
    """The scenario of :func:`test_messages_beyond_text`, each person on their own site (the
    same one, or two processes of one board: ``tests/scale``)."""
    from playwright.async_api import expect

    tag, names, pages, errors = await signed_up(sites, browser)
    ann, ben = pages["ann"], pages["ben"]

    # Ann creates a room (she owns it, so she moderates it); both enter.
    room = f"model-{tag}"
    await create_and_enter(ann, room, ann, ben)

    # Ben writes; Ann replies to it: both see the quote, as text.
    await ben.fill("#text", XSS_TEXT)
    await ben.press("#text", "Enter")
    first = ann.locator("#log .message", has_text=XSS_TEXT)
    await expect(first).to_have_count(1)
    first_id = await first.get_attribute("data-id")
    await first.get_by_role("button", name="Reply", exact=True).click()
    await expect(ann.locator("#reply-to")).to_contain_text(XSS_TEXT)
    await ann.fill("#text", "a reply")
    await ann.press("#text", "Enter")
    await expect(ann.locator("#reply-to")).to_be_hidden()
    for page in (ann, ben):
        reply = page.locator("#log .message", has_text="a reply")
        await expect(reply.locator(".quote")).to_have_attribute("data-quote", str(first_id))
        await expect(reply.locator(".quote .quote-text")).to_have_text(XSS_TEXT)

    # Ben edits his message in place: both see the new text, marked, and the quote follows.
    mine = ben.locator(f'#log .message[data-id="{first_id}"]')
    await mine.get_by_role("button", name="Edit", exact=True).click()
    await mine.locator("textarea").fill("first, edited")
    await mine.locator("textarea").press("Enter")
    for page in (ann, ben):
        edited = page.locator(f'#log .message[data-id="{first_id}"]')
        await expect(edited.locator(".text")).to_have_text("first, edited")
        await expect(edited.locator(".edited")).to_have_text("(edited)")
        reply = page.locator("#log .message", has_text="a reply")
        await expect(reply.locator(".quote .quote-text")).to_have_text("first, edited")
    # Ben may not edit or delete Ann's reply.
    theirs = ben.locator("#log .message", has_text="a reply")
    await expect(theirs.get_by_role("button", name="Edit", exact=True)).to_have_count(0)
    await expect(theirs.get_by_role("button", name="Delete", exact=True)).to_have_count(0)

    # Reactions: Ann picks one, Ben adds his by clicking the chip, then takes it back.
    target = ann.locator(f'#log .message[data-id="{first_id}"]')
    await target.get_by_role("button", name="React", exact=True).click()
    await target.get_by_role("button", name="React with 👍").click()
    chip = {
        page: page.locator(f'#log .message[data-id="{first_id}"] .reaction')
        for page in pages.values()
    }
    for page in (ann, ben):
        await expect(chip[page]).to_have_text("👍 1")
    await expect(chip[ann]).to_have_attribute("aria-pressed", "true")
    await expect(chip[ben]).to_have_attribute("aria-pressed", "false")
    await chip[ben].click()
    await expect(chip[ann]).to_have_text("👍 2")
    await expect(chip[ben]).to_have_attribute("aria-pressed", "true")
    await expect(chip[ann]).to_have_attribute(
        "title", re.compile(f"{names['ben']}|Ben|{names['ann']}")
    )
    await chip[ben].click()
    await expect(chip[ann]).to_have_text("👍 1")
    await expect(chip[ben]).to_have_attribute("aria-pressed", "false")

    await ann.screenshot(path=str(SHOTS / "chatboard-messages.png"))

    # Ann, the room's owner, deletes Ben's message: it stays as "deleted", and so does the quote.
    await target.get_by_role("button", name="Delete", exact=True).click()
    for page in (ann, ben):
        gone = page.locator(f'#log .message[data-id="{first_id}"]')
        await expect(gone.locator(".text")).to_have_text("This message was deleted.")
        await expect(gone.locator(".reaction")).to_have_count(0)
        await expect(gone.get_by_role("button", name="Reply", exact=True)).to_have_count(0)
        reply = page.locator("#log .message", has_text="a reply")
        await expect(reply.locator(".quote .quote-text")).to_have_text("This message was deleted.")

    # Unread: Ben's second tab shows the room list while his first is elsewhere; Ann writes
    # twice and the count goes up live; Ben views the room and it goes away in the other tab.
    home = await ben.context.new_page()
    home.on("pageerror", lambda error: errors.append(f"ben home: {error}"))
    await home.add_init_script(FAKE_NOTIFICATIONS)
    await ben.goto("/people/")
    await home.goto("/")
    badge = home.locator(f'#rooms li[data-room="{room}"] .badge')
    await expect(home.locator(f'#rooms li[data-room="{room}"]')).to_have_count(1)
    await expect(badge).to_have_count(0)
    for text in ("are you there?", "hello?"):
        await ann.fill("#text", text)
        await ann.press("#text", "Enter")
        await expect(ann.locator("#log .message .text").last).to_have_text(text)
    await expect(badge).to_have_text("2")
    await expect(home).to_have_title("(2) Rooms · ChatBoard")
    await home.screenshot(path=str(SHOTS / "chatboard-unread.png"))
    await ben.goto(f"/rooms/{room}/")
    await expect(ben.locator("#log .message .text").last).to_have_text("hello?")
    await expect(badge).to_have_count(0)
    await expect(home).to_have_title("Rooms · ChatBoard")

    # "Seen" in a direct conversation: Ann writes to Ben, whose room list shows it unread;
    # Ann sees "Seen" once Ben opens it, live and after a reload.
    await ben.goto("/people/")
    await ann.goto("/people/")
    await ann.locator(f'#people li:has-text("{names["ben"]}") button').click()
    await expect(ann).to_have_url(re.compile(r"/rooms/dm-[0-9a-f]+/$"))
    direct = ann.url.rstrip("/").rsplit("/", 1)[1]
    await expect(ann.locator("#text")).to_be_enabled()
    await ann.fill("#text", "psst")
    await ann.press("#text", "Enter")
    await expect(ann.locator("#log .message .text").last).to_have_text("psst")
    await expect(home.locator(f'#directs li[data-room="{direct}"] .badge')).to_have_text("1")
    await expect(ann.locator("#log .seen")).to_have_count(0)
    assert await home.evaluate("window.notes") is None  # the tab was in view
    # Hidden, the room list's tab notifies of a new direct message (the notice button is gone).
    await expect(home.locator("#notify")).to_be_hidden()
    await home.evaluate("window.hidden = true")
    await ann.fill("#text", "are you back?")
    await ann.press("#text", "Enter")
    await expect(home.locator(f'#directs li[data-room="{direct}"] .badge')).to_have_text("2")
    notes = await home.evaluate("window.notes")
    assert [(note["title"], note["body"]) for note in notes] == [(names["ann"], "are you back?")]
    await home.locator(f'#directs li[data-room="{direct}"] .room-link').click()
    await expect(home.locator("#log .message .text")).to_have_text(["psst", "are you back?"])
    seen = ann.locator("#log .message", has_text="are you back?").locator(".seen")
    await expect(seen).to_have_text("Seen")
    await ann.reload()
    await expect(seen).to_have_text("Seen")

    for page in (ann, ben, home):
        assert await page.evaluate("window.pwned") is None
    assert errors == []
