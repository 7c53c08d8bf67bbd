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


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """The core promises every backend anyio supports: its tests run on asyncio and trio."""
    return str(request.param)
