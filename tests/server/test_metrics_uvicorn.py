"""The metrics over a real socket, on each server of conftest.py: a Starlette app on uvicorn
serving ``metrics_route``, and ``chatcore serve`` (the native adapter) serving ``/metrics``; chat
traffic on the server's WebSocket moves the counters, and the text parses with the Prometheus
parser."""

from __future__ import annotations

import httpx
import pytest

from chatcore.client import Backoff, ChatClient
from tests.prometheus import moved, samples
from tests.server.conftest import ApiServer, ServeApi
from tests.server.test_api_uvicorn import next_of

pytestmark = [pytest.mark.network, pytest.mark.anyio]


async def scrape(server: ApiServer | ServeApi, path: str = "/metrics") -> dict[str, float]:
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
        response = await http.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return samples(response.text)


async def test_chat_traffic_moves_the_counters(app_server: ApiServer | ServeApi) -> None:
    before = await scrape(app_server)
    clients = [
        ChatClient(app_server.user_url(f"m{n}"), backoff=Backoff(initial=0.05)) for n in range(3)
    ]
    for client in clients:
        await client.connect()
    await clients[0].create_room("metered")
    for client in clients:
        await client.join("metered")
    during = await scrape(app_server)
    assert during["chatcore_connections"] - before.get("chatcore_connections", 0) == 3
    assert during["chatcore_rooms"] >= 1
    for n in range(5):
        await clients[n % 3].send("metered", f"message {n}")
    for client in clients[1:]:
        await next_of(client, "message")
    for client in clients:
        await client.close()
    after = await scrape(app_server)

    def grew(name: str) -> float:
        return moved(before, after, name)

    assert grew("chatcore_frames_in_total") >= 1 + 3 + 5  # create, joins, sends
    assert grew("chatcore_deliveries_total") >= 5 * 3  # every message to the three
    assert grew("chatcore_frames_out_total") > grew("chatcore_deliveries_total")
    assert grew("chatcore_closes_total{code=1000}") == 3
    assert after["chatcore_connections"] == before.get("chatcore_connections", 0)
    assert after["chatcore_broker_publish_seconds_count"] >= 0


async def test_allow_guards_the_route(starlette_server: ApiServer) -> None:
    async with httpx.AsyncClient(base_url=starlette_server.url, timeout=10) as http:
        refused = await http.get("/private-metrics")
    assert refused.status_code == 403
    assert "chatcore_connections" in await scrape(starlette_server, "/private-metrics?token=1")
