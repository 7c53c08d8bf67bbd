"""A ChatBoard client that stops reading is closed and leaves, instead of staying forever."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import anyio
import pytest
from websockets.client import ClientProtocol
from websockets.protocol import State
from websockets.uri import parse_uri

from .conftest import Site, serve
from .test_site import Browserless, call

pytestmark = [pytest.mark.anyio, pytest.mark.network]

LIMITS = {"outbox": 8, "rate": 5_000, "burst": 5_000, "presence_grace": 200}
#: uvicorn's own keepalive would end a silent socket 40 s after it opened (20 s ping + 20 s
#: timeout); the consumer must end it before that (it takes ~5 s of close_linger after the
#: outbox overflows, and 10-20 s of posting to fill the socket buffers).
BOUND = 35.0


@pytest.fixture(scope="module")
def tight_site(test_database: str) -> Iterator[Site]:
    with serve(test_database, CHATCORE_LIMITS=json.dumps(LIMITS)) as (only,):
        yield only


class Stalled:
    """A socket that joins a room, then never reads again (its receive buffer is tiny)."""

    def __init__(self, site: Site, cookie: str) -> None:
        self.protocol = ClientProtocol(parse_uri(site.ws_url))
        request = self.protocol.connect()
        request.headers["Cookie"] = cookie
        request.headers["Origin"] = site.url
        self.protocol.send_request(request)
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
        self.sock.settimeout(10)
        self.sock.connect(("127.0.0.1", site.port))
        self._flush()
        while self.protocol.state is State.CONNECTING:
            self.protocol.receive_data(self.sock.recv(2048))
        assert self.protocol.handshake_exc is None, self.protocol.handshake_exc

    def _flush(self) -> None:
        for data in self.protocol.data_to_send():
            self.sock.sendall(data)

    def send(self, frame: dict[str, Any]) -> None:
        self.protocol.send_text(json.dumps(frame).encode())
        self._flush()


async def test_a_client_that_stops_reading_is_ended_and_leaves(tight_site: Site) -> None:
    async with (
        Browserless.sign_up(tight_site, "talk") as talker,
        Browserless.sign_up(tight_site, "stuck") as stuck,
        talker.socket() as ws,
    ):
        room = f"slow-{talker.username}"
        assert (await call(ws, "create_room", 1, room=room))["type"] == "ok"
        assert (await call(ws, "join", 2, room=room))["type"] == "ok"
        cookie = "; ".join(f"{name}={value}" for name, value in stuck.http.cookies.items())
        started = time.monotonic()
        stalled = await anyio.to_thread.run_sync(Stalled, tight_site, cookie)
        try:
            stalled.send({"type": "join", "room": room})
            text = "x" * 4000
            ref = 3
            left = None
            with anyio.fail_after(BOUND):
                while left is None:
                    # Twenty sends at a time; every reply comes after the frames before it, so
                    # reading up to the last reply misses no leave.
                    for _ in range(20):
                        frame = {"type": "send", "ref": ref, "room": room, "text": text}
                        await ws.send(json.dumps(frame))
                        ref += 1
                    while True:
                        frame = json.loads(await ws.recv())
                        if frame["type"] == "presence" and frame["event"] == "leave":
                            left = frame
                        if frame.get("ref") == ref - 1:
                            break
            members = (await call(ws, "members", ref, room=room))["members"]
            assert len(members) == 1  # the talker alone: the stalled user is gone
            assert members[0]["id"] != left["user"]["id"]
            assert time.monotonic() - started < BOUND
        finally:
            stalled.sock.close()
