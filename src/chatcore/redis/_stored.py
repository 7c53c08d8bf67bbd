"""What the Redis store and broker keep in keys: users, rooms and messages as stored text.

These forms outlive a process: a newer chatcore reads what an older one wrote, so they change
only with a way to read the old form (tests/redis/test_stored.py pins them). They are not
frames: the frames clients get are :mod:`chatcore.wire.protocol`'s alone.

A message is stored as ``"<id> <json>"``, the JSON holding everything but the id (Redis
assigns it, inside the script that stores the message): :func:`message_template` gives the
text around the id, for the script to fill in.
"""

from __future__ import annotations

import json

from ..wire.values import Message, Room, RoomKind, User

__all__ = (
    "decode_message",
    "decode_room",
    "decode_user",
    "encode_room",
    "encode_user",
    "message_template",
)

_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


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


def message_template(ts: int, sender: User, text: str, client_id: str | None) -> tuple[str, str]:
    """The stored item of a message whose id is not known yet: the text before and after the
    id (``f"{before}{id}{after}"``)."""
    return "", " " + _json.encode([ts, sender.id, sender.name, sender.avatar, text, client_id])


def decode_message(room: str, item: str) -> Message:
    """The message of a stored item (``"<id> <json>"``)."""
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
