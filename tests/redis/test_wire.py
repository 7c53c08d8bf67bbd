"""chatcore's Redis connection: URLs, replies, errors, reconnects and timeouts."""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

import anyio
import pytest
import redis.asyncio
import redis.exceptions

from chatcore.redis._wire import (
    Endpoint,
    Wire,
    _Incomplete,
    _pack,
    _parse,
    _Protocol,
    make_wire,
)
from tests.redis.support import need_redis, throwaway_redis

pytestmark = [pytest.mark.anyio]


def parse(data: bytes) -> object:
    reply, end = _parse(bytearray(data), 0)
    assert end == len(data)
    return reply


def test_replies_are_parsed_like_redis_py_with_text_replies() -> None:
    assert parse(b"+OK\r\n") == "OK"
    assert parse(b":-3\r\n") == -3
    assert parse(b"$-1\r\n") is None
    assert parse(b"$4\r\nh\xc3\xa9l\r\n") == "hél"  # sizes are in bytes
    assert parse(b"$4\r\n\xed\xa0\x80!\r\n") == "\ud800!"  # a lone surrogate, as stored
    assert parse(b"*3\r\n:1\r\n*1\r\n$1\r\na\r\n$-1\r\n") == [1, ["a"], None]
    error = parse(b"-NOSCRIPT No matching script\r\n")
    assert isinstance(error, redis.exceptions.NoScriptError)
    assert isinstance(parse(b"-READONLY no\r\n"), redis.exceptions.ReadOnlyError)
    assert type(parse(b"-ERR wrong\r\n")) is redis.exceptions.ResponseError


@pytest.mark.parametrize("cut", range(1, 20))
def test_a_reply_cut_anywhere_waits_for_the_rest(cut: int) -> None:
    data = b"*2\r\n$5\r\nhello\r\n:42\r\n"
    with pytest.raises(_Incomplete):
        _parse(bytearray(data[:cut]), 0)


# Two transactions' replies back to back (MULTI, QUEUED..., EXEC's array), with a nil, an
# empty string, a CRLF inside a string and an error reply among them.
_TWO_TRANSACTIONS = (
    b"+OK\r\n+QUEUED\r\n+QUEUED\r\n*2\r\n$5\r\nhe\r\nl\r\n$-1\r\n"
    b"+OK\r\n+QUEUED\r\n*2\r\n:7\r\n$0\r\n\r\n-ERR no\r\n"
)


async def test_replies_cut_at_any_two_places_reach_their_waiters_in_order() -> None:
    size = len(_TWO_TRANSACTIONS)
    for first in range(1, size):
        for second in range(first, size):
            protocol = _Protocol()
            waiters: list[asyncio.Future[Any]] = [protocol.loop.create_future() for _ in range(8)]
            for waiter in waiters:
                protocol.expect(waiter, 5)
            for chunk in (slice(0, first), slice(first, second), slice(second, size)):
                protocol.data_received(_TWO_TRANSACTIONS[chunk])
            replies = [waiter.result() for waiter in waiters]
            assert replies[:7] == [
                "OK",
                "QUEUED",
                "QUEUED",
                ["he\r\nl", None],
                "OK",
                "QUEUED",
                [7, ""],
            ]
            assert isinstance(replies[7], redis.exceptions.ResponseError)
            assert not protocol.buffer
            assert not protocol.waiting
            assert not protocol.closed
            if protocol.watchdog is not None:
                protocol.watchdog.cancel()


async def test_a_large_reply_in_many_chunks_is_parsed_once_it_is_all_there(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[int] = []

    def counting(buffer: bytearray, pos: int) -> tuple[object, int]:
        calls.append(pos)
        return _parse(buffer, pos)

    monkeypatch.setattr("chatcore.redis._wire._parse", counting)
    protocol = _Protocol()
    loop = asyncio.get_running_loop()
    big, small = loop.create_future(), loop.create_future()
    protocol.expect(big, 5)
    protocol.expect(small, 5)
    text = "x" * 100_000
    data = b"*2\r\n$100000\r\n" + text.encode() + b"\r\n:7\r\n"
    for start in range(0, len(data), 1_000):
        protocol.data_received(data[start : start + 1_000])
    assert await big == [text, 7]
    assert len(calls) <= 6  # not once per chunk (101 of them)
    protocol.data_received(b":8\r\n")  # the next reply is read at once
    assert await small == 8


def test_commands_are_packed_as_bulk_strings() -> None:
    assert _pack(("SET", "k", 12)) == b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\n12\r\n"
    assert _pack(("SET", "é")) == b"*2\r\n$3\r\nSET\r\n$2\r\n\xc3\xa9\r\n"


def test_every_url_redis_py_reads_gets_a_wire() -> None:
    plain = make_wire("redis://u:p@127.0.0.1:1/2", 1, name="n").endpoint
    assert plain == Endpoint(
        ("127.0.0.1", 1), (("AUTH", "u", "p"), ("CLIENT", "SETNAME", "n"), ("SELECT", 2))
    )
    unix = make_wire("unix:///tmp/redis.sock?db=3&password=p", 1).endpoint
    assert unix == Endpoint("/tmp/redis.sock", (("AUTH", "p"), ("SELECT", 3)))
    tls = make_wire("rediss://127.0.0.1", 1).endpoint
    assert tls.address == ("127.0.0.1", 6379)
    assert tls.ssl is not None
    # redis-py's defaults: the certificate and the host name are checked.
    assert tls.ssl.verify_mode == ssl.CERT_REQUIRED
    assert tls.ssl.check_hostname
    lax = make_wire("rediss://h:1?ssl_cert_reqs=none", 1).endpoint
    assert lax.ssl is not None
    assert lax.ssl.verify_mode == ssl.CERT_NONE
    with pytest.raises(ValueError, match="scheme"):
        make_wire("http://127.0.0.1", 1)


@pytest.mark.network
async def test_calls_pipeline_and_scripts_load_themselves() -> None:
    url = need_redis()
    wire = make_wire(url, 5, name="chatcore-wire-test")
    try:
        results: list[object] = []

        async def ping(n: int) -> None:
            results.append((n, await wire.call("ECHO", f"x{n}")))

        async with anyio.create_task_group() as group:
            for n in range(50):
                group.start_soon(ping, n)
        assert sorted(results) == [(n, f"x{n}") for n in range(50)]  # type: ignore[type-var]
        # A script Redis has never seen is sent whole once (EVALSHA says NOSCRIPT).
        source = f"return {{ARGV[1], {len(results)}, 'é'}}  -- {id(wire)}"
        assert await wire.script(source, "a") == ["a", 50, "é"]
        assert await wire.script(source, "b") == ["b", 50, "é"]
        with pytest.raises(redis.exceptions.ResponseError):
            await wire.call("NOSUCHCOMMAND")
        assert await wire.call("CLIENT", "GETNAME") == "chatcore-wire-test"
    finally:
        wire.close()


@pytest.mark.network
async def test_commands_given_in_one_turn_go_out_in_one_write() -> None:
    url = need_redis()
    wire = make_wire(url, 5)
    try:
        assert await wire.call("PING") == "PONG"
        protocol = wire._protocol
        assert protocol is not None
        assert protocol.transport is not None
        transport, writes = protocol.transport, []

        class Counting:
            def write(self, data: bytes) -> None:
                writes.append(data)
                transport.write(data)

            def __getattr__(self, name: str) -> Any:
                return getattr(transport, name)

        protocol.transport = Counting()  # type: ignore[assignment]
        replies = await asyncio.gather(*(wire.call("ECHO", f"x{n}") for n in range(20)))
        assert replies == [f"x{n}" for n in range(20)]
        assert len(writes) == 1
        assert await wire.call("ECHO", "alone") == "alone"
        assert len(writes) == 2
    finally:
        wire.close()


@pytest.mark.network
async def test_a_lost_connection_fails_the_call_and_the_next_call_reconnects() -> None:
    need_redis()
    async with throwaway_redis() as server:
        wire = Wire(Endpoint(("127.0.0.1", server.port)), timeout=0.5)
        assert await wire.call("PING") == "PONG"
        await server.stop()
        with pytest.raises((redis.exceptions.ConnectionError, OSError)):
            await wire.call("PING")
        await server.start()
        assert await wire.call("PING") == "PONG"
        # A reply that does not come in time fails the call and drops the connection.
        admin = redis.asyncio.Redis.from_url(server.url)
        try:
            await admin.client_pause(800)
            with pytest.raises(redis.exceptions.TimeoutError):
                await wire.call("SET", "k", "v")
            with anyio.fail_after(5):
                while True:
                    try:
                        assert await wire.call("GET", "k") in ("v", None)
                        break
                    except redis.exceptions.TimeoutError:
                        pass
        finally:
            await admin.aclose()
            wire.close()


@pytest.mark.network
async def test_the_subscriber_hands_over_messages_then_the_loss() -> None:
    url = need_redis()
    wire = make_wire(url, 5, name="chatcore-wire-sub")
    subscriber = wire.pubsub()
    admin = redis.asyncio.Redis.from_url(url, decode_responses=True)
    try:
        await subscriber.subscribe("chatcore-test:a", "chatcore-test:b")
        confirmed = [await subscriber.get_message() for _ in range(2)]
        assert sorted(m["channel"] for m in confirmed) == ["chatcore-test:a", "chatcore-test:b"]
        assert {m["type"] for m in confirmed} == {"subscribe"}
        await subscriber.unsubscribe("chatcore-test:b")
        assert (await subscriber.get_message())["type"] == "unsubscribe"
        for channel in ("chatcore-test:b", "chatcore-test:a", "chatcore-test:a"):
            await admin.publish(channel, f"to {channel} é")
        message = await subscriber.get_message()
        assert message == {
            "type": "message",
            "channel": "chatcore-test:a",
            "data": "to chatcore-test:a é",
        }
        # Cut the connection: what came before the cut is still handed over, then the loss.
        clients = await admin.client_list()
        (mine,) = [c["id"] for c in clients if c["name"] == "chatcore-wire-sub"]
        await admin.client_kill_filter(_id=mine)
        assert (await subscriber.get_message())["channel"] == "chatcore-test:a"
        with anyio.fail_after(5), pytest.raises(redis.exceptions.ConnectionError):
            await subscriber.get_message()
        with pytest.raises(redis.exceptions.ConnectionError):
            await subscriber.subscribe("chatcore-test:c")
    finally:
        await subscriber.aclose()
        await admin.aclose()
