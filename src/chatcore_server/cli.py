"""The ``chatcore`` command: ``chatcore serve`` runs the standalone chat server.

It listens on one port for the WebSocket (``/ws``), the HTTP API (``/api/...``), ``/metrics`` and
``/healthz``; on SIGTERM (or SIGINT) it drains: it stops accepting, closes the sockets in batches
with 1012 so their clients reconnect to another process, and exits once they are gone or after
``drain_seconds``. See docs/server.md.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from chatcore import ChatServer
from chatcore.hooks import Hooks

from . import _logs
from ._hooks import settings_hooks
from ._routes import Routes
from ._tokens import handshake_login, token_login
from .app import ChatApp
from .config import ConfigError, Settings, settings

__all__ = ("main", "run")

log = logging.getLogger("chatcore.server")


def main(argv: Sequence[str] | None = None, *, hooks: Hooks | None = None) -> int:
    """``chatcore serve [options]``; the exit status. ``hooks``: the application's, for a
    program that runs the server with hooks of its own (docs/server.md)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] != "serve":
        print("usage: chatcore serve [--help] [options]", file=sys.stderr)
        return 2
    try:
        config = settings(args[1:])
        config.chat_limits()
    except ConfigError as error:
        print(f"chatcore serve: {error}", file=sys.stderr)
        return 2
    _logs.setup(config.log_format, config.log_level)
    try:
        _loop_runner()(run(config, hooks=hooks))
    except ConfigError as error:
        log.error("configuration: %s", error)
        return 2
    return 0


def _loop_runner() -> Callable[[Coroutine[Any, Any, None]], None]:
    """uvloop's run when it is installed (the ``server-uvloop`` extra), else asyncio's."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run
    return uvloop.run


def _chat_server(config: Settings, hooks: Hooks | None) -> ChatServer:
    limits = config.chat_limits()
    if not config.redis_url:
        return ChatServer(limits=limits, hooks=hooks)
    from chatcore.redis import RedisBroker, RedisStore

    broker = RedisBroker(config.redis_url, prefix=config.redis_prefix, expiry=config.redis_expiry)
    store = RedisStore(
        config.redis_url,
        prefix=config.redis_prefix,
        broker=broker,
        history_size=limits.history_size,
    )
    return ChatServer(broker=broker, store=store, limits=limits, hooks=hooks)


async def run(
    config: Settings, *, started: asyncio.Event | None = None, hooks: Hooks | None = None
) -> None:
    """Serve until SIGTERM or SIGINT, then drain. ``started`` is set once listening.
    ``hooks``: the application's (docs/hooks.md); the settings' webhooks and message proxy
    are added to it, after its own."""
    tokens = token_login(config)
    if tokens is None and not config.guests:
        raise ConfigError("set --jwt-secret or --jwt-public-key, or --guests")
    hooks, proxy = settings_hooks(config, hooks)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for number in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(number, stop.set)
    async with _chat_server(config, hooks) as server:
        app = ChatApp(
            server,
            handshake_login(tokens, config.guests),
            allowed_origins=config.allowed_origins,
            token_login=tokens,
        )
        app.http = Routes(server, api_key=config.api_key, static=config.static, sockets=app)
        listening = await app.listen(config.host, config.port)
        port = listening.sockets[0].getsockname()[1] if listening.sockets else config.port
        log.info(
            "listening on http://%s:%s",
            config.host,
            port,
            extra={"event": "listening", "port": port, "redis": bool(config.redis_url)},
        )
        if started is not None:
            started.set()
        await stop.wait()
        log.info("draining %d sockets", app.sockets, extra={"event": "drain"})
        await app.drain(batch=config.drain_batch, bound=config.drain_seconds)
        log.info("drained; %d sockets left", app.sockets, extra={"event": "stopped"})
    if proxy is not None:
        await proxy.aclose()
