"""ChatBoard served by a real uvicorn process, over real HTTP and WebSocket connections."""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx
import pytest
import websockets
from websockets.asyncio.client import ClientConnection
from websockets.typing import Origin

from .conftest import Site

pytestmark = [pytest.mark.anyio, pytest.mark.network]

PASSWORD = "site-test-password-314"
WAIT = 10  # seconds any one frame may take


class Browserless:
    """A signed-up account on the live site: an HTTP session and its sockets."""

    def __init__(self, site: Site, http: httpx.AsyncClient, username: str) -> None:
        self.site = site
        self.http = http
        self.username = username

    @classmethod
    @asynccontextmanager
    async def sign_up(cls, site: Site, prefix: str) -> AsyncIterator[Browserless]:
        username = f"{prefix}{secrets.token_hex(4)}"
        async with httpx.AsyncClient(base_url=site.url, timeout=10) as http:
            await http.get("/accounts/signup/")
            response = await http.post(
                "/accounts/signup/",
                data={
                    "username": username,
                    "password1": PASSWORD,
                    "password2": PASSWORD,
                    "csrfmiddlewaretoken": http.cookies["csrftoken"],
                },
            )
            assert response.status_code == 302, response.text
            yield cls(site, http, username)

    def socket(self) -> Any:
        cookie = "; ".join(f"{name}={value}" for name, value in self.http.cookies.items())
        return websockets.connect(
            self.site.ws_url, origin=Origin(self.site.url), additional_headers={"Cookie": cookie}
        )

    async def log_out(self, through: Site | None = None) -> int:
        """Log out on this account's site, or ``through`` another process of it (the cookies
        hold for every port of the host)."""
        base = (through or self.site).url
        response = await self.http.post(
            f"{base}/accounts/logout/", data={"csrfmiddlewaretoken": self.http.cookies["csrftoken"]}
        )
        return response.status_code


async def call(ws: ClientConnection, kind: str, ref: int, **fields: Any) -> dict[str, Any]:
    """Send a request; its reply (frames before it are dropped)."""
    await ws.send(json.dumps({"type": kind, "ref": ref, **fields}))
    with anyio.fail_after(WAIT):
        while True:
            frame: dict[str, Any] = json.loads(await ws.recv())
            if frame.get("ref") == ref:
                return frame


async def next_of(ws: ClientConnection, kind: str) -> dict[str, Any]:
    """The next frame of type ``kind`` (others are dropped)."""
    with anyio.fail_after(WAIT):
        while True:
            frame: dict[str, Any] = json.loads(await ws.recv())
            if frame["type"] == kind:
                return frame


async def test_pages_and_assets_are_served_by_the_site(site: Site) -> None:
    async with httpx.AsyncClient(base_url=site.url) as http:
        for path in (
            "/static/chatcore/chatcore.js",
            "/static/board/room.js",
            "/static/board/app.css",
        ):
            response = await http.get(path)
            assert response.status_code == 200, path
        page = await http.get("/accounts/login/")
        assert "cdn" not in page.text.lower()
        assert "https://" not in page.text


async def test_anonymous_and_foreign_sockets_get_403(site: Site) -> None:
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with websockets.connect(site.ws_url, origin=Origin(site.url)):
            pass
    assert refused.value.response.status_code == 403
    async with Browserless.sign_up(site, "origin") as user:
        cookie = "; ".join(f"{k}={v}" for k, v in user.http.cookies.items())
        with pytest.raises(websockets.InvalidStatus) as foreign:
            async with websockets.connect(
                site.ws_url,
                origin=Origin("http://evil.example"),
                additional_headers={"Cookie": cookie},
            ):
                pass
        assert foreign.value.response.status_code == 403


async def test_two_people_chat_history_survives_and_logout_closes_the_socket(site: Site) -> None:
    room = f"site-{secrets.token_hex(4)}"
    async with Browserless.sign_up(site, "ann") as ann, Browserless.sign_up(site, "ben") as ben:
        async with ann.socket() as ws_ann, ben.socket() as ws_ben:
            welcome = await next_of(ws_ann, "welcome")
            assert welcome["user"]["name"] == f"{ann.username} @{ann.username}"
            await next_of(ws_ben, "welcome")
            assert (await call(ws_ann, "create_room", 1, room=room, title="Site test"))[
                "type"
            ] == "ok"
            await call(ws_ann, "join", 2, room=room)
            await call(ws_ben, "join", 1, room=room)
            assert (await call(ws_ann, "send", 3, room=room, text="first"))["id"] == 1
            assert (await next_of(ws_ben, "message"))["text"] == "first"
            assert (await call(ws_ben, "send", 2, room=room, text="second"))["id"] == 2
            assert (await next_of(ws_ann, "message"))["text"] == "second"
        # A new socket gets the history, from the database.
        async with ben.socket() as again:
            joined = await call(again, "join", 1, room=room)
            assert [m["text"] for m in joined["history"]] == ["first", "second"]
            resumed = await call(again, "join", 2, room=room, since=1)
            assert [m["text"] for m in resumed["history"]] == ["second"]
            assert await ben.log_out() == 302
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await next_of(again, "never")
            assert closed.value.rcvd is not None
            assert closed.value.rcvd.code == 4401
        with pytest.raises(websockets.InvalidStatus):
            async with ben.socket():
                pass


async def test_a_new_password_ends_the_sockets_of_the_other_sessions(site: Site) -> None:
    async with (
        Browserless.sign_up(site, "pw") as here,
        httpx.AsyncClient(base_url=site.url, timeout=10) as http,
    ):
        await http.get("/accounts/login/")
        login = await http.post(
            "/accounts/login/",
            data={
                "username": here.username,
                "password": PASSWORD,
                "csrfmiddlewaretoken": http.cookies["csrftoken"],
            },
        )
        assert login.status_code == 302, login.text
        elsewhere = Browserless(site, http, here.username)
        async with here.socket() as ws_here, elsewhere.socket() as ws_elsewhere:
            await next_of(ws_here, "welcome")
            await next_of(ws_elsewhere, "welcome")
            new = "site-test-new-password-271"
            changed = await here.http.post(
                "/accounts/password/",
                data={
                    "old_password": PASSWORD,
                    "new_password1": new,
                    "new_password2": new,
                    "csrfmiddlewaretoken": here.http.cookies["csrftoken"],
                },
            )
            assert changed.status_code == 302, changed.text
            for ws in (ws_here, ws_elsewhere):
                with pytest.raises(websockets.ConnectionClosed) as closed:
                    await next_of(ws, "never")
                assert closed.value.rcvd is not None
                assert closed.value.rcvd.code == 1013  # try again
        # The session that changed the password reconnects; the other one is over.
        async with here.socket() as again:
            await next_of(again, "welcome")
        with pytest.raises(websockets.InvalidStatus) as refused:
            async with elsewhere.socket():
                pass
        assert refused.value.response.status_code == 403
