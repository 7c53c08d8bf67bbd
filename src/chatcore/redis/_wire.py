"""Lean Redis connections for what happens once per message: scripts, ``PUBLISH``, pub/sub.

redis-py's asyncio client spends more CPU on each command (a pool checkout, retry and
observability wrappers, a stream reader awaited once per line of the reply) than a whole
fan-out to ten local sockets costs (figures in docs/performance.md). :class:`Wire` keeps one plain TCP connection per process,
writes the commands given in one turn of the event loop with one transport write at its end
and parses the replies as they arrive, so concurrent calls share the connection, pipelined,
with their replies matched in order. Commands go out, and run, in the order they were given.

It speaks RESP2 and is the only way chatcore talks to Redis. :func:`make_wire` reads the URL
as redis-py reads it (``redis.asyncio.connection.parse_url``): ``redis://`` (TCP), ``rediss://``
(TLS, with redis-py's query options ``ssl_cert_reqs``, ``ssl_ca_certs``, ``ssl_certfile``,
``ssl_keyfile``, ``ssl_check_hostname`` ..., and its defaults: the server's certificate is
checked) and ``unix://`` (a socket path), each with a password, user, database and client
name. Errors are redis-py's exception types, so :func:`~chatcore.redis._client.unavailable`
treats them alike; a reply that does not come within the timeout closes the connection (its order is unknown after that) and the next
call opens a new one. Calls are never retried: a retried script could append a message twice.

:meth:`Wire.pubsub` gives the pub/sub connection the same way: a :class:`Subscriber` offers the
part of redis-py's ``PubSub`` the broker uses, and parses each message as its bytes arrive.

For a Redis Cluster URL (``cluster=true``), :func:`make_wire` gives a
:class:`~chatcore.redis._cluster_wire.ClusterWire`: the same methods, over one :class:`Wire`
per master (:attr:`Wire.cluster` tells them apart).
"""

from __future__ import annotations

import asyncio
import hashlib
import socket
import ssl as ssl_module
from collections import deque
from collections.abc import Sequence
from typing import Any, TypeVar, cast

import attrs
import redis.asyncio
import redis.exceptions
from redis.asyncio.connection import RedisSSLContext, parse_url

from ..wire.errors import UsageError
from ._cluster import wants_cluster, without_cluster_options

__all__ = ("Endpoint", "Subscriber", "Wire", "make_wire")

_CRLF = b"\r\n"
# Error replies redis-py turns into its own classes; `unavailable()` relies on these.
_ERRORS: dict[str, type[redis.exceptions.RedisError]] = {
    "NOSCRIPT": redis.exceptions.NoScriptError,
    "READONLY": redis.exceptions.ReadOnlyError,
    "OOM": redis.exceptions.OutOfMemoryError,
    "LOADING": redis.exceptions.BusyLoadingError,
    "NOAUTH": redis.exceptions.AuthenticationError,
    "WRONGPASS": redis.exceptions.AuthenticationError,
    # Redis Cluster (read by the cluster wire, ``_cluster_wire``)
    "MOVED": redis.exceptions.MovedError,
    "ASK": redis.exceptions.AskError,
    "TRYAGAIN": redis.exceptions.TryAgainError,
    "CLUSTERDOWN": redis.exceptions.ClusterDownError,
    "MASTERDOWN": redis.exceptions.MasterDownError,
    "CROSSSLOT": redis.exceptions.ClusterCrossSlotError,
}
# Their text without the code, as redis-py gives it ("3999 127.0.0.1:7001"), which it parses.
_REDIRECTIONS = ("MOVED", "ASK")


class _Incomplete(Exception):
    """The buffer ends before the reply does; ``need`` is how long it must at least grow to
    (so a large reply arriving in many chunks is not parsed again from its start for each)."""

    def __init__(self, need: int) -> None:
        super().__init__(need)
        self.need = need


def _reply_error(text: str) -> redis.exceptions.RedisError:
    code, _, rest = text.partition(" ")
    kind = _ERRORS.get(code, redis.exceptions.ResponseError)
    return kind(rest if code in _REDIRECTIONS else text)


def _parse(buffer: bytearray, pos: int) -> tuple[Any, int]:
    """The reply at ``pos`` (an error reply as an exception object) and where it ends."""
    end = buffer.find(_CRLF, pos)
    if end < 0:
        raise _Incomplete(len(buffer) + 1)
    kind = buffer[pos]
    if kind == 36:  # $ bulk string
        size = int(buffer[pos + 1 : end])
        if size < 0:
            return None, end + 2
        stop = end + 2 + size
        if len(buffer) < stop + 2:
            raise _Incomplete(stop + 2)
        return buffer[end + 2 : stop].decode("utf-8", "surrogatepass"), stop + 2
    if kind == 58:  # : integer
        return int(buffer[pos + 1 : end]), end + 2
    if kind == 42:  # * array
        count = int(buffer[pos + 1 : end])
        if count < 0:
            return None, end + 2
        items = []
        pos = end + 2
        for _ in range(count):
            item, pos = _parse(buffer, pos)
            items.append(item)
        return items, pos
    text = buffer[pos + 1 : end].decode("utf-8", "surrogatepass")
    if kind == 43:  # + simple string
        return text, end + 2
    if kind == 45:  # - error
        return _reply_error(text), end + 2
    raise redis.exceptions.InvalidResponse(f"unexpected reply type {chr(kind)!r}")


def _pack(args: tuple[str | int, ...]) -> bytes:
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg.encode("utf-8", "surrogatepass") if isinstance(arg, str) else b"%d" % arg
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


class _Protocol(asyncio.Protocol):
    def __init__(self) -> None:
        # (Made in the loop; on Python 3.11 each get_running_loop() costs a getpid() call.)
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.need = 0  # the buffer's length below which no reply can be complete
        self.waiting: deque[asyncio.Future[Any]] = deque()
        # When each waiting reply is due, and one timer for the oldest: a timer per call
        # (``call_later`` and ``cancel``) would cost more than the rest of the call.
        self.deadlines: deque[float] = deque()
        self.watchdog: asyncio.TimerHandle | None = None
        self.closed = False
        # Commands given in one turn of the event loop, written together at its end.
        self.outgoing: list[bytes] = []

    def expect(self, waiter: asyncio.Future[Any], timeout: float) -> None:
        """``waiter`` gets the next reply not yet expected; if it takes over ``timeout``
        seconds, it gets ``TimeoutError`` and the connection closes (the replies still to
        come would be out of step)."""
        self.waiting.append(waiter)
        self.deadlines.append(self.loop.time() + timeout)
        if self.watchdog is None:
            self.watchdog = self.loop.call_at(self.deadlines[0], self._check_due)

    def _check_due(self) -> None:
        self.watchdog = None
        if self.closed or not self.waiting:
            return
        if self.deadlines[0] > self.loop.time():
            self.watchdog = self.loop.call_at(self.deadlines[0], self._check_due)
            return
        waiter = self.waiting.popleft()
        self.deadlines.popleft()
        error = redis.exceptions.TimeoutError("no reply from Redis in time")
        if not waiter.done():
            waiter.set_exception(error)
        self.close(error)

    def send(self, command: bytes) -> None:
        """Write ``command`` once the current turn of the event loop is over, with every other
        command given in it: one system call (and one wake-up of Redis) for them all."""
        if not self.outgoing:
            self.loop.call_soon(self.flush)
        self.outgoing.append(command)

    def flush(self) -> None:
        data = b"".join(self.outgoing)
        self.outgoing.clear()
        if self.transport is not None and not self.closed:
            self.transport.write(data)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, only alike.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        if len(buffer) < self.need:
            return
        self.need = 0
        pos = 0
        try:
            while pos < len(buffer):
                reply, pos_after = _parse(buffer, pos)
                pos = pos_after
                if not self.waiting:
                    self.unasked(reply)
                    continue
                waiter = self.waiting.popleft()
                self.deadlines.popleft()
                if not waiter.done():  # its caller may have been cancelled
                    waiter.set_result(reply)
        except _Incomplete as incomplete:
            self.need = incomplete.need - pos  # counted from the start of what is kept
        except (redis.exceptions.RedisError, ValueError) as error:
            self.close(error)
            return
        del buffer[:pos]

    def unasked(self, reply: Any) -> None:
        """A reply with no command waiting for it (a pub/sub message on a subscriber)."""
        raise redis.exceptions.InvalidResponse("a reply nobody asked for")

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail_waiting(redis.exceptions.ConnectionError(f"Redis closed the connection ({exc})"))

    def close(self, error: BaseException) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()  # connection_lost fails the waiters
        self._fail_waiting(redis.exceptions.ConnectionError(str(error)))

    def _fail_waiting(self, error: redis.exceptions.ConnectionError) -> None:
        if self.watchdog is not None:
            self.watchdog.cancel()
            self.watchdog = None
        self.deadlines.clear()
        while self.waiting:
            waiter = self.waiting.popleft()
            if not waiter.done():
                waiter.set_exception(error)


class _PushProtocol(_Protocol):
    """A subscribed connection: every reply after the handshake is a pub/sub message."""

    def __init__(self) -> None:
        super().__init__()
        self.pushes: deque[list[Any]] = deque()
        self.wake: asyncio.Future[None] | None = None

    def unasked(self, reply: Any) -> None:
        if not isinstance(reply, list) or len(reply) != 3:
            raise redis.exceptions.InvalidResponse(f"not a pub/sub message: {reply!r}")
        self.pushes.append(reply)
        self._wake()

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        self._wake()

    def close(self, error: BaseException) -> None:
        super().close(error)
        self._wake()

    def _wake(self) -> None:
        if self.wake is not None and not self.wake.done():
            self.wake.set_result(None)


_P = TypeVar("_P", bound=_Protocol)

# Sharded pub/sub pushes, named as their plain counterparts.
_PLAIN_KIND = {"smessage": "message", "ssubscribe": "subscribe", "sunsubscribe": "unsubscribe"}


@attrs.frozen
class Endpoint:
    """Where a Redis server is and how to greet it: a TCP ``(host, port)``, maybe with TLS,
    or a Unix socket path; ``hello`` is sent first on each connection (AUTH, CLIENT SETNAME,
    SELECT)."""

    address: tuple[str, int] | str
    hello: tuple[tuple[str | int, ...], ...] = ()
    ssl: ssl_module.SSLContext | None = None

    async def open(self, factory: type[_P], due: float) -> _P:
        """Connect, send the handshake and check its replies (each due within ``due``
        seconds; the caller bounds the whole too)."""
        loop = asyncio.get_running_loop()
        if isinstance(self.address, str):
            transport, protocol = await loop.create_unix_connection(factory, self.address)
        else:
            host, port = self.address
            transport, protocol = await loop.create_connection(
                factory, host, port, ssl=self.ssl, server_hostname=host if self.ssl else None
            )
        try:
            sock = transport.get_extra_info("socket")
            if sock is not None and sock.family != socket.AF_UNIX:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
            waiters = [loop.create_future() for _ in self.hello]
            for waiter in waiters:
                protocol.expect(waiter, due)
            if self.hello:
                transport.write(b"".join(_pack(command) for command in self.hello))
            for waiter in waiters:
                reply = await waiter
                if isinstance(reply, redis.exceptions.RedisError):
                    raise reply
        except BaseException as error:
            protocol.close(error)
            raise
        return protocol


class Wire:
    """One pipelined connection to Redis; see the module doc."""

    #: False here; True on :class:`~chatcore.redis._cluster_wire.ClusterWire` (a Redis Cluster).
    cluster = False

    def __init__(self, endpoint: Endpoint, *, timeout: float = 5.0) -> None:
        self.endpoint = endpoint
        self._timeout = timeout
        self._protocol: _Protocol | None = None
        self._connecting: asyncio.Future[_Protocol] | None = None
        self._shas: dict[str, str] = {}

    async def call(self, *args: str | int) -> Any:
        """Send one command; its reply (error replies raised as redis-py's exceptions)."""
        (reply,) = await self.calls(args)
        return reply

    async def calls(self, *commands: tuple[str | int, ...]) -> list[Any]:
        """Send ``commands`` one after the other, with nothing else between them; their
        replies (the first error reply raised)."""
        protocol = self._protocol
        if protocol is None or protocol.closed:
            protocol = await self._connect()
        replies = [await waiter for waiter in self._send(protocol, commands)]
        for reply in replies:
            if isinstance(reply, redis.exceptions.RedisError):
                raise reply
        return replies

    async def submit(self, *commands: tuple[str | int, ...]) -> list[asyncio.Future[Any]]:
        """Send ``commands`` as :meth:`calls` does (connecting first if need be), without
        waiting for their replies: a future for each, with error replies as exception objects
        (not raised). The cluster wire sends to several nodes this way before it waits, and
        reads redirections in the replies."""
        protocol = self._protocol
        if protocol is None or protocol.closed:
            protocol = await self._connect()
        return self._send(protocol, commands)

    def _send(
        self, protocol: _Protocol, commands: Sequence[tuple[str | int, ...]]
    ) -> list[asyncio.Future[Any]]:
        assert protocol.transport is not None
        waiters = []
        for command in commands:
            waiter = protocol.loop.create_future()
            protocol.expect(waiter, self._timeout)
            protocol.send(_pack(command))
            waiters.append(waiter)
        return waiters

    async def transaction(self, *commands: tuple[str | int, ...]) -> list[Any]:
        """Run ``commands`` in one MULTI/EXEC: their replies, read at one point in time."""
        replies = await self.calls(("MULTI",), *commands, ("EXEC",))
        done: list[Any] = replies[-1]
        for reply in done:
            if isinstance(reply, redis.exceptions.RedisError):
                raise reply
        return done

    async def script(self, source: str, *args: str | int, keys: Sequence[str] = ()) -> Any:
        """Run a Lua script with ``keys`` as KEYS and ``args`` as ARGV; load it on first use."""
        sha = self._shas.get(source)
        if sha is None:
            sha = self._shas[source] = hashlib.sha1(source.encode()).hexdigest()
        try:
            return await self.call("EVALSHA", sha, len(keys), *keys, *args)
        except redis.exceptions.NoScriptError:
            return await self.call("EVAL", source, len(keys), *keys, *args)

    async def _connect(self) -> _Protocol:
        # One connect at a time; calls made meanwhile wait for it.
        if self._connecting is not None:
            return await asyncio.shield(self._connecting)
        loop = asyncio.get_running_loop()
        self._connecting = connecting = loop.create_future()
        try:
            protocol = await asyncio.wait_for(
                self.endpoint.open(_Protocol, self._timeout), self._timeout
            )
        except BaseException as error:
            connecting.set_exception(
                redis.exceptions.ConnectionError(f"cannot reach Redis ({error!r})")
            )
            connecting.exception()  # retrieved: no "never retrieved" warning
            raise
        else:
            self._protocol = protocol
            connecting.set_result(protocol)
            return protocol
        finally:
            self._connecting = None

    @property
    def idle(self) -> bool:
        """No reply is awaited on the connection."""
        return self._protocol is None or not self._protocol.waiting

    def close(self) -> None:
        """Close the connection (a later call opens a new one)."""
        protocol, self._protocol = self._protocol, None
        if protocol is not None and protocol.transport is not None:
            protocol.transport.close()

    def pubsub(self, *, sharded: bool = False) -> Subscriber:
        """A new pub/sub connection to the same server (it connects on its first subscribe);
        ``sharded``: Redis 7's sharded pub/sub (``SSUBSCRIBE``, for ``SPUBLISH``)."""
        return Subscriber(self.endpoint, self._timeout, sharded=sharded)


class Subscriber:
    """One pub/sub connection, with the part of redis-py's ``PubSub`` the broker uses:
    ``subscribe``, ``unsubscribe``, ``get_message(timeout=None)`` and ``aclose``. Messages come
    as redis-py's dicts (``type``, ``channel``, ``data``); once the connection is lost,
    ``get_message`` raises ``ConnectionError`` (after the messages that came before).

    ``sharded`` subscribes with ``SSUBSCRIBE``/``SUNSUBSCRIBE`` (the channels of one call must
    share a hash slot on a cluster); its pushes are reported under the plain kinds
    (``message``, ``subscribe``, ``unsubscribe``) so the broker reads both alike."""

    def __init__(self, endpoint: Endpoint, timeout: float, *, sharded: bool = False) -> None:
        self._endpoint = endpoint
        self._timeout = timeout
        self._protocol: _PushProtocol | None = None
        self.sharded = sharded

    async def _connected(self) -> _PushProtocol:
        protocol = self._protocol
        if protocol is None:
            protocol = await asyncio.wait_for(
                self._endpoint.open(_PushProtocol, self._timeout), self._timeout
            )
            self._protocol = protocol
        if protocol.closed or protocol.transport is None:
            raise redis.exceptions.ConnectionError("the pub/sub connection is closed")
        return protocol

    async def subscribe(self, *channels: str) -> None:
        protocol = await self._connected()
        assert protocol.transport is not None
        protocol.transport.write(_pack(("SSUBSCRIBE" if self.sharded else "SUBSCRIBE", *channels)))

    async def unsubscribe(self, *channels: str) -> None:
        protocol = await self._connected()
        assert protocol.transport is not None
        command = "SUNSUBSCRIBE" if self.sharded else "UNSUBSCRIBE"
        protocol.transport.write(_pack((command, *channels)))

    async def get_message(self, timeout: None = None) -> dict[str, Any]:  # noqa: ASYNC109 (as PubSub)
        protocol = self._protocol
        if protocol is None:
            raise redis.exceptions.ConnectionError("not subscribed")
        pushes = protocol.pushes
        while not pushes:
            if protocol.closed:
                raise redis.exceptions.ConnectionError("the pub/sub connection was lost")
            protocol.wake = protocol.loop.create_future()
            try:
                await protocol.wake
            finally:
                protocol.wake = None
        kind, channel, data = pushes.popleft()
        return {"type": _PLAIN_KIND.get(kind, kind), "channel": channel, "data": data}

    async def aclose(self) -> None:
        protocol, self._protocol = self._protocol, None
        if protocol is not None and protocol.transport is not None:
            protocol.transport.close()


def make_wire(url: str, timeout: float, name: str | None = None) -> Wire:
    """A :class:`Wire` to the server of ``url`` (read as redis-py reads it), named ``name`` in
    ``CLIENT LIST``; for a Redis Cluster URL (``cluster=true`` in its query, any node of the
    cluster, database 0) a :class:`~chatcore.redis._cluster_wire.ClusterWire`. ``ValueError``
    for a URL redis-py would refuse, :class:`~chatcore.wire.errors.UsageError` for a cluster
    URL naming a Unix socket or another database."""
    cluster = wants_cluster(url)
    kwargs: dict[str, Any] = dict(parse_url(without_cluster_options(url)))
    connection_class = kwargs.pop("connection_class", None)
    hello: list[tuple[str | int, ...]] = []
    password, username = kwargs.get("password"), kwargs.get("username")
    if password is not None:
        hello.append(("AUTH", username, password) if username else ("AUTH", password))
    if name:
        hello.append(("CLIENT", "SETNAME", name))
    db = int(kwargs.get("db", 0) or 0)
    if db:
        if cluster:
            raise UsageError(f"a Redis Cluster has database 0 only, not {db} (in {url!r})")
        hello.append(("SELECT", db))
    address: tuple[str, int] | str
    context = None
    if connection_class is redis.asyncio.UnixDomainSocketConnection:
        if cluster:
            raise UsageError("a Redis Cluster URL names a node's host and port, not a socket")
        address = kwargs.get("path", "")
    else:
        address = (kwargs.get("host", "localhost"), int(kwargs.get("port", 6379)))
        if connection_class is redis.asyncio.SSLConnection:
            context = _ssl_context(kwargs)
    endpoint = Endpoint(address, tuple(hello), context)
    if cluster:
        from ._cluster_wire import ClusterWire  # (it builds on this module)

        return ClusterWire(endpoint, timeout=timeout)
    return Wire(endpoint, timeout=timeout)


def _ssl_context(options: dict[str, Any]) -> ssl_module.SSLContext:
    """The TLS context redis-py would build from the URL's ``ssl_*`` options, with its
    defaults (a certificate is required and checked, and so is the host name)."""
    return RedisSSLContext(
        keyfile=options.get("ssl_keyfile"),
        certfile=options.get("ssl_certfile"),
        cert_reqs=options.get("ssl_cert_reqs", "required"),
        include_verify_flags=options.get("ssl_include_verify_flags"),
        exclude_verify_flags=options.get("ssl_exclude_verify_flags"),
        ca_certs=options.get("ssl_ca_certs"),
        ca_data=options.get("ssl_ca_data"),
        ca_path=options.get("ssl_ca_path"),
        check_hostname=options.get("ssl_check_hostname", True),
        min_version=options.get("ssl_min_version"),
        ciphers=options.get("ssl_ciphers"),
        password=options.get("ssl_password"),
    ).get()
