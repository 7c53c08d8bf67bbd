"""Text forms of what Redis carries: envelopes on pub/sub, users, rooms and messages in keys.

An envelope travels as one line of JSON (target, ephemeral flag, effect), then, if it has a
frame, a newline and the frame's text unchanged: the frame is encoded once, where the event
happens, and never escaped again. Compact JSON has no raw newline, so the first one splits.
"""

from __future__ import annotations

import json
from typing import Any

from ..envelope import (
    Departed,
    Effect,
    Envelope,
    RoomRemoved,
    Target,
    ToRoom,
    ToRoomList,
    ToUser,
    UserChanged,
    UserKicked,
)
from ..errors import CloseCode
from ..values import Message, Room, RoomKind, User

__all__ = (
    "decode_envelope",
    "decode_message",
    "decode_room",
    "decode_user",
    "encode_envelope",
    "encode_header",
    "encode_message",
    "encode_room",
    "encode_user",
    "message_id",
)

_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def encode_header(target: Target, ephemeral: bool = False, effect: Effect | None = None) -> str:
    """The first line of an envelope."""
    if isinstance(target, ToRoom):
        head: list[Any] = ["r", target.room, target.exclude_user]
    elif isinstance(target, ToUser):
        head = ["u", target.user_id, None]
    else:
        head = ["l", target.room, None]
    head.append(1 if ephemeral else 0)
    if isinstance(effect, RoomRemoved):
        head.append(["rm", effect.room])
    elif isinstance(effect, UserChanged):
        head.append(["uc", effect.user.id, effect.user.name, effect.user.avatar])
    elif isinstance(effect, UserKicked):
        head.append(["kick", int(effect.code)])
    elif isinstance(effect, Departed):
        head.append(["dep", effect.room])
    return _json.encode(head)


def encode_envelope(envelope: Envelope) -> str:
    header = encode_header(envelope.target, envelope.ephemeral, envelope.effect)
    return header if envelope.frame is None else f"{header}\n{envelope.frame}"


def decode_envelope(data: str) -> Envelope:
    """The envelope of :func:`encode_envelope`; ``ValueError`` (or a subclass) if malformed."""
    header, newline, frame = data.partition("\n")
    parts = _headers.get(header)
    if parts is None:
        parts = _decode_header(header)
        if len(_headers) >= _HEADERS_KEPT:
            _headers.clear()
        _headers[header] = parts
    target, ephemeral, effect = parts
    return Envelope(target, frame if newline else None, ephemeral, effect)


# A room's envelopes share one header, so each header is parsed once (its parts are frozen).
_HEADERS_KEPT = 1_024
_headers: dict[str, tuple[Target, bool, Effect | None]] = {}


def _decode_header(header: str) -> tuple[Target, bool, Effect | None]:
    head = json.loads(header)
    kind, name, exclude, ephemeral = head[:4]
    target: Target
    if kind == "r":
        target = ToRoom(name, exclude)
    elif kind == "u":
        target = ToUser(name)
    elif kind == "l":
        target = ToRoomList(name)
    else:
        raise ValueError(f"unknown target kind {kind!r}")
    effect: Effect | None = None
    if len(head) > 4:
        tag, *args = head[4]
        if tag == "rm":
            effect = RoomRemoved(args[0])
        elif tag == "uc":
            effect = UserChanged(User(id=args[0], name=args[1], avatar=args[2]))
        elif tag == "kick":
            effect = UserKicked(CloseCode(args[0]))
        elif tag == "dep":
            effect = Departed(args[0])
        else:
            raise ValueError(f"unknown effect {tag!r}")
    return target, bool(ephemeral), effect


# How `protocol.encode` starts a `message` frame (type first, then id); a test in
# tests/redis checks that ordering still works, so a change here cannot go unnoticed.
_MESSAGE_START = '{"type":"message","id":'


def message_id(envelope: Envelope) -> int | None:
    """The message id if ``envelope`` carries a room's ``message`` frame, else None."""
    frame = envelope.frame
    if type(envelope.target) is not ToRoom or frame is None:
        return None
    if not frame.startswith(_MESSAGE_START):
        return None
    end = frame.find(",", len(_MESSAGE_START))
    try:
        return int(frame[len(_MESSAGE_START) : end])
    except ValueError:
        return None


def encode_user(user: User) -> str:
    """A user without the id (the id is the field or key it is stored under)."""
    return _json.encode([user.name, user.avatar])


def decode_user(user_id: str, data: str | None) -> User:
    if not data:
        return User(id=user_id, name=user_id)
    name, avatar = json.loads(data)
    return User(id=user_id, name=name, avatar=avatar)


def encode_room(room: Room) -> str:
    """A room without its name and title (stored as hash fields of their own)."""
    return _json.encode(
        {"owner": room.owner, "kind": room.kind.value, "users": list(room.users), "auto": room.auto}
    )


def decode_room(name: str, data: str, title: str | None) -> Room:
    meta = json.loads(data)
    return Room(
        name=name,
        title=title or name,
        owner=meta["owner"],
        kind=RoomKind(meta["kind"]),
        users=tuple(meta["users"]),
        auto=meta["auto"],
    )


def encode_message(ts: int, sender: User, text: str, client_id: str | None) -> str:
    """A message without its id (Redis assigns it; the stored item is ``"<id> <this>"``)."""
    return _json.encode([ts, sender.id, sender.name, sender.avatar, text, client_id])


def decode_message(room: str, item: str) -> Message:
    id_text, _, data = item.partition(" ")
    ts, sender_id, name, avatar, text, client_id = json.loads(data)
    return Message(
        id=int(id_text),
        room=room,
        ts=ts,
        sender=User(id=sender_id, name=name, avatar=avatar),
        text=text,
        client_id=client_id,
    )
