"""The process's chat server: started lazily, once per event loop, and kept running.

Channels has no lifespan events, so the first socket (or the first sync call made from a thread
of the server's loop) starts the :class:`~chatcore.ChatServer` in a background task of that loop.
The task runs ``async with server`` until it is cancelled; if it ever ends (a broker failure),
its connections have been closed with 1001 and the next caller starts a fresh server. A failed
start is reported to every waiting caller as :class:`~chatcore.wire.errors.Unavailable` (sockets get
1013 and their clients retry). Under an ASGI server that sends lifespan events, :func:`lifespan`
starts the server at startup and stops it cleanly at shutdown.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import attrs
from django.core.exceptions import ImproperlyConfigured

from chatcore import Broker, ChatServer, MemoryStore, Store
from chatcore.hooks import Hooks
from chatcore.wire.errors import Unavailable

from .conf import chat_settings
from .logins import logins
from .users import DjangoDirectory

__all__ = ("build_server", "get_server", "lifespan", "running_server", "stop_server")

log = logging.getLogger("chatcore.django")


def build_server() -> ChatServer:
    """A new, not yet started server configured from ``settings.CHATCORE``."""
    config = chat_settings()
    broker: Broker | None = None
    if config.broker == "postgres":
        # Several processes on the site's database alone: LISTEN/NOTIFY and presence tables.
        from .engines import postgres_broker

        broker = postgres_broker(config)
    elif config.broker == "redis" and config.redis_url:
        try:
            from chatcore.redis import RedisBroker
        except ImportError as error:  # the redis extra is missing
            raise ImproperlyConfigured("CHATCORE['REDIS_URL'] needs chatcore[redis]") from error
        # Several processes: fan-out and presence through Redis; ids still come from the database.
        broker = RedisBroker(config.redis_url, prefix=config.redis_prefix)
    store: Store
    if config.store == "orm":
        from .store import OrmStore  # needs the app registry, so imported late

        store = OrmStore(config.history_size)
    else:
        store = MemoryStore(config.limits.history_size)
    hooks = Hooks()
    if config.hooks is not None:
        config.hooks(hooks)
    from . import signals

    if signals.has_receivers():
        hooks.add_listener(signals.send_signals)
    return ChatServer(
        store=store,
        broker=broker,
        directory=DjangoDirectory(),
        policy=config.policy,
        limits=config.limits,
        auto_create=config.auto_create,
        hooks=hooks,
    )


@attrs.define
class _Runtime:
    server: ChatServer
    started: asyncio.Future[None]
    revalidate: float | None
    task: asyncio.Task[None] | None = None

    @property
    def alive(self) -> bool:
        return self.task is not None and not self.task.done()


_runtimes: dict[asyncio.AbstractEventLoop, _Runtime] = {}


async def _serve(runtime: _Runtime) -> None:
    try:
        async with runtime.server:
            runtime.started.set_result(None)
            # Until cancelled: the sockets' logins are checked again at the interval.
            await logins().watch(runtime.revalidate)
    except BaseException as error:
        if not runtime.started.done():
            unavailable = Unavailable("the chat server could not start")
            unavailable.__cause__ = error
            runtime.started.set_exception(unavailable)
            runtime.started.exception()  # retrieved: waiters get it, nobody else must
        if not isinstance(error, asyncio.CancelledError):
            log.exception("the chat server stopped; the next connection starts a new one")
        raise


async def get_server() -> ChatServer:
    """This event loop's running server, started on first use (or after it stopped)."""
    loop = asyncio.get_running_loop()
    runtime = _runtimes.get(loop)
    if runtime is None or not runtime.alive:
        for old in [old for old in _runtimes if old.is_closed()]:
            del _runtimes[old]
        # No await between the check and this line: concurrent callers share one start.
        runtime = _Runtime(build_server(), loop.create_future(), chat_settings().revalidate)
        runtime.task = loop.create_task(_serve(runtime), name="chatcore-server")
        _runtimes[loop] = runtime
    # Shielded: a caller that gives up must not cancel the start for the others.
    await asyncio.shield(runtime.started)
    return runtime.server


def running_server() -> ChatServer | None:
    """This event loop's server if it is up, else None (never starts one)."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return None
    runtime = _runtimes.get(loop)
    if runtime is None or not runtime.alive or not runtime.server.running:
        return None
    return runtime.server


async def stop_server() -> None:
    """Stop this event loop's server, closing its connections with 1001."""
    runtime = _runtimes.pop(asyncio.get_running_loop(), None)
    if runtime is not None and runtime.task is not None:
        runtime.task.cancel()
        await asyncio.gather(runtime.task, return_exceptions=True)


async def lifespan(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """An ASGI lifespan app: start the server at startup, stop it at shutdown."""
    while True:
        event = await receive()
        if event["type"] == "lifespan.startup":
            try:
                await get_server()
            except Exception as error:
                await send({"type": "lifespan.startup.failed", "message": str(error)})
                return
            await send({"type": "lifespan.startup.complete"})
        elif event["type"] == "lifespan.shutdown":
            await stop_server()
            await send({"type": "lifespan.shutdown.complete"})
            return
