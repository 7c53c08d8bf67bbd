"""Run a :class:`~chatcore.ChatServer` for as long as a Starlette app runs."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from chatcore import ChatServer

__all__ = ("chat_lifespan",)


def chat_lifespan(
    server: ChatServer,
) -> Callable[[Any], AbstractAsyncContextManager[None]]:
    """A ``lifespan`` for ``Starlette(lifespan=...)`` that starts and stops ``server``.

    At shutdown the server closes every socket it still holds with 1001 (going away).
    """

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        async with server:
            yield

    return lifespan
