"""The metrics over a real socket: a Starlette app on uvicorn serves ``metrics_route``; chat
traffic on its WebSocket moves the counters, and the text parses with the Prometheus parser."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from chatcore.client import Backoff, ChatClient, Frame
from tests.server.test_api_uvicorn import ApiServer

pytestmark = [pytest.mark.network, pytest.mark.anyio]


@pytest.fixture(scope="module")
def server() -> Iterator[ApiServer]:
    server = ApiServer()
    server.env["CHATCORE_API_KEY"] = "metrics-test-key"
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def scrape(server: ApiServer, path: str = "/metrics") -> dict[str, float]:
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
        response = await http.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples: dict[str, float] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            samples[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return samples


async def next_of(client: ChatClient, kind: str) -> Frame:
    async with asyncio.timeout(5):
        while True:
            event = await client.next_event()
            if event["type"] == kind:
                return event


async def test_chat_traffic_moves_the_counters(server: ApiServer) -> None:
    before = await scrape(server)
    clients = [
        ChatClient(f"{server.ws_url}?user=m{n}", backoff=Backoff(initial=0.05)) for n in range(3)
    ]
    for client in clients:
        await client.connect()
    await clients[0].create_room("metered")
    for client in clients:
        await client.join("metered")
    during = await scrape(server)
    assert during["chatcore_connections"] - before.get("chatcore_connections", 0) == 3
    assert during["chatcore_rooms"] >= 1
    for n in range(5):
        await clients[n % 3].send("metered", f"message {n}")
    for client in clients[1:]:
        await next_of(client, "message")
    for client in clients:
        await client.close()
    after = await scrape(server)

    def moved(name: str) -> float:
        return after.get(name, 0) - before.get(name, 0)

    assert moved("chatcore_frames_in_total") >= 1 + 3 + 5  # create, joins, sends
    assert moved("chatcore_deliveries_total") >= 5 * 3  # every message to the three
    assert moved("chatcore_frames_out_total") > moved("chatcore_deliveries_total")
    assert moved("chatcore_closes_total{code=1000}") == 3
    assert after["chatcore_connections"] == before.get("chatcore_connections", 0)
    assert after["chatcore_broker_publish_seconds_count"] >= 0


async def test_allow_guards_the_route(server: ApiServer) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
        refused = await http.get("/private-metrics")
    assert refused.status_code == 403
    assert "chatcore_connections" in await scrape(server, "/private-metrics?token=1")
