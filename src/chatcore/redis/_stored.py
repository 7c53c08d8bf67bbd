"""What the Redis store and broker keep in keys: users, rooms and messages as stored text.

These forms outlive a process: a newer chatcore reads what an older one wrote, so they change
only with a way to read the old form (tests/redis/test_stored.py pins them). They are not
frames: the frames clients get are :mod:`chatcore.wire.protocol`'s alone.

A message is stored as ``"<head> <json>"``. The head is the id, then, once the message has been
changed, ``v<version>`` and ``d`` if it is deleted (``17``, ``17v2``, ``17v3d``): the scripts read
a message's version and whether it is deleted there, without parsing JSON. The JSON is an array
``[ts, sender id, sender name, avatar, text, client_id]``, with a seventh item, an object,
only when the message has any of ``reply_to``, ``meta``, ``edited`` or reactions (as
``[[emoji, [user, ...]], ...]``); so a plain message is stored as it always was. Redis
assigns the id of a new message inside the script that stores it: :func:`message_template`
gives the text around the id, for the script to fill in; :func:`encode_message` gives the
item of a message whose id (and version) is known, for a change.

A change in a room's log is stored as ``"<seq> <after> <kind> <item>"`` (:func:`encode_change`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, cast, get_args

from ..backends.store import Change
from ..wire.values import ChangeKind, Message, Reaction, Room, RoomKind, User

__all__ = (
    "decode_change",
    "decode_message",
    "decode_room",
    "decode_user",
    "encode_change",
    "encode_id",
    "encode_message",
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


def encode_id(user_id: str) -> str:
    """A user id as it stands in a stored message (a JSON string), for scripts to match."""
    return _json.encode(user_id)


def encode_room(room: Room) -> str:
    """A room without its name and title (stored as hash fields of their own)."""
    meta: dict[str, Any] = {
        "owner": room.owner,
        "kind": room.kind.value,
        "users": list(room.users),
        "auto": room.auto,
    }
    if room.private:
        meta["private"] = True
    return _json.encode(meta)


def decode_room(name: str, data: str, title: str | None) -> Room:
    meta = json.loads(data)
    return Room(
        name=name,
        title=title or name,
        owner=meta["owner"],
        kind=RoomKind(meta["kind"]),
        users=tuple(meta["users"]),
        auto=meta["auto"],
        private=meta.get("private", False),
    )


def message_template(
    ts: int,
    sender: User,
    text: str,
    client_id: str | None,
    reply_to: int | None = None,
    meta: Mapping[str, Any] | None = None,
) -> tuple[str, str]:
    """The stored item of a new message whose id is not known yet: the text before and after
    the id (``f"{before}{id}{after}"``)."""
    fields: list[Any] = [ts, sender.id, sender.name, sender.avatar, text, client_id]
    if reply_to is not None or meta is not None:
        extra: dict[str, Any] = {}
        if reply_to is not None:
            extra["reply_to"] = reply_to
        if meta is not None:
            extra["meta"] = meta
        fields.append(extra)
    return "", " " + _json.encode(fields)


def encode_message(message: Message) -> str:
    """The stored item of ``message`` (id, version and all; not its room, the key's)."""
    head = str(message.id)
    if message.version or message.deleted:
        head += f"v{message.version}{'d' if message.deleted else ''}"
    sender = message.sender
    fields: list[Any] = [message.ts, sender.id, sender.name, sender.avatar, message.text]
    fields.append(message.client_id)
    extra: dict[str, Any] = {}
    if message.reply_to is not None:
        extra["reply_to"] = message.reply_to
    if message.meta is not None:
        extra["meta"] = message.meta
    if message.edited is not None:
        extra["edited"] = message.edited
    if message.reactions:
        extra["reactions"] = [[r.emoji, list(r.users)] for r in message.reactions]
    if extra:
        fields.append(extra)
    return f"{head} {_json.encode(fields)}"


def decode_message(room: str, item: str) -> Message:
    """The message of a stored item (``"<head> <json>"``)."""
    head, _, data = item.partition(" ")
    fields = json.loads(data)
    ts, sender_id, name, avatar, text, client_id = fields[:6]
    extra: dict[str, Any] = fields[6] if len(fields) > 6 else {}
    id_text, _, changed = head.partition("v")
    return Message(
        id=int(id_text),
        room=room,
        ts=ts,
        sender=User(id=sender_id, name=name, avatar=avatar),
        text=text,
        client_id=client_id,
        reply_to=extra.get("reply_to"),
        meta=extra.get("meta"),
        edited=extra.get("edited"),
        deleted=changed.endswith("d"),
        reactions=tuple(Reaction(e, tuple(users)) for e, users in extra.get("reactions", ())),
        version=int(changed.rstrip("d")) if changed else 0,
    )


def encode_change(seq: int, after: int, kind: ChangeKind, message: Message) -> str:
    """A change in a room's log (the scripts write it from the parts)."""
    return f"{seq} {after} {kind} {encode_message(message)}"


def decode_change(room: str, entry: str) -> Change:
    """The change of a stored log entry (``"<seq> <after> <kind> <item>"``)."""
    seq, after, kind, item = entry.split(" ", 3)
    if kind not in _KINDS:
        raise ValueError(f"unknown change kind {kind!r}")
    return Change(cast("ChangeKind", kind), decode_message(room, item), int(seq), int(after))


_KINDS = frozenset(get_args(ChangeKind))
