"""The origin check at the handshake: the site's own scheme, host and port, the listed origins,
and sockets without an ``Origin`` (not opened by a browser page)."""

from __future__ import annotations

import json
from typing import Any

import pytest
import websockets
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings
from websockets.typing import Origin

from chatcore_django.conf import chat_settings
from chatcore_django.routing import websocket_application

from .conftest import Site
from .factories import make_user, session_cookie
from .test_site import Browserless, next_of

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("chat_runtime")]


async def handshake(
    origin: str | None, host: str = "localhost", scheme: str = "ws", app: Any = None
) -> bool:
    """Whether a logged-in user's socket with these headers is accepted."""
    cookie = await sync_to_async(session_cookie)(await sync_to_async(make_user)())
    headers = [(b"host", host.encode()), (b"cookie", cookie.encode())]
    if origin is not None:
        headers.append((b"origin", origin.encode()))
    communicator = WebsocketCommunicator(app or websocket_application(), "/ws/", headers=headers)
    communicator.scope["scheme"] = scheme
    connected, _ = await communicator.connect()
    if connected:
        assert json.loads(await communicator.receive_from(timeout=5))["type"] == "welcome"
        await communicator.disconnect()
    return bool(connected)


async def test_the_sites_own_origin_is_accepted() -> None:
    assert await handshake("http://localhost")
    assert await handshake("http://localhost:80")
    assert await handshake("http://localhost:8000", host="localhost:8000")
    assert await handshake("https://localhost", scheme="wss")
    assert await handshake("HTTP://LocalHost:8000/", host="localhost:8000")


async def test_another_port_of_the_same_host_is_refused() -> None:
    assert not await handshake("http://localhost:8001", host="localhost:8000")
    assert not await handshake("http://localhost:8001")


async def test_another_scheme_of_the_same_host_is_refused() -> None:
    assert not await handshake("https://localhost")  # an https page, a ws: socket
    assert not await handshake("http://localhost", scheme="wss")


async def test_another_host_is_refused() -> None:
    assert not await handshake("http://evil.example")
    assert not await handshake("http://evil.example", host="evil.example")  # not ALLOWED_HOSTS
    assert not await handshake("null")


async def test_listed_origins_are_accepted() -> None:
    chatcore = {**settings.CHATCORE, "ALLOWED_ORIGINS": ["https://app.example.com"]}
    with override_settings(CHATCORE=chatcore):
        app = websocket_application()
    assert await handshake("https://app.example.com", app=app)
    assert await handshake("https://app.example.com:443/", app=app)
    assert await handshake("http://localhost", app=app)  # the site's own still
    assert not await handshake("http://app.example.com", app=app)
    assert not await handshake("https://app.example.com:8443", app=app)
    with override_settings(CHATCORE={**settings.CHATCORE, "ALLOWED_ORIGINS": ["*"]}):
        anything = websocket_application()
    assert await handshake("http://evil.example", app=anything)


async def test_a_listed_origin_must_be_an_origin() -> None:
    for wrong in (["app.example.com"], "https://app.example.com", ["https://x.example/path"]):
        with (
            override_settings(CHATCORE={**settings.CHATCORE, "ALLOWED_ORIGINS": wrong}),
            pytest.raises(ImproperlyConfigured, match="ALLOWED_ORIGINS"),
        ):
            chat_settings()


async def test_a_socket_without_origin_is_not_a_browser_page_and_is_accepted() -> None:
    assert await handshake(None)


async def test_a_socket_without_origin_still_needs_a_login() -> None:
    communicator = WebsocketCommunicator(
        websocket_application(), "/ws/", headers=[(b"host", b"localhost")]
    )
    connected, _ = await communicator.connect()
    assert not connected


@pytest.mark.network
async def test_a_live_site_refuses_another_port_and_takes_its_own(site: Site) -> None:
    async with Browserless.sign_up(site, "port") as user:
        async with user.socket() as own:  # Origin: the site's own URL
            await next_of(own, "welcome")
        cookie = "; ".join(f"{k}={v}" for k, v in user.http.cookies.items())
        for origin in (f"http://127.0.0.1:{site.port + 1}", f"https://127.0.0.1:{site.port}"):
            with pytest.raises(websockets.InvalidStatus) as refused:
                async with websockets.connect(
                    site.ws_url, origin=Origin(origin), additional_headers={"Cookie": cookie}
                ):
                    pass
            assert refused.value.response.status_code == 403
        async with websockets.connect(site.ws_url, additional_headers={"Cookie": cookie}) as bot:
            await next_of(bot, "welcome")
