"""``chatcore serve`` as a process: guests, health, settings, and draining on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from chatcore.client import Backoff, ChatClient
from chatcore_server.config import ConfigError, settings
from tests.redis.support import redis_prefix
from tests.starlette.test_uvicorn import until

from .serve_process import Serve

pytestmark = [pytest.mark.network]

FAST = Backoff(initial=0.05, maximum=0.3)


@pytest.fixture(scope="module")
def guests() -> Iterator[Serve]:
    server = Serve("--guests")
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_settings_come_from_flags_then_the_environment_then_the_file(tmp_path: Path) -> None:
    config = tmp_path / "chatcore.toml"
    config.write_text(
        'port = 9000\nhost = "0.0.0.0"\napi_key = "from-file"\nguests = true\n'
        "[limits]\npresence_grace = 1234\n"
    )
    environ = {"CHATCORE_PORT": "9100", "CHATCORE_API_KEY": "from-env"}
    chosen = settings(["--config", str(config), "--port", "9200"], environ)
    assert (chosen.port, chosen.host, chosen.api_key, chosen.guests) == (
        9200,
        "0.0.0.0",
        "from-env",
        True,
    )
    assert chosen.chat_limits().presence_grace == 1234
    assert settings([], {"CHATCORE_CONFIG": str(config)}).port == 9000
    assert settings(
        ["--allowed-origins", "https://a.example, https://b.example"], {}
    ).allowed_origins == (
        "https://a.example",
        "https://b.example",
    )
    config.write_text("prot = 1\n")
    with pytest.raises(ConfigError, match="prot"):
        settings(["--config", str(config)], {})
    with pytest.raises(ConfigError, match="log_format"):
        settings(["--log-format", "xml"], {})


def test_a_server_without_a_login_method_refuses_to_start() -> None:
    server = Serve()
    process = __import__("subprocess").run(
        server.command(), env=server.env, capture_output=True, timeout=30
    )
    assert process.returncode == 2
    assert b"--jwt-secret" in process.stderr


@pytest.mark.anyio
async def test_guests_chat_and_health_answers(guests: Serve) -> None:
    status, kind, body = guests.get("/healthz")
    assert (status, kind, body["status"]) == (200, "application/json", "ok")
    async with ChatClient(guests.ws_url) as ann, ChatClient(guests.ws_url) as bob:
        assert ann.welcome["user"]["id"].startswith("guest-")
        assert ann.welcome["user"]["id"] != bob.welcome["user"]["id"]
        await ann.create_room("guests")
        await ann.join("guests")
        await bob.join("guests")
        sent = await bob.send("guests", "hi from a guest")
        message, _ = await until(ann, "message", lambda event: event["id"] == sent)
        assert message["text"] == "hi from a guest"
        assert guests.get("/healthz")[2]["sockets"] == 2
    status, _, _ = guests.get("/static/chatcore.js")
    assert status == 200
    assert guests.get("/nothing")[0] == 404


@pytest.mark.anyio
async def test_sigterm_closes_sockets_with_1012_and_clients_reconnect_to_another_process() -> None:
    async with redis_prefix() as (url, prefix):
        env = {"CHATCORE_REDIS_URL": url, "CHATCORE_REDIS_PREFIX": prefix}
        first, second = Serve("--guests", env=env), Serve("--guests", env=env)
        first.args += ["--drain-batch", "2"]
        for server in (first, second):
            server.start()
        try:
            clients = [ChatClient(first.ws_url, backoff=FAST) for _ in range(5)]
            for client in clients:
                await client.connect()
            await clients[0].create_room("drained")
            for client in clients:
                await client.join("drained")
            assert first.get("/healthz")[2]["sockets"] == 5
            for client in clients:  # the load balancer sends them to the second process now
                client.url = second.ws_url
            assert first.process is not None
            started = time.monotonic()
            os.kill(first.process.pid, signal.SIGTERM)
            for client in clients:
                closed, _ = await until(client, "close")
                assert closed["code"] == 1012
            await asyncio.to_thread(first.process.wait, 15)
            assert first.process.returncode == 0
            assert time.monotonic() - started < 10
            for client in clients:
                opened, _ = await until(client, "open")
                assert opened["reconnect"] is True
            sent = await clients[1].send("drained", "after the move")
            for client in clients:
                message, _ = await until(client, "message", lambda event: event["id"] == sent)
                assert message["text"] == "after the move"
            assert second.get("/healthz")[2]["sockets"] == 5
            for client in clients:
                await client.close()
        finally:
            first.stop()
            second.stop()
