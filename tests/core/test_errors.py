"""Every error code with an input that triggers it; the connection stays usable after each."""

from __future__ import annotations

import json
from typing import Any

import pytest

from chatcore import ChatServer, CloseCode, Limits, MemoryDirectory, Policy, UsageError
from chatcore.testing import LocalClient, ReplyError
from chatcore.wire.errors import Unavailable
from chatcore.wire.values import Room, User, direct_room_name

from .doubles import FlakyBroker, FlakyStore
from .kit import Chat, lobby, running, user

pytestmark = pytest.mark.anyio


async def assert_usable(client: LocalClient) -> None:
    """The connection is open and answers a ``ping``."""
    assert client.close_code is None
    assert (await client.call("ping"))["type"] == "ok"


async def error_for(client: LocalClient, frame: dict[str, Any] | str | bytes) -> dict[str, Any]:
    """Send ``frame`` and return the one error frame it gets."""
    client.events()
    await client.send(frame)
    frames = client.events()
    assert len(frames) == 1, frames
    assert frames[0]["type"] == "error"
    return frames[0]


BAD_FRAMES: list[Any] = [
    pytest.param("not json", id="not-json"),
    pytest.param("", id="empty"),
    pytest.param('{"type": "ping"', id="truncated"),
    pytest.param("[1, 2]", id="array"),
    pytest.param("42", id="number"),
    pytest.param('"ping"', id="string"),
    pytest.param("null", id="null"),
    pytest.param(b'{"type": "ping"}', id="binary"),
    pytest.param("[" * 3000 + "]" * 3000, id="deep-array"),
    pytest.param('{"type": "ping", "x": ' + "[" * 3000 + "]" * 3000 + "}", id="deep-field"),
    pytest.param("NaN", id="nan"),
    pytest.param('{"type": "ping", "ref": ' + "1" * 5000 + "}", id="huge-integer"),
]


@pytest.mark.parametrize("frame", BAD_FRAMES)
async def test_bad_frame_for_anything_but_a_json_object_in_text(
    chat: Chat, frame: str | bytes
) -> None:
    alice = await chat.client("1")
    error = await error_for(alice, frame)
    assert error["code"] == "bad_frame"
    assert "ref" not in error
    await assert_usable(alice)


async def test_unknown_type_echoes_the_ref(chat: Chat) -> None:
    alice = await chat.client("1")
    error = await error_for(alice, {"type": "dance", "ref": "r1"})
    assert error == {
        "type": "error",
        "ref": "r1",
        "code": "unknown_type",
        "message": error["message"],
        "field": "type",
    }
    await assert_usable(alice)


INVALID: list[Any] = [
    pytest.param({}, "type", id="no-type"),
    pytest.param({"type": 5}, "type", id="type-not-string"),
    pytest.param({"type": "join"}, "room", id="join-no-room"),
    pytest.param({"type": "join", "room": 5}, "room", id="room-not-string"),
    pytest.param({"type": "join", "room": ""}, "room", id="room-empty"),
    pytest.param({"type": "join", "room": "Lobby"}, "room", id="room-uppercase"),
    pytest.param({"type": "join", "room": "the lobby"}, "room", id="room-space"),
    pytest.param({"type": "join", "room": "-lobby"}, "room", id="room-leading-dash"),
    pytest.param({"type": "join", "room": ".lobby"}, "room", id="room-leading-dot"),
    pytest.param({"type": "join", "room": "a" * 65}, "room", id="room-too-long"),
    pytest.param({"type": "join", "room": "lobby\n"}, "room", id="room-newline"),
    pytest.param({"type": "join", "room": "lobby", "since": True}, "since", id="since-bool"),
    pytest.param({"type": "join", "room": "lobby", "since": -1}, "since", id="since-negative"),
    pytest.param({"type": "join", "room": "lobby", "since": "3"}, "since", id="since-string"),
    pytest.param({"type": "join", "room": "lobby", "since": 1.5}, "since", id="since-float"),
    pytest.param({"type": "join", "room": "lobby", "since": 2**53}, "since", id="since-huge"),
    pytest.param({"type": "send", "room": "lobby"}, "text", id="send-no-text"),
    pytest.param({"type": "send", "room": "lobby", "text": 5}, "text", id="text-number"),
    pytest.param({"type": "send", "room": "lobby", "text": ""}, "text", id="text-empty"),
    pytest.param({"type": "send", "room": "lobby", "text": " \n\t "}, "text", id="text-blank"),
    pytest.param({"type": "send", "room": "lobby", "text": "x" * 4001}, "text", id="text-long"),
    pytest.param({"type": "send", "room": "lobby", "text": "a\ud800b"}, "text", id="surrogate"),
    pytest.param(
        {"type": "send", "room": "lobby", "text": "hi", "client_id": ""},
        "client_id",
        id="cid-empty",
    ),
    pytest.param(
        {"type": "send", "room": "lobby", "text": "hi", "client_id": 7}, "client_id", id="cid-int"
    ),
    pytest.param(
        {"type": "send", "room": "lobby", "text": "hi", "client_id": "c" * 129},
        "client_id",
        id="cid-long",
    ),
    pytest.param({"type": "send_private", "text": "hi"}, "to", id="private-no-to"),
    pytest.param({"type": "send_private", "to": 2, "text": "hi"}, "to", id="private-to-int"),
    pytest.param({"type": "send_private", "to": "1", "text": "hi"}, "to", id="private-to-self"),
    pytest.param({"type": "send_private", "to": "2", "text": ""}, "text", id="private-empty"),
    pytest.param(
        {"type": "send_private", "to": "2", "text": "hi", "room": "No!"}, "room", id="private-room"
    ),
    pytest.param({"type": "typing"}, "room", id="typing-no-room"),
    pytest.param({"type": "rooms", "watch": "yes"}, "watch", id="watch-string"),
    pytest.param({"type": "rooms", "watch": 1}, "watch", id="watch-int"),
    pytest.param({"type": "create_room", "room": "new", "title": ""}, "title", id="title-empty"),
    pytest.param(
        {"type": "create_room", "room": "new", "title": "t" * 101}, "title", id="title-long"
    ),
    pytest.param({"type": "create_room", "room": "new", "title": 3}, "title", id="title-int"),
    pytest.param({"type": "create_room", "room": "dm-abc"}, "room", id="reserved-name"),
    pytest.param({"type": "update_room", "room": "lobby"}, "title", id="update-no-title"),
    pytest.param(
        {"type": "update_room", "room": "lobby", "title": "  "}, "title", id="title-blank"
    ),
    pytest.param({"type": "direct"}, "to", id="direct-no-to"),
    pytest.param({"type": "direct", "to": "1"}, "to", id="direct-self"),
    pytest.param({"type": "direct", "to": "x" * 257}, "to", id="direct-to-long"),
    pytest.param({"type": "history", "room": "lobby", "limit": 0}, "limit", id="limit-zero"),
    pytest.param({"type": "history", "room": "lobby", "limit": 101}, "limit", id="limit-101"),
    pytest.param({"type": "history", "room": "lobby", "limit": True}, "limit", id="limit-bool"),
    pytest.param({"type": "history", "room": "lobby", "before": "9"}, "before", id="before-str"),
    pytest.param({"type": "ping", "ref": [1]}, "ref", id="ref-list"),
    pytest.param({"type": "ping", "ref": True}, "ref", id="ref-bool"),
    pytest.param({"type": "ping", "ref": 1.5}, "ref", id="ref-float"),
    pytest.param({"type": "ping", "ref": {"a": 1}}, "ref", id="ref-object"),
    pytest.param({"type": "ping", "ref": "r" * 129}, "ref", id="ref-long"),
    pytest.param({"type": "ping", "ref": "\udc00"}, "ref", id="ref-surrogate"),
    pytest.param({"type": "ping", "ref": 2**60}, "ref", id="ref-huge"),
]


@pytest.mark.parametrize(("frame", "field"), INVALID)
async def test_invalid_field_names_the_field(chat: Chat, frame: dict[str, Any], field: str) -> None:
    (alice,) = await lobby(chat, "1")
    await chat.client("2")
    error = await error_for(alice, frame)
    assert error["code"] == "invalid_field"
    assert error["field"] == field
    await assert_usable(alice)


async def test_invalid_field_echoes_a_valid_ref(chat: Chat) -> None:
    alice = await chat.client("1")
    error = await error_for(alice, {"type": "join", "room": "NO", "ref": 9})
    assert error["ref"] == 9
    error = await error_for(alice, {"type": "join", "room": "NO", "ref": "x" * 128})
    assert error["ref"] == "x" * 128


async def test_lone_surrogate_escapes_in_json_are_invalid_field(chat: Chat) -> None:
    (alice,) = await lobby(chat, "1")
    raw = '{"type": "send", "room": "lobby", "text": "\\ud83d oops"}'
    error = await error_for(alice, raw)
    assert (error["code"], error["field"]) == ("invalid_field", "text")
    paired = '{"type": "send", "room": "lobby", "text": "\\ud83d\\ude00", "ref": 1}'
    await alice.send(paired)
    assert alice.events("ok") == [{"type": "ok", "ref": 1, "id": 1}]


async def test_text_is_measured_after_trimming(chat: Chat) -> None:
    (alice,) = await lobby(chat, "1")
    reply = await alice.call("send", room="lobby", text="  " + "x" * 4000 + "  ")
    assert reply["id"] == 1


async def test_too_large_over_max_frame_keeps_the_connection(chat: Chat) -> None:
    (alice,) = await lobby(chat, "1")
    limit = chat.limits.max_frame
    frame = {"type": "send", "room": "lobby", "text": "x"}
    padding = limit - len(json.dumps(frame))
    exact = json.dumps({**frame, "text": "x" * (padding + 1)})
    assert len(exact) == limit
    await alice.send(exact)  # at the limit: read, and refused for its text only
    assert alice.events("error") == [
        {
            "type": "error",
            "code": "invalid_field",
            "message": f"the text is longer than {chat.limits.max_text} characters",
            "field": "text",
        }
    ]
    error = await error_for(alice, exact.replace('"x', '"xx', 1))
    assert error["code"] == "too_large"
    # Size is counted in UTF-8 bytes: 6000 three-byte characters are 18,000 bytes.
    error = await error_for(alice, json.dumps({**frame, "text": "€" * 6000}, ensure_ascii=False))
    assert error["code"] == "too_large"
    await assert_usable(alice)


async def test_rate_limited_beyond_the_burst_until_time_passes(chat: Chat) -> None:
    alice = await chat.client("1")
    burst = chat.limits.burst
    for n in range(burst):
        await alice.send({"type": "ping", "ref": n})
    assert len(alice.events("ok")) == burst
    error = await error_for(alice, {"type": "ping", "ref": "over"})
    assert (error["code"], error["ref"]) == ("rate_limited", "over")
    await chat.advance(1000 // chat.limits.rate)
    await assert_usable(alice)
    error = await error_for(alice, {"type": "ping"})
    assert error["code"] == "rate_limited"


async def test_no_such_room_for_each_command_on_a_missing_room(chat: Chat) -> None:
    alice = await chat.client("1")
    await chat.client("2")
    for kind, extra in [
        ("join", {}),
        ("leave", {}),
        ("send", {"text": "hi"}),
        ("typing", {}),
        ("update_room", {"title": "t"}),
        ("delete_room", {}),
        ("members", {}),
        ("history", {}),
    ]:
        reply = await alice.request(kind, room="nowhere", **extra)
        assert (reply["code"], reply["field"]) == ("no_such_room", "room"), kind
    reply = await alice.request("send_private", to="2", text="hi", room="nowhere")
    assert reply["code"] == "no_such_room"
    await assert_usable(alice)


async def test_room_exists_when_creating_a_taken_name(chat: Chat) -> None:
    _alice, bob = await lobby(chat, "1", "2")
    reply = await bob.request("create_room", room="lobby")
    assert (reply["code"], reply["field"]) == ("room_exists", "room")
    await assert_usable(bob)


async def test_not_member_for_room_commands_before_joining(chat: Chat) -> None:
    (alice,) = await lobby(chat, "1")
    bob = await chat.client("2")
    for kind, extra in [("send", {"text": "hi"}), ("typing", {}), ("leave", {})]:
        reply = await bob.request(kind, room="lobby", **extra)
        assert (reply["code"], reply["field"]) == ("not_member", "room"), kind
    reply = await bob.request("send_private", to="1", text="hi", room="lobby")
    assert reply["code"] == "not_member"
    assert alice.events() == []
    await assert_usable(bob)


async def test_forbidden_for_a_non_owner_to_update_or_delete(chat: Chat) -> None:
    alice, bob = await lobby(chat, "1", "2")
    for kind, extra in [("update_room", {"title": "Mine"}), ("delete_room", {})]:
        reply = await bob.request(kind, room="lobby", **extra)
        assert (reply["code"], reply["field"]) == ("forbidden", "room"), kind
    assert (await alice.call("members", room="lobby"))["members"]
    await assert_usable(bob)


async def test_forbidden_to_update_or_delete_a_direct_room(chat: Chat) -> None:
    alice = await chat.client("1")
    await chat.client("2")
    name = (await alice.call("direct", to="2"))["room"]["name"]
    for kind, extra in [("update_room", {"title": "Ours"}), ("delete_room", {})]:
        reply = await alice.request(kind, room=name, **extra)
        assert reply["code"] == "forbidden", kind


async def test_forbidden_beyond_rooms_per_connection() -> None:
    async with running(auto_create=True, limits=Limits(rooms_per_connection=2)) as chat:
        alice = await chat.client("1")
        await alice.call("join", room="a")
        await alice.call("join", room="b")
        reply = await alice.request("join", room="c")
        assert (reply["code"], reply["field"]) == ("forbidden", "room")
        await alice.call("join", room="b")  # a room it is in already does not count twice
        await assert_usable(alice)


class StrictPolicy(Policy):
    """Carol ("3") may not create or write; nobody joins "vip"; nobody messages Dave ("4")."""

    async def can_create(self, user: User, name: str) -> bool:
        return user.id != "3"

    async def can_join(self, user: User, room: Room) -> bool:
        return room.name != "vip"

    async def can_send(self, user: User, room: Room) -> bool:
        return user.id != "3"

    async def can_message(self, sender: User, recipient: User) -> bool:
        return recipient.id != "4"


async def test_forbidden_when_the_policy_refuses() -> None:
    async with running(policy=StrictPolicy()) as chat:
        alice, carol = await lobby(chat, "1", "3")
        await chat.client("4")
        await alice.call("create_room", room="vip")
        refused = [
            (carol, "create_room", {"room": "mine"}),
            (carol, "send", {"room": "lobby", "text": "hi"}),
            (alice, "join", {"room": "vip"}),
            (alice, "members", {"room": "vip"}),
            (alice, "history", {"room": "vip"}),
            (alice, "send_private", {"to": "4", "text": "hi"}),
            (alice, "direct", {"to": "4"}),
        ]
        for client, kind, fields in refused:
            reply = await client.request(kind, **fields)
            assert reply["code"] == "forbidden", (kind, fields)
            await assert_usable(client)
        assert alice.events("message") == []
        assert (await alice.call("send_private", to="3", text="allowed"))["type"] == "ok"


async def test_auto_create_asks_the_policy_before_creating_a_room() -> None:
    async with running(policy=StrictPolicy(), auto_create=True) as chat:
        carol = await chat.client("3")
        reply = await carol.request("join", room="carols-room")
        assert (reply["code"], reply["field"]) == ("forbidden", "room")
        assert await chat.server.store.get_room("carols-room") is None
        alice = await chat.client("1")
        await alice.call("join", room="alices-room")
        assert (await carol.call("join", room="alices-room"))["room"]["members"] == 2


async def test_no_such_room_for_other_users_direct_room(chat: Chat) -> None:
    alice = await chat.client("1")
    await chat.client("2")
    carol = await chat.client("3")
    await alice.call("direct", to="2")
    name = direct_room_name("1", "2")
    for kind, extra in [
        ("join", {}),
        ("members", {}),
        ("history", {}),
        ("delete_room", {}),
        ("update_room", {"title": "x"}),
        ("typing", {}),
    ]:
        reply = await carol.request(kind, room=name, **extra)
        assert reply["code"] == "no_such_room", kind
    assert [room["name"] for room in (await carol.call("rooms"))["rooms"]] == []


async def test_no_such_room_when_joining_an_unused_direct_name_even_with_auto_create() -> None:
    async with running(auto_create=True) as chat:
        alice = await chat.client("1")
        reply = await alice.request("join", room=direct_room_name("1", "2"))
        assert reply["code"] == "no_such_room"


async def test_no_such_user_for_an_unknown_id(chat: Chat) -> None:
    alice = await chat.client("1")
    for kind in ("send_private", "direct"):
        reply = await alice.request(kind, to="404", text="hi")
        assert (reply["code"], reply["field"]) == ("no_such_user", "to"), kind
    await assert_usable(alice)


async def test_recipient_unavailable_when_a_known_user_is_offline() -> None:
    async with running(directory=MemoryDirectory([user("2")])) as chat:
        alice = await chat.client("1")
        reply = await alice.request("send_private", to="2", text="hi")
        assert (reply["code"], reply["field"]) == ("recipient_unavailable", "to")
        bob = await chat.client("2")
        await bob.close()
        reply = await alice.request("send_private", to="2", text="hi")
        assert reply["code"] == "recipient_unavailable"
        await assert_usable(alice)


async def test_unavailable_when_the_store_is_down() -> None:
    store = FlakyStore()
    async with running(store=store) as chat:
        (alice,) = await lobby(chat, "1")
        store.failures.raising["append"] = Unavailable()
        for _ in range(chat.limits.abuse_errors + 5):  # a backend outage is not abuse
            reply = await alice.request("send", room="lobby", text="hi")
            assert reply["code"] == "unavailable"
            await chat.advance(100)
        store.failures.raising.clear()
        assert (await alice.call("send", room="lobby", text="back"))["id"] == 1
        assert [m["text"] for m in alice.events("message")] == ["back"]


async def test_unavailable_when_the_broker_is_down() -> None:
    broker = FlakyBroker()
    async with running(broker=broker) as chat:
        alice, _bob = await lobby(chat, "1", "2")
        broker.failures.raising["publish"] = Unavailable()
        reply = await alice.request("send", room="lobby", text="hi")
        assert reply["code"] == "unavailable"
        broker.failures.raising = {"is_online": Unavailable()}
        reply = await alice.request("send_private", to="2", text="hi")
        assert reply["code"] == "unavailable"
        broker.failures.raising = {"connect": Unavailable()}
        with pytest.raises(Unavailable):
            await chat.client("3")
        assert chat.server.hub.user_conns("3") == set()
        broker.failures.raising.clear()
        await assert_usable(alice)
        assert (await alice.call("members", room="lobby"))["members"]


async def test_a_broker_bug_while_a_socket_closes_is_logged_and_the_connection_forgotten(
    caplog: pytest.LogCaptureFixture,
) -> None:
    broker = FlakyBroker()
    async with running(broker=broker) as chat:
        alice, bob = await lobby(chat, "1", "2")
        broker.failures.raising["disconnect"] = RuntimeError("a bug in the broker")
        await bob.close()  # does not raise into the adapter
        assert chat.server.hub.user_conns("2") == set()
        assert "the broker failed while 2 disconnected" in caplog.text
        broker.failures.raising.clear()
        await assert_usable(alice)


async def test_internal_when_the_store_fails_unexpectedly_and_the_connection_stays(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = FlakyStore()
    async with running(store=store) as chat:
        (alice,) = await lobby(chat, "1")
        store.failures.raising["list_rooms"] = RuntimeError("disk on fire")
        for _ in range(chat.limits.abuse_errors + 5):  # a server bug is not abuse
            reply = await alice.request("rooms")
            assert reply == {
                "type": "error",
                "ref": reply["ref"],
                "code": "internal",
                "message": "internal error",
            }
            await chat.advance(100)
        assert "disk on fire" in caplog.text
        store.failures.raising.clear()
        await assert_usable(alice)
        assert (await alice.call("rooms"))["rooms"][0]["name"] == "lobby"


async def test_a_join_that_fails_leaves_the_connection_out_of_the_room() -> None:
    store = FlakyStore()
    async with running(store=store) as chat:
        alice, _bob = await lobby(chat, "1", "2")
        # A message since the others joined: Carol's join reads the store, not the page their
        # joins read (identical reads are shared while the room is unchanged, _shared_reads).
        await alice.call("send", room="lobby", text="first")
        store.failures.raising["history"] = RuntimeError("broken index")
        carol = await chat.client("3")
        reply = await carol.request("join", room="lobby")
        assert reply["code"] == "internal"
        store.failures.raising.clear()
        members = (await alice.call("members", room="lobby"))["members"]
        assert sorted(member["id"] for member in members) == ["1", "2"]
        await alice.call("send", room="lobby", text="hi")
        assert carol.events("message") == []
        reply = await carol.request("send", room="lobby", text="hi")
        assert reply["code"] == "not_member"


async def test_repeated_abuse_closes_with_1008(chat: Chat) -> None:
    alice = await chat.client("1")
    for _ in range(chat.limits.abuse_errors):
        await alice.send("garbage")
    still_open = alice.close_code
    assert still_open is None
    await alice.send("garbage")
    assert alice.close_code is CloseCode.POLICY_VIOLATION
    assert alice.connection.close_code is CloseCode.POLICY_VIOLATION


async def test_errors_spread_over_time_are_not_abuse(chat: Chat) -> None:
    alice = await chat.client("1")
    for _ in range(3 * chat.limits.abuse_errors):
        await alice.send("garbage")
        await chat.advance(chat.limits.abuse_window // chat.limits.abuse_errors)
    await assert_usable(alice)


@pytest.mark.parametrize("binary", [False, True])
async def test_a_frame_over_the_hard_cap_closes_with_1009(chat: Chat, binary: bool) -> None:
    alice = await chat.client("1")
    big = "x" * (chat.limits.hard_frame_cap + 1)
    await alice.send(big.encode() if binary else big)
    assert alice.close_code is CloseCode.MESSAGE_TOO_BIG
    await alice.send({"type": "ping", "ref": 1})  # ignored once closed
    assert alice.inbox == []


async def test_server_shutdown_closes_connections_with_1001() -> None:
    async with running() as chat:
        alice = await chat.client("1")
        bob = await chat.client("2")
    alice.pump()
    bob.pump()
    assert alice.close_code is CloseCode.GOING_AWAY
    assert bob.close_code is CloseCode.GOING_AWAY
    await alice.close()  # an adapter closing its socket afterwards is harmless


async def test_connecting_to_a_server_that_is_not_running_is_a_usage_error() -> None:
    server = ChatServer()
    with pytest.raises(UsageError):
        await server.connect(user("1"))
    async with server:
        assert server.running
        with pytest.raises(UsageError):
            await server.__aenter__()
    assert not server.running


async def test_a_store_failure_in_a_leave_timer_does_not_stop_the_server(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = FlakyStore()
    async with running(store=store, auto_create=True) as chat:
        alice = await chat.client("1")
        bob = await chat.client("2")
        await alice.call("join", room="pop-up")
        await bob.call("join", room="pop-up")
        await alice.call("leave", room="pop-up")
        await bob.close()
        store.failures.raising["get_room"] = RuntimeError("store crashed")
        await chat.advance(chat.limits.presence_grace)
        store.failures.raising.clear()
        assert chat.server.running
        await assert_usable(alice)
        await alice.call("create_room", room="after")
        # Timers still run: the next departure is announced.
        await alice.call("join", room="after")
        carol = await chat.client("3")
        await carol.call("join", room="after")
        await carol.close()
        alice.events()
        await chat.advance(chat.limits.presence_grace)
        assert [f["event"] for f in alice.events("presence")] == ["leave"]
    assert "store crashed" in caplog.text


async def test_the_test_kit_raises_reply_error_with_code_and_field(chat: Chat) -> None:
    alice = await chat.client("1")
    with pytest.raises(ReplyError) as raised:
        await alice.call("join", room="nowhere")
    assert (raised.value.code, raised.value.field) == ("no_such_room", "room")
    assert raised.value.frame["type"] == "error"


async def test_a_join_the_broker_cannot_record_is_unavailable_and_undone() -> None:
    broker = FlakyBroker()
    async with running(broker=broker) as chat:
        (alice,) = await lobby(chat, "1")
        bob = await chat.client("2")
        broker.failures.raising["join"] = Unavailable()
        reply = await bob.request("join", room="lobby")
        assert reply["code"] == "unavailable"
        assert not chat.server.hub.in_room(next(iter(chat.server.hub.user_conns("2"))), "lobby")
        await alice.call("send", room="lobby", text="not for bob")
        assert bob.events("message") == []
        broker.failures.raising.clear()
        joined = await bob.call("join", room="lobby")
        assert sorted(u["id"] for u in joined["members"]) == ["1", "2"]
        assert [f["user"]["id"] for f in alice.events("presence")] == ["2"]
