"""Helpers shared by the test suites: real services that skip, or fail under CI."""

from __future__ import annotations

import os
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.async_api import Browser

#: Debian's Chromium, driven by Playwright (never a browser Playwright downloads).
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
#: Without the networking flags Chromium keeps trying hosts this closed network refuses.
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
)


def require(what: str, reason: str) -> None:
    """Skip with ``reason`` when ``what`` is missing; fail instead when ``CI`` is set."""
    message = f"{what} is not available: {reason}"
    if os.environ.get("CI"):
        pytest.fail(f"{message} (CI is set, so this fails instead of skipping)")
    pytest.skip(message)


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def _chromium_installed() -> bool:
    return os.path.exists(CHROMIUM)


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    """A headless Chromium; skips (or fails under CI) when it or Playwright is missing."""
    if not _chromium_installed():
        require("Chromium", f"{CHROMIUM} is missing (apt-get install chromium)")
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        require("Playwright", "pip install playwright")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=list(CHROMIUM_ARGS)
        )
        try:
            yield browser
        finally:
            await browser.close()
