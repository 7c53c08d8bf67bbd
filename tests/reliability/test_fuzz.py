"""Hostile frames through a real socket at the example app, in uvicorn and on the native
adapter (hypothesis).

Each frame is followed by a ``ping`` with its own ``ref``, so everything the server answered to
the frame arrives before that ping's ``ok``. Every few dozen frames, Alice posts in a room and
Bob must receive it: the other users' chat keeps working throughout.
"""

from __future__ import annotations

import collections
import itertools
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from websockets.exceptions import ConnectionClosed
from websockets.frames import Close
from websockets.sync.client import ClientConnection, connect

from tests.reliability.fuzz_frames import ROOM, Probe, frames, reply_ref
from tests.reliability.support import NO_LIMITS, running
from tests.starlette.example_server import ExampleServer

pytestmark = [pytest.mark.network]

#: Stable error codes a hostile frame may get; ``internal`` would be a server bug.
CLIENT_CODES = {"bad_frame", "unknown_type", "invalid_field", "too_large", "no_such_room"}
CLIENT_CODES |= {"room_exists", "not_member", "forbidden", "no_such_user"}
CLIENT_CODES |= {"recipient_unavailable", "rate_limited", "quota_exceeded"}
CHAT_EVERY = 25


def open_socket(server: ExampleServer, name: str) -> ClientConnection:
    cookie = "; ".join(f"{k}={v}" for k, v in server.login(name).items())
    # Entered here and closed by the fuzzer: a socket outlives many hypothesis examples.
    # No keepalive pings: their thread draws from `random`, which hypothesis forbids mid-draw.
    ws = connect(
        server.ws_url, additional_headers={"Cookie": cookie}, open_timeout=10, ping_interval=None
    ).__enter__()
    assert json.loads(ws.recv(timeout=10))["type"] == "welcome"
    return ws


def request(ws: ClientConnection, ref: str, **frame: Any) -> dict[str, Any]:
    """Send a frame with ``ref``; the reply to it (other frames are skipped)."""
    ws.send(json.dumps({**frame, "ref": ref}))
    while True:
        reply: dict[str, Any] = json.loads(ws.recv(timeout=10))
        if reply.get("ref") == ref and reply["type"] in ("ok", "error"):
            return reply


class Fuzzer:
    """Sends probes from one user and checks the answers; Alice and Bob chat alongside."""

    def __init__(self, server: ExampleServer) -> None:
        self.server = server
        self.refs = itertools.count()
        self.seen: collections.Counter[str] = collections.Counter()
        self.reopened = 0
        self.chats = 0
        self.alice = open_socket(server, "Alice")
        self.bob = open_socket(server, "Bob")
        self.ws = open_socket(server, "Mallory")
        assert request(self.alice, "c", type="create_room", room=ROOM)["type"] == "ok"
        for ws in (self.alice, self.bob):
            assert request(ws, "j", type="join", room=ROOM)["type"] == "ok"

    def close(self) -> None:
        for ws in (self.ws, self.alice, self.bob):
            ws.close()

    def probe(self, probe: Probe) -> None:
        self.seen[probe.kind] += 1
        sentinel = f"sentinel-{next(self.refs)}"
        answers: list[dict[str, Any]] = []
        received: Close | None
        try:
            self.ws.send(probe.data, text=True if probe.as_text else None)
            self.ws.send(json.dumps({"type": "ping", "ref": sentinel}))
            while True:
                answer = json.loads(self.ws.recv(timeout=10))
                if answer.get("ref") == sentinel:
                    assert answer["type"] == "ok", answer
                    break
                if answer["type"] in ("ok", "error"):
                    answers.append(answer)
        except ConnectionClosed as closed:
            received = closed.rcvd
        else:
            received = None
        if received is not None or self.ws.close_code is not None:
            assert received is not None, "the server dropped the socket without a close frame"
            assert received.code == probe.expect, (probe.kind, received)
            self.ws = open_socket(self.server, "Mallory")
            self.reopened += 1
            return
        assert not isinstance(probe.expect, int), f"{probe.kind}: expected close {probe.expect}"
        assert all(a["type"] == "ok" or a["code"] in CLIENT_CODES for a in answers), answers
        ref = reply_ref(probe.data)
        if not probe.ref_known:
            assert all(a.get("ref") in (None, ref) for a in answers), answers
        elif ref is not None:
            assert [a["ref"] for a in answers] == [ref], (probe, answers)
        else:
            assert all("ref" not in a and a["type"] == "error" for a in answers), answers
        if probe.expect == "error":
            assert [a["type"] for a in answers] == ["error"], (probe, answers)
        else:
            assert len(answers) <= 1, answers

    def check_chat(self) -> None:
        """Alice posts in the room; Bob receives it from Alice."""
        self.chats += 1
        text = f"still here {self.chats}"
        assert request(self.alice, "s", type="send", room=ROOM, text=text)["type"] == "ok"
        deadline = time.monotonic() + 10
        while True:
            event = json.loads(self.bob.recv(timeout=max(0.0, deadline - time.monotonic())))
            if event["type"] == "message" and event["text"] == text:
                assert event["from"]["id"] == "alice"
                return


@pytest.fixture(scope="module")
def fuzzer(server_class: type[ExampleServer]) -> Iterator[Fuzzer]:
    with running(server_class, env=NO_LIMITS) as server:
        fuzzer = Fuzzer(server)
        started = time.monotonic()
        yield fuzzer
        fuzzer.check_chat()
        fuzzer.close()
        total = sum(fuzzer.seen.values())
        print(  # the figures docs/reliability.md quotes
            f"\nfuzz: {total} frames in {time.monotonic() - started:.1f} s, "
            f"{fuzzer.reopened} sockets closed as documented, {fuzzer.chats} chat checks; "
            + ", ".join(f"{kind}: {n}" for kind, n in sorted(fuzzer.seen.items()))
        )
        assert server.process is not None
        assert server.process.poll() is None  # the server is still up


def run(fuzzer: Fuzzer, probe: Probe) -> None:
    fuzzer.probe(probe)
    if sum(fuzzer.seen.values()) % CHAT_EVERY == 0:
        fuzzer.check_chat()


_SETTINGS: dict[str, Any] = {
    "deadline": None,
    "database": None,
    "suppress_health_check": [
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
        HealthCheck.large_base_example,
    ],
}


@settings(max_examples=400, **_SETTINGS)
@given(probe=frames)
def test_hostile_frames_get_errors_and_chat_goes_on(fuzzer: Fuzzer, probe: Probe) -> None:
    run(fuzzer, probe)


@pytest.mark.soak
@pytest.mark.timeout(240)
@settings(max_examples=10_000, **_SETTINGS)
@given(probe=frames)
def test_ten_thousand_hostile_frames(fuzzer: Fuzzer, probe: Probe) -> None:
    run(fuzzer, probe)
