"""The example app in a real uvicorn process, driven by ``chatcore.client`` over real sockets."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import anyio
import pytest
from websockets.exceptions import InvalidStatus

from chatcore.client import Backoff, ChatClient, Frame, ReplyError
from tests.server.native_server import NativeServer
from tests.starlette.example_server import ExampleServer

pytestmark = [pytest.mark.network]

GRACE_MS = 300
FAST = Backoff(initial=0.05, maximum=0.5)


#: The adapters this suite runs through: the example app in uvicorn, and the same chat server
#: on the native adapter (chatcore_server).
SERVERS: dict[str, type[ExampleServer]] = {"starlette": ExampleServer, "native": NativeServer}


@pytest.fixture(scope="module", params=sorted(SERVERS))
def server_class(request: pytest.FixtureRequest) -> type[ExampleServer]:
    return SERVERS[request.param]


@pytest.fixture(scope="module")
def server(server_class: type[ExampleServer]) -> Iterator[ExampleServer]:
    server = server_class(grace_ms=GRACE_MS)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def connect(server: ExampleServer) -> AsyncIterator[Callable[..., Any]]:
    """Log a name in and open a client for it; every client is closed at the end."""
    clients: list[ChatClient] = []

    async def open_client(name: str, **options: Any) -> ChatClient:
        options.setdefault("backoff", FAST)
        client = ChatClient(server.ws_url, cookies=server.login(name), **options)
        await client.connect()
        clients.append(client)
        return client

    yield open_client
    for client in clients:
        await client.close()


async def until(
    client: ChatClient, kind: str, where: Callable[[Frame], bool] = lambda _: True
) -> tuple[Frame, list[Frame]]:
    """Wait (at most 5 s) for ``client``'s next ``kind`` event matching ``where``;
    returns it and the events that came before it."""
    skipped: list[Frame] = []
    async with asyncio.timeout(5):
        while True:
            event = await client.next_event()
            if event["type"] == kind and where(event):
                return event, skipped
            skipped.append(event)


@pytest.mark.anyio
async def test_a_socket_without_a_session_is_refused(server: ExampleServer) -> None:
    with pytest.raises(InvalidStatus) as refused:
        await ChatClient(server.ws_url).connect()
    assert refused.value.response.status_code == 403


@pytest.mark.anyio
async def test_two_users_chat(connect: Callable[..., Any]) -> None:
    alice: ChatClient = await connect("Alice")
    bob: ChatClient = await connect("Bob")
    assert alice.user == {"id": "alice", "name": "Alice", "avatar": None}
    assert "chat-two" not in [room["name"] for room in await bob.rooms(watch=True)]
    await alice.create_room("chat-two", "Two of us")
    created, _ = await until(bob, "room", lambda e: e["room"]["name"] == "chat-two")
    assert (created["event"], created["room"]["title"]) == ("created", "Two of us")
    await alice.join("chat-two")
    joined = await bob.join("chat-two")
    assert {user["id"] for user in joined["members"]} == {"alice", "bob"}
    await until(alice, "presence", lambda e: e["user"]["id"] == "bob")
    first = await alice.send("chat-two", "hello Bob")
    seen, _ = await until(bob, "message")
    assert (seen["id"], seen["text"], seen["from"]["name"]) == (first, "hello Bob", "Alice")
    second = await bob.send("chat-two", "hi Alice")
    seen, _ = await until(alice, "message", lambda e: e["id"] == second)
    assert seen["text"] == "hi Alice"
    page = await bob.history("chat-two")
    assert [m["text"] for m in page["messages"]] == ["hello Bob", "hi Alice"]
    with pytest.raises(ReplyError) as failed:
        await bob.update_room("chat-two", "Mine now")
    assert (failed.value.code, failed.value.field) == ("forbidden", "room")


def test_backoff_grows_to_its_cap_with_jitter() -> None:
    backoff = Backoff(initial=1.0, factor=2.0, maximum=5.0)
    for attempt, ceiling in enumerate([1.0, 2.0, 4.0, 5.0, 5.0]):
        delays = {backoff.delay(attempt) for _ in range(20)}
        assert all(ceiling / 2 <= delay <= ceiling for delay in delays)
        assert len(delays) > 1  # jittered


@pytest.mark.anyio
async def test_a_private_message_reaches_only_its_two_users(connect: Callable[..., Any]) -> None:
    alice: ChatClient = await connect("Alice")
    bob: ChatClient = await connect("Bob")
    carol: ChatClient = await connect("Carol")
    await alice.create_room("chat-private")
    for client in (alice, bob, carol):
        await client.join("chat-private")
    await alice.send_private("bob", "just for you", room="chat-private")
    for client in (alice, bob):
        private, _ = await until(client, "private")
        assert private["text"] == "just for you"
        assert (private["from"]["id"], private["to"]["id"]) == ("alice", "bob")
    # A public message sent after it: once Carol has that, she would have had the private one.
    direct = await alice.direct("bob")
    assert (direct["kind"], sorted(direct["users"])) == ("direct", ["alice", "bob"])
    announced, _ = await until(bob, "room", lambda e: e["room"]["name"] == direct["name"])
    assert announced["event"] == "created"
    with pytest.raises(ReplyError) as refused:
        await carol.join(direct["name"])
    assert refused.value.code == "no_such_room"
    await alice.send("chat-private", "for everyone")
    _, before = await until(carol, "message", lambda e: e["text"] == "for everyone")
    assert [event for event in before if event["type"] == "private"] == []


@pytest.mark.anyio
async def test_an_abrupt_drop_ends_presence_after_the_grace(connect: Callable[..., Any]) -> None:
    alice: ChatClient = await connect("Alice", reconnect=False)
    bob: ChatClient = await connect("Bob")
    await alice.create_room("chat-drop")
    await alice.join("chat-drop")
    await bob.join("chat-drop")
    dropped = time.monotonic()
    alice.abort()  # the TCP connection ends without a close frame
    leave, _ = await until(bob, "presence", lambda e: e["event"] == "leave")
    assert leave["user"]["id"] == "alice"
    assert time.monotonic() - dropped >= GRACE_MS / 1000
    assert [user["id"] for user in await bob.members("chat-drop")] == ["bob"]


@pytest.mark.anyio
async def test_a_dropped_client_resumes_without_loss_or_duplicates(
    connect: Callable[..., Any],
) -> None:
    alice: ChatClient = await connect("Alice")
    bob: ChatClient = await connect("Bob")
    await bob.create_room("chat-resume")
    await alice.join("chat-resume")
    await bob.join("chat-resume")
    sent = [await bob.send("chat-resume", f"before {n}") for n in range(3)]
    alice.abort()
    _, seen = await until(alice, "close")
    sent += [await bob.send("chat-resume", f"while away {n}") for n in range(5)]
    opened, skipped = await until(alice, "open")
    seen += skipped
    assert opened["reconnect"] is True
    sent += [await bob.send("chat-resume", f"after {n}") for n in range(3)]
    sent.append(await alice.send("chat-resume", "I am back"))
    _, skipped = await until(alice, "message", lambda e: e["id"] == sent[-1])
    seen += [*skipped, {"type": "message", "id": sent[-1]}]
    received = [event["id"] for event in seen if event["type"] == "message"]
    assert received == sent == list(range(1, 13))
    assert alice.sessions == 2
    assert alice.joined == {"chat-resume": 12}


@pytest.mark.anyio
async def test_a_send_while_the_socket_is_down_goes_out_once_on_the_next(
    connect: Callable[..., Any],
) -> None:
    alice: ChatClient = await connect("Alice")
    bob: ChatClient = await connect("Bob")
    await bob.create_room("chat-waiting")
    await alice.join("chat-waiting")
    await bob.join("chat-waiting")
    alice.abort()
    sent = await alice.send("chat-waiting", "sent while offline")  # waits for the next socket
    assert alice.sessions == 2
    message, _ = await until(bob, "message")
    assert (message["id"], message["text"]) == (sent, "sent while offline")
    page = await bob.history("chat-waiting")
    assert [m["text"] for m in page["messages"]] == ["sent while offline"]


@pytest.mark.anyio
async def test_a_client_reconnects_after_a_server_restart(
    server_class: type[ExampleServer],
) -> None:
    server = server_class(grace_ms=GRACE_MS)
    server.start()
    try:
        async with ChatClient(server.ws_url, cookies=server.login("Dan"), backoff=FAST) as dan:
            await dan.create_room("chat-restart")
            await dan.join("chat-restart")
            await anyio.to_thread.run_sync(server.restart)
            await until(dan, "close")
            opened, skipped = await until(dan, "open")
            assert opened["reconnect"] is True
            assert any(event["type"] == "reconnecting" for event in skipped)
            # The in-memory server forgot its rooms: the rejoin fails and says so.
            failed, _ = await until(dan, "error", lambda e: e.get("room") == "chat-restart")
            assert failed["code"] == "no_such_room"
            assert dan.joined == {}
            await dan.ping()
            assert dan.sessions == 2
    finally:
        server.stop()


@pytest.mark.anyio
async def test_non_ascii_text_goes_out_as_utf8_and_a_too_large_frame_is_answered(
    connect: Callable[..., Any],
) -> None:
    # 3,000 Cyrillic letters: 6,000 bytes of UTF-8, 18,000 as \uXXXX escapes (over max_frame).
    alice: ChatClient = await connect("Alice", timeout=5)
    await alice.create_room("chat-utf8")
    await alice.join("chat-utf8")
    text = "ж" * 3000
    sent = await alice.send("chat-utf8", text)
    message, _ = await until(alice, "message", lambda e: e["id"] == sent)
    assert message["text"] == text
    # A frame over max_frame gets its too_large error by ref, at once, not after the timeout.
    max_frame = alice.welcome["limits"]["max_frame"]
    with pytest.raises(ReplyError) as refused:
        await alice.send("chat-utf8", "x" * max_frame)
    assert refused.value.code == "too_large"
    assert await alice.send("chat-utf8", "still open") == sent + 1


@pytest.mark.anyio
async def test_join_with_since_gives_the_messages_after_it(connect: Callable[..., Any]) -> None:
    alice: ChatClient = await connect("Alice")
    await alice.create_room("chat-since")
    await alice.join("chat-since")
    sent = [await alice.send("chat-since", f"m{n}") for n in range(4)]
    bob: ChatClient = await connect("Bob")
    joined = await bob.join("chat-since", since=sent[1])
    assert [m["id"] for m in joined["history"]] == sent[2:]
    assert joined["gap"] is False
    assert bob.joined == {"chat-since": sent[-1]}
    later = await alice.send("chat-since", "later")
    message, skipped = await until(bob, "message")
    assert message["id"] == later
    assert [event for event in skipped if event["type"] == "message"] == []
    carol: ChatClient = await connect("Carol")
    beyond = await carol.join("chat-since", since=later + 10)  # e.g. the room was made anew
    assert (beyond["history"], beyond["gap"]) == ([], True)
    again = await alice.send("chat-since", "after the gap")
    message, _ = await until(carol, "message")
    assert message["id"] == again


def changed(event: Frame) -> Frame:
    """The message a ``message_changed`` event holds."""
    message: Frame = event["message"]
    return message


@pytest.mark.anyio
async def test_replies_edits_reactions_and_deletions(connect: Callable[..., Any]) -> None:
    alice: ChatClient = await connect("Alice")
    bob: ChatClient = await connect("Bob")
    await alice.create_room("chat-model")  # Alice owns it, so she moderates it
    await alice.join("chat-model")
    await bob.join("chat-model")
    first = await alice.send("chat-model", "Who brings the cake?")
    answer = await bob.send("chat-model", "I do", reply_to=first, meta={"mood": "sure"})
    message, _ = await until(alice, "message", lambda e: e["id"] == answer)
    assert (message["reply_to"], message["meta"]) == (first, {"mood": "sure"})

    edited = await alice.edit("chat-model", first, "Who brings the cake on Friday?")
    assert (edited["text"], edited["id"]) == ("Who brings the cake on Friday?", first)
    event, _ = await until(bob, "message_changed")
    assert event["change"] == "edited"
    assert changed(event) == edited
    assert edited["edited"] >= edited["ts"]
    with pytest.raises(ReplyError) as refused:
        await bob.edit("chat-model", first, "Nobody")
    assert refused.value.code == "forbidden"

    await bob.react("chat-model", first, "🍰")
    await alice.react("chat-model", first, "🍰")
    await bob.react("chat-model", first, "🍰")  # once per user and emoji
    await alice.unreact("chat-model", first, "🍰")
    await bob.react("chat-model", first, ":tada:")
    # The first reaction comes at once, the rest in a batch (``reaction_batch``): the states
    # seen end on the newest one.
    final = {"🍰": {"count": 1, "users": ["bob"]}, ":tada:": {"count": 1, "users": ["bob"]}}
    states = [changed(e)["reactions"] for e in await changes(alice, "reactions", 1)]
    assert states[0] == {"🍰": {"count": 1, "users": ["bob"]}}
    while states[-1] != final:
        states += [changed(e)["reactions"] for e in await changes(alice, "reactions", 1)]
    assert len(states) < 5

    with pytest.raises(ReplyError) as refused:
        await bob.delete_message("chat-model", first)  # not his, and he does not moderate
    assert refused.value.code == "forbidden"
    await alice.delete_message("chat-model", answer)  # the owner may delete anyone's
    event, _ = await until(bob, "message_changed", lambda e: e["change"] == "deleted")
    deleted = changed(event)
    assert (deleted["id"], deleted["text"], deleted["deleted"]) == (answer, "", True)
    assert (deleted["reply_to"], deleted["from"]) == (first, message["from"])
    assert ("meta" in deleted, "reactions" in deleted) == (False, False)
    with pytest.raises(ReplyError) as refused:
        await alice.react("chat-model", answer, "👍")
    assert refused.value.code == "no_such_message"
    page = await bob.history("chat-model")
    assert [m["text"] for m in page["messages"]] == ["Who brings the cake on Friday?", ""]


async def changes(client: ChatClient, kind: str, count: int) -> list[Frame]:
    """The next ``count`` ``message_changed`` events of ``client`` with change ``kind``."""
    return [
        (await until(client, "message_changed", lambda e: e["change"] == kind))[0]
        for _ in range(count)
    ]


@pytest.mark.anyio
async def test_read_marks_and_unread_counts(connect: Callable[..., Any]) -> None:
    alice: ChatClient = await connect("Alice")
    bob: ChatClient = await connect("Bob")
    await alice.create_room("chat-unread")
    joined = await alice.join("chat-unread")
    assert joined["read"] == 0
    await bob.join("chat-unread")
    await bob.leave("chat-unread")  # he still belongs to it: he has a read mark
    listed = {room["name"]: room for room in await bob.rooms(watch=True, unread=True)}
    assert (listed["chat-unread"]["read"], listed["chat-unread"]["unread"]) == (0, 0)
    sent = [await alice.send("chat-unread", f"news {n}") for n in range(3)]
    # Bob is not in the room, but follows it for its count.
    message, _ = await until(bob, "message", lambda e: e["id"] == sent[-1])
    assert message["room"] == "chat-unread"
    listed = {room["name"]: room for room in await bob.rooms(unread=True)}
    assert listed["chat-unread"]["unread"] == 3
    assert await bob.mark_read("chat-unread", sent[1]) == sent[1]
    read, _ = await until(bob, "read")
    assert (read["room"], read["user"], read["id"]) == ("chat-unread", "bob", sent[1])
    assert await bob.mark_read("chat-unread", 1) == sent[1]  # a mark never moves back
    assert await bob.mark_read("chat-unread", 99) == sent[-1]  # nor past the newest message
    listed = {room["name"]: room for room in await bob.rooms()}
    assert (listed["chat-unread"]["read"], listed["chat-unread"]["unread"]) == (sent[-1], 0)

    # After a reconnect the client lists the rooms again, and follows them again.
    bob.abort()
    relisted, _ = await until(bob, "rooms")
    assert {room["name"]: room for room in relisted["rooms"]}["chat-unread"]["read"] == sent[-1]
    later = await alice.send("chat-unread", "after the reconnect")
    message, _ = await until(bob, "message", lambda e: e["id"] == later)
    assert message["text"] == "after the reconnect"


@pytest.mark.anyio
async def test_a_dropped_client_gets_the_changes_made_while_it_was_away(
    connect: Callable[..., Any],
) -> None:
    # Alice waits half a second or more before reconnecting: Bob's changes fall in the gap.
    alice: ChatClient = await connect("Alice", backoff=Backoff(initial=1.0, maximum=1.0))
    bob: ChatClient = await connect("Bob")
    await bob.create_room("chat-changes")
    await alice.join("chat-changes")
    await bob.join("chat-changes")
    sent = [await bob.send("chat-changes", f"before {n}") for n in range(3)]
    await bob.react("chat-changes", sent[0], "👀")  # seen live, and replayed after the drop
    _, seen = await until(alice, "message_changed")
    alice.abort()
    _, skipped = await until(alice, "close")
    seen += skipped
    await bob.edit("chat-changes", sent[0], "before 0, edited")
    await bob.react("chat-changes", sent[1], "👍")
    await bob.delete_message("chat-changes", sent[2])
    sent.append(await bob.send("chat-changes", "while away"))
    await bob.edit("chat-changes", sent[-1], "while away, edited")  # posted and changed
    opened, skipped = await until(alice, "open")
    seen += skipped
    assert opened["reconnect"] is True
    await alice.wait_ready()
    sent.append(await bob.send("chat-changes", "after"))
    _, skipped = await until(alice, "message", lambda e: e["id"] == sent[-1])
    seen += [*skipped, {"type": "message", "id": sent[-1], "text": "after"}]

    # Every message once, in order; no change before its message; the last state of each
    # message, applying messages and changes in the order they came, is the server's.
    assert [e["id"] for e in seen if e["type"] == "message"] == sent
    state: dict[int, Frame] = {}
    for event in seen:
        if event["type"] == "message":
            state[event["id"]] = {k: v for k, v in event.items() if k != "type"}
        elif event["type"] == "message_changed":
            assert changed(event)["id"] in state
            state[changed(event)["id"]] = changed(event)
    page = await bob.history("chat-changes")
    assert [state[m["id"]] for m in page["messages"][:-1]] == page["messages"][:-1]
    assert [m["text"] for m in page["messages"]] == [
        "before 0, edited",
        "before 1",
        "",
        "while away, edited",
        "after",
    ]
    kinds = [e["change"] for e in seen if e["type"] == "message_changed"]
    assert kinds[-4:] == ["edited", "reactions", "deleted", "edited"]
    assert alice.joined == {"chat-changes": sent[-1]}


@pytest.mark.anyio
async def test_moderation_with_the_python_client(connect: Callable[..., Any]) -> None:
    alice: ChatClient = await connect("Alice")
    bob: ChatClient = await connect("Bob")
    await alice.create_room("chat-mod")
    await alice.join("chat-mod")
    joined = await bob.join("chat-mod")
    assert (joined["role"], joined["moderators"]) == ("member", [])
    await alice.set_role("chat-mod", "bob", "moderator")
    await until(bob, "moderation", lambda e: e["action"] == "set_role")
    await alice.set_role("chat-mod", "bob", "member")
    await alice.mute("chat-mod", "bob", reason="caps")
    await until(bob, "moderation", lambda e: e["action"] == "mute")
    with pytest.raises(ReplyError) as muted:
        await bob.send("chat-mod", "HI")
    assert muted.value.code == "muted"
    await alice.unmute("chat-mod", "bob")
    await alice.ban("chat-mod", "bob", until=int(time.time() * 1000) + 3_600_000, reason="spam")
    kicked, _ = await until(bob, "kicked")
    assert (kicked["room"], kicked["by"], kicked["reason"]) == ("chat-mod", "alice", "spam")
    assert "chat-mod" not in bob.joined
    with pytest.raises(ReplyError) as banned:
        await bob.join("chat-mod")
    assert banned.value.code == "banned"
    await alice.unban("chat-mod", "bob")
    log = await alice.audit("chat-mod", limit=2)
    assert [(e["action"], e["user"]) for e in log["entries"]] == [("unban", "bob"), ("ban", "bob")]
    assert log["more"] is True
    club = await alice.create_room("chat-club", private=True)
    assert club["private"] is True
    await alice.invite("chat-club", "bob")
    await bob.join("chat-club")
    assert (await alice.update_room("chat-club", private=False))["private"] is False
    assert await alice.block("bob") == ["bob"]
    with pytest.raises(ReplyError) as refused:
        await bob.send_private("alice", "hi")
    assert refused.value.code == "forbidden"
    assert await alice.unblock("bob") == []
    assert await alice.blocks() == []
    await alice.kick("chat-club", "bob")
    await until(bob, "kicked")


@pytest.mark.anyio
async def test_member_pages_and_online_status_through_the_python_client(
    connect: Callable[..., Any],
) -> None:
    carol: ChatClient = await connect("Carol")
    assert await carol.watch_users(["dave", "erin"]) == []
    dave: ChatClient = await connect("Dave")
    status, _ = await until(carol, "status")
    assert (status["user"], status["online"]) == ("dave", True)
    await carol.create_room("paged", "Paged")
    for client in (carol, dave):
        await client.join("paged")
    first = await carol.members_page("paged", limit=1)
    assert ([m["id"] for m in first["members"]], first["count"]) == (["carol"], 2)
    rest = await carol.members_page("paged", after=first["next"], limit=1)
    assert ([m["id"] for m in rest["members"]], rest["next"]) == (["dave"], None)
    found = await dave.members_page("paged", query="CA")
    assert [m["id"] for m in found["members"]] == ["carol"]
    await dave.close()
    status, _ = await until(carol, "status")
    assert (status["user"], status["online"]) == ("dave", False)
