"""The connection quota at the Channels consumer's handshake: in memory, and on the live site."""

from __future__ import annotations

import contextlib
import json

import pytest
import websockets
from asgiref.sync import sync_to_async

from chatcore import CloseCode, Limits

from .conftest import Site
from .factories import make_user, session_cookie
from .test_consumer import Peer, socket
from .test_site import Browserless

pytestmark = pytest.mark.anyio

ALLOWED = Limits().connections_per_user  # ChatBoard and the tests run with the defaults


@pytest.mark.usefixtures("chat_runtime")
async def test_one_socket_too_many_for_a_user_is_closed_with_4429() -> None:
    user = await sync_to_async(make_user)()
    peers = [await Peer.open(user) for _ in range(ALLOWED)]
    refused = socket(await sync_to_async(session_cookie)(user))
    connected, _ = await refused.connect()
    assert connected  # accepted, so that the browser sees the close code and reason
    closed = await refused.receive_output(timeout=5)
    assert closed["type"] == "websocket.close"
    assert closed["code"] == CloseCode.QUOTA_EXCEEDED
    assert "connections_per_user" in closed["reason"]
    other = await Peer.open(await sync_to_async(make_user)())
    for peer in [*peers, other]:
        await peer.ws.disconnect()


@pytest.mark.network
async def test_the_live_site_closes_a_users_socket_past_connections_per_user(site: Site) -> None:
    async with Browserless.sign_up(site, "many") as user, contextlib.AsyncExitStack() as sockets:
        for _ in range(ALLOWED):
            ws = await sockets.enter_async_context(user.socket())
            assert json.loads(await ws.recv())["type"] == "welcome"
        async with user.socket() as refused:
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await refused.recv()
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 4429
        assert "connections_per_user" in closed.value.rcvd.reason
