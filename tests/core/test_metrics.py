"""chatcore.metrics: the counters move with real chat traffic, and the text parses with the
Prometheus parser. (Over real sockets: tests/server/test_metrics_uvicorn.py, tests/django.)"""

from __future__ import annotations

import subprocess
import sys

import anyio
import pytest

from chatcore import ChatServer, Limits, User, metrics
from chatcore.testing import LocalClient
from tests.prometheus import moved, samples

pytestmark = pytest.mark.anyio


def scrape() -> dict[str, float]:
    """Every sample of the rendered metrics, by name and labels."""
    body, content_type = metrics.render()
    assert content_type.startswith("text/plain; version=0.0.4")
    return samples(body.decode())


async def test_counters_move_with_chat_traffic() -> None:
    before = scrape()
    async with ChatServer() as server:
        await server.create_room("lobby")
        clients = [
            await LocalClient.connect(server, User(id=str(n), name=f"U{n}")) for n in range(3)
        ]
        for client in clients:
            await client.call("join", room="lobby")
        during = scrape()
        assert moved(before, during, "chatcore_connections") == 3
        assert moved(before, during, "chatcore_rooms") == 1
        await clients[0].call("send", room="lobby", text="hello")
        await server.post("lobby", "from the app", sender=User(id="app", name="App"))
        await clients[1].request("nonsense")  # an error reply
        await anyio.wait_all_tasks_blocked()
        await clients[2].close()
        await anyio.wait_all_tasks_blocked()
        after = scrape()
    # 3 joins, 1 send, 1 bad frame
    assert moved(before, after, "chatcore_frames_in_total") == 5
    # Each message reached 3 connections (2 joins were announced to those already in).
    assert moved(before, after, "chatcore_deliveries_total") >= 6
    direct = 3 + 3 + 1 + 1  # welcomes, join replies, the send's reply, the error
    assert moved(before, after, "chatcore_frames_out_total") == direct + moved(
        before, after, "chatcore_deliveries_total"
    )
    assert moved(before, after, "chatcore_closes_total{code=1000}") == 1
    stopped = scrape()
    assert moved(before, stopped, "chatcore_connections") == 0
    assert moved(before, stopped, "chatcore_rooms") == 0
    # The server stopped with two connections open: closed with 1001 (going away).
    assert moved(after, stopped, "chatcore_closes_total{code=1001}") == 2


async def test_dropped_frames_and_a_slow_consumer_close() -> None:
    before = scrape()
    limits = Limits(outbox=2, typing_interval=0)
    async with ChatServer(limits=limits) as server:
        await server.create_room("lobby")
        slow = await LocalClient.connect(server, User(id="slow", name="Slow"))
        await slow.call("join", room="lobby")
        typist = await LocalClient.connect(server, User(id="t", name="T"))
        await typist.call("join", room="lobby")
        # The slow client never reads: typing notices beyond its outbox are dropped...
        for _ in range(4):
            await typist.send({"type": "typing", "room": "lobby"})
        await anyio.wait_all_tasks_blocked()
        assert moved(before, scrape(), "chatcore_dropped_total") >= 1
        # ...and chat frames beyond it close it with 1013.
        for n in range(3):
            await server.post("lobby", f"m{n}", sender=User(id="app", name="App"))
        await anyio.wait_all_tasks_blocked()
        assert slow.close_code == 1013
        await slow.close()
        after = scrape()
    assert moved(before, after, "chatcore_closes_total{code=1013}") == 1
    assert moved(before, after, "chatcore_dropped_total") >= 1


async def test_a_timed_publish_lands_in_the_histogram() -> None:
    class SlowBroker:
        calls = 0

        @metrics.timed_publish
        async def publish(self, envelope: object) -> None:
            self.calls += 1
            if self.calls == 2:
                raise RuntimeError("a failed publish is timed too")

    broker = SlowBroker()
    before = scrape()
    await broker.publish(None)
    with pytest.raises(RuntimeError):
        await broker.publish(None)
    after = scrape()
    assert moved(before, after, "chatcore_broker_publish_seconds_count") == 2
    assert moved(before, after, "chatcore_broker_publish_seconds_bucket{le=+Inf}") == 2
    assert moved(before, after, "chatcore_broker_publish_seconds_bucket{le=0.0001}") <= 2
    assert moved(before, after, "chatcore_broker_publish_seconds_sum") > 0


def test_chatcore_runs_without_prometheus_client() -> None:
    code = """
import sys
sys.modules["prometheus_client"] = None  # as if it were not installed
import anyio
from chatcore import ChatServer, User, metrics
from chatcore.testing import LocalClient

async def main():
    async with ChatServer() as server:
        client = await LocalClient.connect(server, User(id="1", name="A"))
        await client.call("create_room", room="r")
    body, content_type = metrics.render()
    assert metrics.REGISTRY is None
    assert body.startswith(b"# chatcore metrics need prometheus-client"), body
    print("ok")

anyio.run(main)
"""
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.stdout.strip() == "ok", result.stderr


def test_another_registry_can_carry_them() -> None:
    from prometheus_client import CollectorRegistry, generate_latest

    registry = CollectorRegistry()
    metrics.register(registry)
    found = samples(generate_latest(registry).decode())
    assert {"chatcore_connections", "chatcore_deliveries_total"} <= set(found)
