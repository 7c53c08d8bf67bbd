"""Fixtures of the core tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from .kit import Chat, running


@pytest.fixture
async def chat() -> AsyncIterator[Chat]:
    """A running server with default limits on a fake clock."""
    async with running() as chat:
        yield chat
