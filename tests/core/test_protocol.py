"""The protocol module on its own: frames to commands, events to frames."""

from __future__ import annotations

import json
from typing import Any

import pytest

from chatcore.wire import commands as c
from chatcore.wire.errors import (
    BadFrame,
    ErrorCode,
    InvalidField,
    RateLimited,
    TooLarge,
    UnknownType,
)
from chatcore.wire.events import (
    ErrorReply,
    MessageEvent,
    OkReply,
    PresenceEvent,
    PrivateEvent,
    RoomEvent,
    TypingEvent,
    Welcome,
)
from chatcore.wire.protocol import MAX_DEPTH, Rejected, decode, encode, frame_size
from chatcore.wire.values import Message, Room, RoomKind, User

ALICE = User(id="1", name="Alice")
BOB = User(id="2", name="Bob", avatar="/b.png")


def parse(frame: dict[str, Any]) -> c.Command | Rejected:
    return decode(json.dumps(frame), 16_384)


@pytest.mark.parametrize(
    ("frame", "command"),
    [
        ({"type": "join", "room": "lobby"}, c.Join(room="lobby")),
        (
            {"type": "join", "room": "lobby", "since": 0, "ref": 1},
            c.Join(room="lobby", since=0, ref=1),
        ),
        ({"type": "leave", "room": "a", "ref": "x"}, c.Leave(room="a", ref="x")),
        (
            {"type": "send", "room": "a", "text": " hi ", "client_id": "k"},
            c.Send(room="a", text=" hi ", client_id="k"),
        ),
        (
            {"type": "send_private", "to": "2", "text": "yo", "room": "a"},
            c.SendPrivate(to="2", text="yo", room="a"),
        ),
        ({"type": "send_private", "to": "2", "text": "yo"}, c.SendPrivate(to="2", text="yo")),
        ({"type": "typing", "room": "a"}, c.Typing(room="a")),
        ({"type": "rooms"}, c.ListRooms()),
        ({"type": "rooms", "watch": True}, c.ListRooms(watch=True)),
        ({"type": "rooms", "watch": False}, c.ListRooms(watch=False)),
        ({"type": "create_room", "room": "a"}, c.CreateRoom(room="a")),
        ({"type": "create_room", "room": "a", "title": "T"}, c.CreateRoom(room="a", title="T")),
        ({"type": "update_room", "room": "a", "title": "T"}, c.UpdateRoom(room="a", title="T")),
        ({"type": "delete_room", "room": "a"}, c.DeleteRoom(room="a")),
        ({"type": "direct", "to": "2"}, c.Direct(to="2")),
        ({"type": "members", "room": "a"}, c.Members(room="a")),
        ({"type": "history", "room": "a"}, c.History(room="a")),
        (
            {"type": "history", "room": "a", "before": 9, "limit": 5},
            c.History(room="a", before=9, limit=5),
        ),
        ({"type": "ping", "ref": -3}, c.Ping(ref=-3)),
        ({"type": "ping", "extra": {"ignored": [1]}}, c.Ping()),
        ({"type": "join", "room": "lobby", "since": None}, c.Join(room="lobby")),
    ],
)
def test_decode_builds_the_command(frame: dict[str, Any], command: c.Command) -> None:
    assert parse(frame) == command


def test_decode_rejects_with_the_error_and_the_ref() -> None:
    rejected = parse({"type": "nope", "ref": 4})
    assert isinstance(rejected, Rejected)
    assert isinstance(rejected.error, UnknownType)
    assert rejected.ref == 4
    rejected = parse({"type": "join", "ref": "a"})
    assert isinstance(rejected, Rejected)
    assert isinstance(rejected.error, InvalidField)
    assert (rejected.error.field, rejected.ref) == ("room", "a")
    bad_ref = parse({"type": "ping", "ref": False})
    assert isinstance(bad_ref, Rejected)
    assert bad_ref.ref is None


def test_decode_rejects_binary_and_sizes_in_utf8_bytes() -> None:
    binary = decode(b"{}", 100)
    assert isinstance(binary, Rejected)
    assert isinstance(binary.error, BadFrame)
    text = json.dumps({"type": "ping", "x": "é" * 10}, ensure_ascii=False)
    assert not isinstance(decode(text, frame_size(text)), Rejected)
    too_big = decode(text, frame_size(text) - 1)
    assert isinstance(too_big, Rejected)
    assert isinstance(too_big.error, TooLarge)


def test_nesting_is_limited_alike_on_every_python() -> None:
    def ping(depth: int) -> str:
        # The frame itself is one level; ``x`` adds ``depth - 1``.
        return '{"type": "ping", "x": ' + "[" * (depth - 1) + "]" * (depth - 1) + "}"

    assert not isinstance(decode(ping(MAX_DEPTH), 16_384), Rejected)
    for depth in (MAX_DEPTH + 1, 3000):
        rejected = decode(ping(depth), 16_384)
        assert isinstance(rejected, Rejected)
        assert isinstance(rejected.error, BadFrame)
    # Brackets inside strings are text, not nesting.
    assert not isinstance(decode(json.dumps({"type": "ping", "x": "[" * 2000}), 16_384), Rejected)


def test_a_refused_frame_keeps_its_ref_when_it_can_be_read() -> None:
    big = json.dumps({"type": "send", "room": "a", "text": "x" * 200, "ref": "r1"})
    too_big = decode(big, 100)
    assert isinstance(too_big, Rejected)
    assert isinstance(too_big.error, TooLarge)
    assert too_big.ref == "r1"
    binary = decode(b'{"type": "ping", "ref": 7}', 100)
    assert isinstance(binary, Rejected)
    assert (type(binary.error), binary.ref) == (BadFrame, 7)
    wrong_types: list[tuple[dict[str, Any], str]] = [
        ({"type": "send", "room": 5, "text": "x", "ref": 3}, "room"),
        ({"type": "send", "room": "a", "text": ["x"], "ref": 3}, "text"),
        ({"type": "join", "room": "a", "since": "4", "ref": 3}, "since"),
        ({"type": "rooms", "watch": 1, "ref": 3}, "watch"),
        ({"type": 9, "ref": 3}, "type"),
    ]
    for frame, field in wrong_types:
        rejected = parse(frame)
        assert isinstance(rejected, Rejected)
        assert (rejected.error.field, rejected.ref) == (field, 3)
    # What cannot be read has no ref to give: broken JSON, a ref of a wrong type.
    for unreadable in ('{"type": "ping", "ref": 7', '[{"ref": 7}]', b"\xff"):
        rejected = decode(unreadable, 5)
        assert isinstance(rejected, Rejected)
        assert rejected.ref is None
    rejected = decode(json.dumps({"ref": [1], "x": "y" * 10}), 5)
    assert isinstance(rejected, Rejected)
    assert rejected.ref is None


def test_frame_size_counts_utf8_bytes_and_surrogates() -> None:
    assert frame_size("abc") == 3
    assert frame_size("é") == 2
    assert frame_size("€") == 3
    assert frame_size("😀") == 4
    assert frame_size("\ud800") == 3


def test_encode_is_compact_json_keeping_unicode() -> None:
    frame = encode(TypingEvent(room="a", user=User(id="1", name="Zoë")))
    assert frame == '{"type":"typing","room":"a","user":{"id":"1","name":"Zoë","avatar":null}}'


def test_encode_every_event_shape() -> None:
    message = Message(id=3, room="a", ts=5, sender=ALICE, text="hi", client_id="k")
    room = Room(name="a", title="A", owner="1")
    direct = Room(name="dm-x", title="A & B", kind=RoomKind.DIRECT, users=("1", "2"))
    alice, bob = ALICE.to_wire(), BOB.to_wire()
    shapes: list[tuple[Any, dict[str, Any]]] = [
        (
            Welcome(user=ALICE, limits={"max_frame": 1}),
            {"type": "welcome", "user": alice, "protocol": 1, "limits": {"max_frame": 1}},
        ),
        (
            MessageEvent(message=message),
            {"type": "message", "id": 3, "room": "a", "ts": 5, "from": alice, "text": "hi"},
        ),
        (
            PrivateEvent(id=9, ts=5, sender=ALICE, to=BOB, text="x"),
            {"type": "private", "id": 9, "ts": 5, "from": alice, "to": bob, "text": "x"},
        ),
        (
            PrivateEvent(id=9, ts=5, sender=ALICE, to=BOB, text="x", room="a"),
            {
                "type": "private",
                "id": 9,
                "ts": 5,
                "from": alice,
                "to": bob,
                "text": "x",
                "room": "a",
            },
        ),
        (
            PresenceEvent(room="a", event="leave", user=BOB),
            {"type": "presence", "room": "a", "event": "leave", "user": bob},
        ),
        (
            RoomEvent(event="created", room=room, members=2),
            {
                "type": "room",
                "event": "created",
                "room": {
                    "name": "a",
                    "title": "A",
                    "owner": "1",
                    "members": 2,
                    "kind": "group",
                    "private": False,
                },
            },
        ),
        (
            RoomEvent(event="deleted", room=direct),
            {
                "type": "room",
                "event": "deleted",
                "room": {
                    "name": "dm-x",
                    "title": "A & B",
                    "owner": None,
                    "members": 0,
                    "kind": "direct",
                    "private": False,
                    "users": ["1", "2"],
                },
            },
        ),
        (OkReply(ref=1, result={"id": 4}), {"type": "ok", "ref": 1, "id": 4}),
        (
            ErrorReply.from_error(RateLimited(), "r"),
            {
                "type": "error",
                "code": "rate_limited",
                "message": "too many frames; slow down",
                "ref": "r",
            },
        ),
        (
            ErrorReply.from_error(InvalidField("bad", field="room")),
            {"type": "error", "code": "invalid_field", "message": "bad", "field": "room"},
        ),
    ]
    for event, wire in shapes:
        assert json.loads(encode(event)) == wire


def test_every_error_code_has_an_exception_class() -> None:
    from chatcore.wire import errors

    classes = [
        value
        for value in vars(errors).values()
        if isinstance(value, type) and issubclass(value, errors.ClientError)
    ]
    assert {cls.code for cls in classes} == set(ErrorCode)
    assert [code.value for code in ErrorCode] == [
        "bad_frame",
        "unknown_type",
        "invalid_field",
        "too_large",
        "rate_limited",
        "no_such_room",
        "room_exists",
        "not_member",
        "forbidden",
        "no_such_user",
        "recipient_unavailable",
        "unavailable",
        "internal",
        "quota_exceeded",
        "no_such_message",
        "banned",
        "muted",
        "rejected",
    ]
