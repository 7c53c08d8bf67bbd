"""The original ChatBoard's defects (docs/reliability.md), each replayed against the Starlette
stack; each test fails on the behaviour the original had."""

from __future__ import annotations

import json
import time

import anyio
import pytest
from websockets.exceptions import InvalidStatus

from tests.reliability.conftest import GRACE_MS, Connect
from tests.reliability.support import raw_socket
from tests.starlette.example_server import ExampleServer
from tests.starlette.test_uvicorn import until

pytestmark = [pytest.mark.network]


@pytest.mark.anyio
async def test_a_client_sent_username_does_not_impersonate(
    server: ExampleServer, connect: Connect
) -> None:
    """Defect 1: the original trusted ``username`` in the frame (bob posted as alice)."""
    alice = await connect("Alice")
    await alice.create_room("d-impersonate")
    await alice.join("d-impersonate")
    ws = await raw_socket(server, server.login("Bob"))
    await ws.recv()  # welcome
    # The original's own frame shape is not a command here at all.
    await ws.send(json.dumps({"message": "hi", "username": "alice", "whom": "room", "ref": 1}))
    assert json.loads(await ws.recv())["code"] == "invalid_field"
    for frame in (
        {"type": "join", "room": "d-impersonate", "ref": 2},
        {"type": "send", "room": "d-impersonate", "text": "hi", "username": "alice", "ref": 3},
    ):
        await ws.send(json.dumps(frame))
    message, _ = await until(alice, "message")
    assert (message["from"]["id"], message["from"]["name"]) == ("bob", "Bob")
    await ws.close()


@pytest.mark.anyio
async def test_malformed_frames_do_not_kill_the_connection_or_its_membership(
    server: ExampleServer, connect: Connect
) -> None:
    """Defect 3: ``{}``, non-JSON or a binary frame killed the consumer (1011): a ghost member
    that never left. Here each gets an error, and the member stays listed exactly once."""
    watcher = await connect("Watcher")
    await watcher.create_room("d-malformed")
    await watcher.join("d-malformed")
    ws = await raw_socket(server, server.login("Sloppy"))
    await ws.recv()  # welcome
    await ws.send(json.dumps({"type": "join", "room": "d-malformed", "ref": "in"}))
    assert json.loads(await ws.recv())["type"] in ("ok", "presence")
    await until(watcher, "presence", lambda e: e["user"]["id"] == "sloppy")
    for bad in ("{}", "not json", b"\x00\x01", "[]", '{"type": 5}'):
        await ws.send(bad)
    await ws.send(json.dumps({"type": "send", "room": "d-malformed", "text": "still here"}))
    message, before = await until(watcher, "message")
    assert (message["from"]["id"], message["text"]) == ("sloppy", "still here")
    assert [e for e in before if e["type"] == "presence"] == []  # no leave, no second join
    members = [user["id"] for user in await watcher.members("d-malformed")]
    assert sorted(members) == ["sloppy", "watcher"]
    codes: list[str] = []
    while len(codes) < 5:
        frame = json.loads(await ws.recv())
        if frame["type"] == "error":
            codes.append(frame["code"])
    assert codes == ["invalid_field", "bad_frame", "bad_frame", "bad_frame", "invalid_field"]
    await ws.close()


@pytest.mark.anyio
async def test_a_refused_socket_sends_no_leave(server: ExampleServer, connect: Connect) -> None:
    """Defect 4: a rejected anonymous socket still broadcast a "left" with an empty name."""
    watcher = await connect("Watcher")
    other = await connect("Other")
    await watcher.create_room("d-refused")
    await watcher.join("d-refused")
    await other.join("d-refused")
    await until(watcher, "presence", lambda e: e["user"]["id"] == "other")
    for cookies, origin in ((None, None), (server.login("Other"), "http://evil.example")):
        with pytest.raises(InvalidStatus):
            await raw_socket(server, cookies, origin=origin)
    # Longer than the grace: a leave caused by the refusals would be out by now.
    await anyio.sleep(3 * GRACE_MS / 1000)
    last = await other.send("d-refused", "marker")
    _, before = await until(watcher, "message", lambda e: e["id"] == last)
    assert [e for e in before if e["type"] == "presence"] == []
    assert sorted(u["id"] for u in await watcher.members("d-refused")) == ["other", "watcher"]


@pytest.mark.anyio
async def test_two_tabs_of_one_user_are_one_member(connect: Connect) -> None:
    """Defect 13: two tabs were two members with two "joined"; closing one said "left"; a
    private message reached one tab only."""
    watcher = await connect("Watcher")
    await watcher.create_room("d-tabs")
    await watcher.join("d-tabs")
    first = await connect("Tabby", reconnect=False)
    second = await connect("Tabby", reconnect=False)
    for tab in (first, second):
        joined = await tab.join("d-tabs")
        assert sorted(u["id"] for u in joined["members"]) == ["tabby", "watcher"]
    await watcher.send_private("tabby", "to every tab")
    for tab in (first, second):
        private, _ = await until(tab, "private")
        assert private["text"] == "to every tab"
    await first.close()
    await anyio.sleep(3 * GRACE_MS / 1000)  # a wrong leave would be out by now
    assert sorted(u["id"] for u in await watcher.members("d-tabs")) == ["tabby", "watcher"]
    await second.close()
    closed = time.monotonic()
    leave, before = await until(watcher, "presence", lambda e: e["event"] == "leave")
    assert time.monotonic() - closed >= GRACE_MS / 1000 * 0.9
    tabby = [e["event"] for e in [*before, leave] if e.get("user", {}).get("id") == "tabby"]
    assert tabby == ["join", "leave"]  # however many tabs


@pytest.mark.anyio
async def test_the_room_list_is_pushed_not_polled(connect: Connect) -> None:
    """Defect (room list polled every 30 s): a watcher learns of new, renamed and deleted
    rooms as they happen, without asking again."""
    watcher = await connect("Watcher")
    owner = await connect("Owner")
    assert "d-pushed" not in [room["name"] for room in await watcher.rooms(watch=True)]
    started = time.monotonic()
    await owner.create_room("d-pushed", "Pushed")
    created, _ = await until(watcher, "room")
    await owner.update_room("d-pushed", "Renamed")
    updated, _ = await until(watcher, "room")
    await owner.delete_room("d-pushed")
    deleted, _ = await until(watcher, "room")
    events = [(e["event"], e["room"]["name"]) for e in (created, updated, deleted)]
    assert events == [("created", "d-pushed"), ("updated", "d-pushed"), ("deleted", "d-pushed")]
    assert updated["room"]["title"] == "Renamed"
    assert time.monotonic() - started < 5  # pushed, well inside the original's 30 s poll
