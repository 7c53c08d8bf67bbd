"""Webhooks and the HTTP proxy against a real local HTTP receiver (a thread on a free port) that
checks the signatures and fails on purpose to see the retries."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import anyio
import pytest

from chatcore import ChatServer, User
from chatcore.hooks import Hooks
from chatcore.testing import LocalClient
from chatcore.webhooks import SIGNATURE_HEADER, HttpMessageHook, Webhooks, signature, verify

pytestmark = [pytest.mark.anyio, pytest.mark.network]

SECRET = "webhook-secret"  # also tests/starlette/hooks_site's


class Receiver:
    """What the receiver saw: every request's batch id, attempt and events; bad signatures."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, int, list[dict[str, Any]]]] = []
        self.bad_signatures = 0
        self.fail_first = 0  # how many webhook requests to answer with 503
        self.hang = 0.0  # seconds each webhook request waits for its answer
        self.lock = threading.Lock()


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    yield from receiving()


def receiving() -> Iterator[tuple[Receiver, str]]:
    """A receiver on a free port, and its URL, until closed."""
    seen = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if not verify(SECRET, body, self.headers.get(SIGNATURE_HEADER)):
                with seen.lock:
                    seen.bad_signatures += 1
                self._answer(401, {})
                return
            data = json.loads(body)
            if self.path == "/proxy":
                self._proxy(data)
                return
            with seen.lock:
                seen.requests.append(
                    (
                        self.headers["X-Chatcore-Batch"],
                        int(self.headers["X-Chatcore-Attempt"]),
                        data["events"],
                    )
                )
                failing = seen.fail_first > 0
                seen.fail_first -= 1
            time.sleep(seen.hang)
            self._answer(503 if failing else 200, {})

        def _proxy(self, draft: dict[str, Any]) -> None:
            text = draft["text"]
            if text == "hang":
                time.sleep(3)
                self._answer(200, {})
            elif "spam" in text:
                self._answer(200, {"error": {"message": "no spam", "reason": "spam"}})
            elif "darn" in text:
                result = {
                    "text": text.replace("darn", "d**n"),
                    "meta": {"by": draft["sender"]["id"]},
                }
                self._answer(200, {"result": result})
            elif text == "broken":
                self._answer(500, {})
            else:
                self._answer(200, {})

        def _answer(self, status: int, value: dict[str, Any]) -> None:
            body = json.dumps(value).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.block_on_close = False  # a hanging answer must not hold the test's end
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield seen, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


async def until(condition: Callable[[], bool]) -> None:
    """Wait (at most 5 s) until ``condition()`` holds."""
    for _ in range(250):
        if condition():
            return
        await anyio.sleep(0.02)  # the receiver is another thread: nothing here to wait on
    raise AssertionError("the receiver did not see it in 5 s")


def test_signatures() -> None:
    body = b'{"events":[]}'
    assert signature(SECRET, body).startswith("sha256=")
    assert verify(SECRET, body, signature(SECRET, body))
    assert not verify("other", body, signature(SECRET, body))
    assert not verify(SECRET, body, None)


async def test_events_are_posted_in_signed_batches_and_retried(
    receiver: tuple[Receiver, str],
) -> None:
    seen, url = receiver
    seen.fail_first = 2  # the first batch fails twice, then goes through
    hooks = Hooks()
    Webhooks([url + "/events"], SECRET, window=100, attempts=4, backoff=0.05).install(hooks)
    async with ChatServer(hooks=hooks) as server:
        await server.create_room("lobby")
        alice = await LocalClient.connect(server, User(id="1", name="Alice"))
        await alice.call("join", room="lobby")
        for n in range(3):
            await alice.call("send", room="lobby", text=f"m{n}")
        await until(lambda: any(r[1] == 3 for r in seen.requests))
    assert seen.bad_signatures == 0
    [batch] = {r[0] for r in seen.requests if r[1] == 3}
    # Retried, the same batch; sent once more at the stop if its answer was still on its way.
    assert [r[1] for r in seen.requests if r[0] == batch] in ([1, 2, 3], [1, 2, 3, 4])
    events = seen.requests[-1][2]
    assert [e["kind"] for e in events] == [
        "room_created",
        "user_joined",
        "message_posted",
        "message_posted",
        "message_posted",
    ]
    assert [e["message"]["text"] for e in events if e["kind"] == "message_posted"] == [
        "m0",
        "m1",
        "m2",
    ]
    assert events[2]["message"]["from"] == {"id": "1", "name": "Alice", "avatar": None}


async def test_a_receiver_refusing_the_signature_sees_no_valid_request(
    receiver: tuple[Receiver, str],
) -> None:
    seen, url = receiver
    hooks = Hooks()
    Webhooks([url + "/events"], "wrong-secret", window=10, attempts=2, backoff=0.01).install(hooks)
    async with ChatServer(hooks=hooks) as server:
        await server.create_room("lobby")
        await until(lambda: seen.bad_signatures >= 2)
    assert seen.requests == []


async def test_the_http_proxy_passes_changes_and_refuses(receiver: tuple[Receiver, str]) -> None:
    seen, url = receiver
    hooks = Hooks()
    proxy = HttpMessageHook(url + "/proxy", SECRET, timeout=1.0)
    proxy.install(hooks)
    async with ChatServer(hooks=hooks) as server:
        await server.create_room("lobby")
        alice = await LocalClient.connect(server, User(id="1", name="Alice"))
        await alice.call("join", room="lobby")
        await alice.call("send", room="lobby", text="plain")
        await alice.call("send", room="lobby", text="oh darn")
        refused = await alice.request("send", room="lobby", text="spam!")
        assert (refused["code"], refused["message"], refused["reason"]) == (
            "rejected",
            "no spam",
            "spam",
        )
        for text in ("hang", "broken"):  # too slow, or an error: fails closed
            reply = await alice.request("send", room="lobby", text=text)
            assert reply["code"] == "unavailable"
        messages = alice.events("message")
        assert [(m["text"], m.get("meta")) for m in messages] == [
            ("plain", None),
            ("oh d**n", {"by": "1"}),
        ]
        await proxy.aclose()
    assert seen.bad_signatures == 0


async def test_batches_hold_at_most_max_batch_events(receiver: tuple[Receiver, str]) -> None:
    seen, url = receiver
    hooks = Hooks()
    Webhooks([url + "/a", url + "/b"], SECRET, window=500, max_batch=2).install(hooks)
    async with ChatServer(hooks=hooks) as server:
        for name in ("r1", "r2", "r3", "r4", "r5"):
            await server.create_room(name)
        await until(lambda: sum(len(r[2]) for r in seen.requests) >= 10)
    # Five events in one window, to each of two URLs: batches of 2, 2 and 1.
    assert sorted(len(r[2]) for r in seen.requests) == [1, 1, 2, 2, 2, 2]
    rooms = [e["room"] for r in seen.requests for e in r[2]]
    assert sorted(rooms) == sorted(["r1", "r2", "r3", "r4", "r5"] * 2)  # each URL got each


async def test_events_still_queued_at_the_stop_are_sent(receiver: tuple[Receiver, str]) -> None:
    seen, url = receiver
    hooks = Hooks()
    Webhooks([url + "/events"], SECRET, window=60_000).install(hooks)  # a window never reached
    async with ChatServer(hooks=hooks) as server:
        for name in ("r1", "r2", "r3"):
            await server.create_room(name)
    # The stop waited for them: the receiver had them before the server was down.
    [(_, attempt, events)] = seen.requests
    assert attempt == 1
    assert sorted(e["room"] for e in events) == ["r1", "r2", "r3"]  # (rooms: no order)


async def test_a_batch_waiting_for_its_retry_at_the_stop_is_sent_again(
    receiver: tuple[Receiver, str],
) -> None:
    seen, url = receiver
    seen.fail_first = 1
    hooks = Hooks()
    Webhooks([url + "/events"], SECRET, window=10, backoff=60.0).install(hooks)
    async with ChatServer(hooks=hooks) as server:
        await server.create_room("r1")
        await until(lambda: len(seen.requests) == 1)  # failed; the retry is a minute away
        await server.create_room("r2")  # queued behind it
    assert [(r[1], [e["room"] for e in r[2]]) for r in seen.requests] == [
        (1, ["r1"]),
        (2, ["r1"]),  # the same batch, its next attempt, at the stop
        (1, ["r2"]),
    ]
    assert seen.requests[0][0] == seen.requests[1][0] != seen.requests[2][0]


async def test_the_stop_waits_for_the_receiver_stop_wait_seconds_at_most(
    receiver: tuple[Receiver, str], caplog: pytest.LogCaptureFixture
) -> None:
    seen, url = receiver
    seen.hang = 3.0
    hooks = Hooks(stop_wait=0.2)
    Webhooks([url + "/events"], SECRET, window=60_000).install(hooks)
    with anyio.fail_after(2.5):  # the receiver answers in 3 s: the stop does not wait for it
        async with ChatServer(hooks=hooks) as server:
            await server.create_room("r1")
            await server.create_room("r2")
    assert "dropped 2 events as the server stopped" in caplog.text
