"""Fixtures of the core tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from chatcore.runtime.connection import Connection

from ..contract import Recorder
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


@pytest.fixture(autouse=True)
def frames_fit_the_asyncapi_document(monkeypatch: pytest.MonkeyPatch) -> Iterator[Recorder]:
    """Every frame a core test's connections send, and every command they answer ``ok``,
    fits its message in docs/asyncapi.yaml (tests/contract.py)."""
    recorder = Recorder()
    receive, next_frame, next_frame_nowait = (
        Connection.receive,
        Connection.next_frame,
        Connection.next_frame_nowait,
    )

    async def receiving(self: Connection, data: str | bytes) -> None:
        recorder.received(self, data)
        await receive(self, data)

    async def sending(self: Connection) -> str:
        text = await next_frame(self)
        recorder.sent(self, text)
        return text

    def sending_nowait(self: Connection) -> str | None:
        text = next_frame_nowait(self)
        if text is not None:
            recorder.sent(self, text)
        return text

    monkeypatch.setattr(Connection, "receive", receiving)
    monkeypatch.setattr(Connection, "next_frame", sending)
    monkeypatch.setattr(Connection, "next_frame_nowait", sending_nowait)
    yield recorder
    assert recorder.wrong == [], "frames that do not fit docs/asyncapi.yaml"
