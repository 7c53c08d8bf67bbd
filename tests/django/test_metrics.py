"""The metrics view: staff or the token may read it, over Django's test client and over a real
socket from ChatBoard on uvicorn, where chat traffic moves the counters."""

from __future__ import annotations

import json
from collections.abc import Iterator

import anyio
import httpx
import pytest
import websockets
from django.test import Client, override_settings
from websockets.typing import Origin

from tests.prometheus import moved, samples

from .conftest import Site, serve
from .factories import make_user, session_cookie

TOKEN = "a-metrics-token-for-the-tests"


def with_token() -> override_settings:
    from django.conf import settings

    return override_settings(CHATCORE={**settings.CHATCORE, "METRICS_TOKEN": TOKEN})


def test_staff_and_the_token_may_read_the_metrics_no_one_else() -> None:
    anonymous = Client()
    assert anonymous.get("/metrics").status_code == 403
    member = Client()
    member.force_login(make_user("member"))
    assert member.get("/metrics").status_code == 403
    staff_user = make_user("staff")
    staff_user.is_staff = True
    staff_user.save()
    staff = Client()
    staff.force_login(staff_user)
    response = staff.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    assert "chatcore_connections" in samples(response.content.decode())
    assert staff.post("/metrics").status_code == 405
    with with_token():
        assert anonymous.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 200
        assert anonymous.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
        assert anonymous.get("/metrics", HTTP_AUTHORIZATION=f"Basic {TOKEN}").status_code == 403
    # Without a token set, no bearer token opens it.
    assert anonymous.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 403


def test_a_short_token_is_refused_at_start() -> None:
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured

    from chatcore_django import chat_settings

    with (
        override_settings(CHATCORE={**settings.CHATCORE, "METRICS_TOKEN": "short"}),
        pytest.raises(ImproperlyConfigured),
    ):
        chat_settings()


@pytest.fixture(scope="module")
def metered_site(test_database: str) -> Iterator[Site]:
    with serve(test_database, CHATCORE_METRICS_TOKEN=TOKEN) as (only,):
        yield only


@pytest.mark.anyio
@pytest.mark.network
async def test_chat_traffic_moves_the_counters_on_a_live_site(metered_site: Site) -> None:
    site = metered_site
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(base_url=site.url, headers=headers, timeout=10) as http:

        async def scrape() -> dict[str, float]:
            response = await http.get("/metrics")
            assert response.status_code == 200, response.text
            return samples(response.text)

        before = await scrape()
        from asgiref.sync import sync_to_async

        cookie = await sync_to_async(lambda: session_cookie(make_user("metered")))()
        async with websockets.connect(
            site.ws_url, origin=Origin(site.url), additional_headers={"Cookie": cookie}
        ) as ws:
            room = "metered-room"
            for ref, (kind, fields) in enumerate(
                [
                    ("create_room", {"room": room, "title": "Metered"}),
                    ("join", {"room": room}),
                    ("send", {"room": room, "text": "one"}),
                    ("send", {"room": room, "text": "two"}),
                ],
                1,
            ):
                await ws.send(json.dumps({"type": kind, "ref": ref, **fields}))
                while json.loads(await ws.recv()).get("ref") != ref:
                    pass
            during = await scrape()
        after = await scrape()
        for _ in range(50):  # the server sees the socket end a moment after the client
            if after.get("chatcore_closes_total{code=1000}", 0) > before.get(
                "chatcore_closes_total{code=1000}", 0
            ):
                break
            await anyio.sleep(0.1)  # polling a live server: there is no event to wait on
            after = await scrape()

    assert moved(before, during, "chatcore_connections") == 1
    assert moved(before, during, "chatcore_frames_in_total") == 4
    assert moved(before, during, "chatcore_deliveries_total") >= 2
    assert moved(before, during, "chatcore_frames_out_total") >= 4 + 2 + 1
    assert moved(before, after, "chatcore_closes_total{code=1000}") == 1
    assert moved(before, after, "chatcore_connections") == 0
