"""A pytest plugin for applications built on chatcore: a running server, clients, a fake clock.

Opt in from your ``conftest.py`` (it does nothing until then)::

    pytest_plugins = ["chatcore.testing.pytest_plugin"]

The fixtures are async-agnostic: a test marked ``@pytest.mark.anyio`` (anyio's plugin, asyncio or
trio) and one marked ``@pytest.mark.asyncio`` (pytest-asyncio, strict or auto mode) both get a
server running on their own event loop. See docs/testing.md.

- ``chat``: a :class:`Chat`, the running server with helpers to connect users and move time;
- ``chat_server``: just its :class:`~chatcore.ChatServer`;
- ``fake_clock``: a :class:`~chatcore.FakeClock`; asking for it puts the server on it;
- ``chat_clock``: the server's clock (the wall clock unless ``fake_clock`` is asked for);
- ``chat_options``: keyword arguments for the server (``limits``, ``policy``, ``store``, ...),
  from ``@pytest.mark.chatcore(...)`` on the test, its class or module, or your own override;
- ``starlette_client``: a Starlette ``TestClient`` of your ``chat_app`` fixture, lifespan run.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, TypeVar, cast

import anyio
import pytest

from ..clock import Clock, FakeClock, SystemClock
from ..runtime.server import ChatServer
from ..wire.errors import UsageError
from ..wire.values import User
from . import LocalClient

__all__ = (
    "Chat",
    "chat",
    "chat_clock",
    "chat_options",
    "chat_server",
    "fake_clock",
    "pytest_configure",
    "starlette_client",
)

_T = TypeVar("_T")


class Chat:
    """A running :class:`~chatcore.ChatServer` and its clock, for one test."""

    def __init__(self, server: ChatServer, clock: Clock) -> None:
        self.server = server
        self.clock = clock

    async def client(self, user: User | str, name: str | None = None) -> LocalClient:
        """Connect a user: a :class:`~chatcore.User`, or an id (named ``name``, or the id).

        The client's ``welcome`` frame stays in its inbox (``client.welcome``)."""
        if isinstance(user, str):
            user = User(id=user, name=name or user)
        return await LocalClient.connect(self.server, user)

    async def advance(self, ms: int) -> None:
        """Move the fake clock on by ``ms`` and let every timer that ran out do its work."""
        if not isinstance(self.clock, FakeClock):
            raise UsageError("advance needs the fake clock: ask for the fake_clock fixture")
        self.clock.advance(ms)
        await anyio.wait_all_tasks_blocked()


@asynccontextmanager
async def _running(clock: Clock, options: dict[str, Any]) -> AsyncIterator[Chat]:
    async with ChatServer(clock=clock, **options) as server:
        yield Chat(server, clock)


@asynccontextmanager
async def _in_own_task(context: AbstractAsyncContextManager[_T]) -> AsyncIterator[_T]:
    """Enter and leave ``context`` in one task of its own.

    pytest-asyncio runs a fixture's setup and its teardown in two tasks; the server's task group
    must be entered and left in the same one, so it lives in a task that waits for teardown."""
    entered: asyncio.Future[_T] = asyncio.get_running_loop().create_future()
    done = asyncio.Event()

    async def host() -> None:
        try:
            async with context as value:
                entered.set_result(value)
                await done.wait()
        except BaseException as error:
            if not entered.done():
                entered.set_exception(error)
            raise

    task = asyncio.ensure_future(host())
    try:
        yield await entered
    finally:
        done.set()
        await task


async def _chat_anyio(chat_clock: Clock, chat_options: dict[str, Any]) -> AsyncIterator[Chat]:
    async with _running(chat_clock, chat_options) as running:
        yield running


async def _chat_asyncio(chat_clock: Clock, chat_options: dict[str, Any]) -> AsyncIterator[Chat]:
    async with _in_own_task(_running(chat_clock, chat_options)) as running:
        yield running


# Under anyio's plugin (the test asks for ``anyio_backend``) a plain async fixture is run by it;
# pytest-asyncio runs only the fixtures it marked (in strict mode).
_anyio_fixture = pytest.fixture(name="_chatcore_chat_anyio")(_chat_anyio)
try:
    import pytest_asyncio
except ImportError:  # pragma: no cover - pytest-asyncio is optional
    _asyncio_fixture = None
else:
    _asyncio_fixture = pytest_asyncio.fixture(name="_chatcore_chat_asyncio")(_chat_asyncio)


@pytest.fixture
def fake_clock() -> FakeClock:
    """A :class:`~chatcore.FakeClock`; a test that asks for it runs the server on it."""
    return FakeClock()


@pytest.fixture
def chat_clock(request: pytest.FixtureRequest) -> Clock:
    """The server's clock: ``fake_clock`` if the test asks for it, else the wall clock."""
    if "fake_clock" in request.fixturenames:
        clock: Clock = request.getfixturevalue("fake_clock")
        return clock
    return SystemClock()


@pytest.fixture
def chat_options(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Keyword arguments for the server: those of every ``@pytest.mark.chatcore(...)`` that
    applies, the nearest winning. Override the fixture to set them for a whole directory."""
    options: dict[str, Any] = {}
    for marker in reversed(list(request.node.iter_markers("chatcore"))):
        options.update(marker.kwargs)
    return options


@pytest.fixture
def chat(request: pytest.FixtureRequest) -> Chat:
    """A :class:`Chat` running for the test, on the test's event loop."""
    if not inspect.iscoroutinefunction(getattr(request, "function", None)):
        raise UsageError(
            "the chat fixture is for async tests; a plain test can use starlette_client"
        )
    if "anyio_backend" in request.fixturenames:
        return cast(Chat, request.getfixturevalue("_chatcore_chat_anyio"))
    if _asyncio_fixture is None:
        raise UsageError(
            "the chat fixture runs in an async test: mark it @pytest.mark.anyio, "
            "or install pytest-asyncio and mark it @pytest.mark.asyncio"
        )
    return cast(Chat, request.getfixturevalue("_chatcore_chat_asyncio"))


@pytest.fixture
def chat_server(chat: Chat) -> ChatServer:
    """The running :class:`~chatcore.ChatServer` of ``chat``."""
    return chat.server


@pytest.fixture
def starlette_client(request: pytest.FixtureRequest) -> Iterator[Any]:
    """A ``starlette.testclient.TestClient`` of the app your ``chat_app`` fixture returns, its
    lifespan (and so the chat server) running; for plain (not async) tests."""
    from starlette.testclient import TestClient

    with TestClient(request.getfixturevalue("chat_app")) as client:
        yield client


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``chatcore`` marker."""
    config.addinivalue_line(
        "markers", "chatcore(**options): keyword arguments for the chat fixture's ChatServer"
    )
