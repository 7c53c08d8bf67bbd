"""The wire protocol as an AsyncAPI 3.0 document (docs/asyncapi.yaml), built from the classes.

Client commands come from the attrs fields of the command classes (a field without a default is
required); the server events, the values and the error codes from the event classes, their
``Literal`` annotations and :class:`~chatcore.wire.errors.ErrorCode`. What the classes do not
say (a field's JSON type and bounds, the shape each event writes) is kept here, once:
:data:`FIELDS` for the fields of commands, :func:`value_schemas`, :func:`event_schemas` and
:func:`result_schemas` for what the server writes. The tests check the document against every frame the core tests see.

``python -m chatcore.wire.asyncapi [PATH]`` writes the document (to stdout without a path). It
needs nothing beyond the standard library: the YAML is written by :func:`to_yaml`.
"""

from __future__ import annotations

import json
import re
import sys
import types
import typing
from collections.abc import Mapping
from typing import Any

import attrs

from . import commands as c
from . import events as e
from .errors import ErrorCode
from .limits import Limits
from .moderation import ACTIONS, MAX_REASON, ROLES, Rank
from .protocol import _MAX_ID, _MAX_USER_ID, _PARSERS, MAX_CURSOR, MAX_QUERY, MAX_REF
from .values import (
    MAX_CLIENT_ID,
    MAX_EMOJI,
    MAX_META,
    MAX_TITLE,
    REACTION_USERS_SHOWN,
    ROOM_NAME_PATTERN,
    ChangeKind,
    RoomKind,
)

__all__ = (
    "COMMANDS",
    "COMMAND_FIELDS",
    "EVENTS",
    "FIELDS",
    "Schema",
    "document",
    "event_schemas",
    "main",
    "result_schemas",
    "to_yaml",
    "value_schemas",
)

Schema = dict[str, Any]

#: The command class of each client frame ``type`` (the keys are those of the protocol's parsers).
COMMANDS: dict[str, type] = {
    "join": c.Join,
    "leave": c.Leave,
    "send": c.Send,
    "edit": c.Edit,
    "delete_message": c.DeleteMessage,
    "react": c.React,
    "unreact": c.Unreact,
    "read": c.Read,
    "send_private": c.SendPrivate,
    "typing": c.Typing,
    "rooms": c.ListRooms,
    "create_room": c.CreateRoom,
    "update_room": c.UpdateRoom,
    "delete_room": c.DeleteRoom,
    "direct": c.Direct,
    "members": c.Members,
    "history": c.History,
    "ping": c.Ping,
    "set_role": c.SetRole,
    "kick": c.Kick,
    "ban": c.Ban,
    "unban": c.Unban,
    "mute": c.Mute,
    "unmute": c.Unmute,
    "invite": c.Invite,
    "audit": c.Audit,
    "block": c.Block,
    "unblock": c.Unblock,
    "blocks": c.Blocks,
    "watch_users": c.WatchUsers,
}

#: The event class of each server frame ``type``.
EVENTS: dict[str, type] = {
    "welcome": e.Welcome,
    "message": e.MessageEvent,
    "message_changed": e.MessageChanged,
    "read": e.ReadEvent,
    "private": e.PrivateEvent,
    "presence": e.PresenceEvent,
    "typing": e.TypingEvent,
    "room": e.RoomEvent,
    "kicked": e.KickedEvent,
    "moderation": e.ModerationEvent,
    "occupancy": e.OccupancyEvent,
    "status": e.StatusEvent,
    "ok": e.OkReply,
    "error": e.ErrorReply,
}


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


_DEFAULTS = Limits()
_ID = {"type": "integer", "minimum": 0, "maximum": _MAX_ID}
_MESSAGE_ID = {"type": "integer", "minimum": 1, "maximum": _MAX_ID}
_FLAG = {"type": "boolean"}
_PRIVATE_ID = {**_ID, "maximum": 2**52 - 1, "description": "Random, unique in practice."}

#: The JSON schema of each field a client command may carry, by wire name: the facts the command
#: classes lack. Lengths of text checked after trimming are told in the description, as a raw
#: frame may hold more (the whitespace the server trims).
FIELDS: dict[str, Schema] = {
    "ref": {
        "type": ["string", "integer"],
        "maxLength": MAX_REF,
        "minimum": -_MAX_ID,
        "maximum": _MAX_ID,
        "description": "Echoed in the reply; a frame with a ref gets exactly one reply.",
    },
    "room": _ref("RoomName"),
    "since": {**_ID, "description": "The last message id the client has."},
    "text": {
        "type": "string",
        "minLength": 1,
        "description": f"1 to max_text ({_DEFAULTS.max_text}) characters after trimming, one of "
        "them visible; no control character but tab and line feed.",
    },
    "client_id": {
        "type": "string",
        "minLength": 1,
        "maxLength": MAX_CLIENT_ID,
        "description": "Makes a send idempotent; no control characters.",
    },
    "reply_to": _MESSAGE_ID,
    "meta": _ref("Meta"),
    "id": _MESSAGE_ID,
    "emoji": _ref("Emoji"),
    "to": {
        "type": "string",
        "minLength": 1,
        "maxLength": _MAX_USER_ID,
        "description": "A user id.",
    },
    "watch": _FLAG,
    "unread": _FLAG,
    "title": {
        "type": "string",
        "minLength": 1,
        "description": f"1-{MAX_TITLE} characters after trimming, on one line, one of them "
        "visible; no control characters, bidi embeddings, overrides or isolates.",
    },
    "before": _ID,
    "user": {
        "type": "string",
        "minLength": 1,
        "maxLength": _MAX_USER_ID,
        "description": "A user id.",
    },
    "role": {"type": "string", "enum": list(ROLES)},
    "reason": {
        "type": "string",
        "minLength": 1,
        "description": f"1-{MAX_REASON} characters after trimming, one of them visible.",
    },
    "until": {**_ID, "description": "When it ends, in ms since the epoch; absent: never."},
    "private": _FLAG,
    "limit": {
        **_ID,
        "minimum": 1,
        "description": f"1 to history_page ({_DEFAULTS.history_page}); default {_DEFAULTS.history_page}.",
    },
    "after": {
        "type": "string",
        "minLength": 1,
        "maxLength": MAX_CURSOR,
        "description": "A members page's next cursor: the page after it.",
    },
    "query": {
        "type": "string",
        "minLength": 1,
        "maxLength": MAX_QUERY,
        "description": "A name prefix, case-insensitive; no line breaks.",
    },
    "users": {
        "type": "array",
        "items": {"type": "string", "minLength": 1, "maxLength": _MAX_USER_ID},
        "maxItems": _DEFAULTS.watch_users,
        "description": f"User ids to watch, at most watch_users ({_DEFAULTS.watch_users}).",
    },
}

#: Fields of one command that differ from :data:`FIELDS`, by (type, field).
COMMAND_FIELDS: dict[tuple[str, str], Schema] = {
    ("read", "id"): {**_ID, "description": "Past the newest message, clamped to it."},
    ("members", "limit"): {
        **_ID,
        "minimum": 1,
        "description": f"1 to members_page ({_DEFAULTS.members_page}); default: every member "
        f"of a room that is not large, else {_DEFAULTS.members_page}.",
    },
}

_JSON_TYPES: dict[object, str] = {
    str: "string",
    int: "integer",
    bool: "boolean",
    Mapping: "object",
    tuple: "array",
}


def _json_type(annotation: object) -> str | list[str]:
    """The JSON type of a command field's annotation, ``None`` left out."""
    args = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
    if isinstance(annotation, types.UnionType):
        kinds = [_JSON_TYPES[typing.get_origin(arg) or arg] for arg in args]
        return kinds[0] if len(kinds) == 1 else kinds
    return _JSON_TYPES[typing.get_origin(annotation) or annotation]


def _schema_type(schema: Schema, components: Mapping[str, Schema]) -> object:
    while "$ref" in schema:
        schema = components[schema["$ref"].rsplit("/", 1)[1]]
    return schema["type"]


def _command(kind: str, cls: type, components: Mapping[str, Schema]) -> Schema:
    hints = typing.get_type_hints(cls)
    properties: Schema = {"type": {"const": kind}}
    required = ["type"]
    for field in attrs.fields(cls):
        schema = COMMAND_FIELDS.get((kind, field.name), FIELDS[field.name])
        expected = _json_type(hints[field.name])
        if _schema_type(schema, components) != expected:
            raise AssertionError(
                f"{kind}.{field.name}: the table says {schema}, the class {expected}"
            )
        properties[field.name] = schema
        if field.default is attrs.NOTHING:
            required.append(field.name)
    return {"type": "object", "properties": properties, "required": required}


def _literals(cls: type, name: str) -> list[str]:
    return list(typing.get_args(typing.get_type_hints(cls)[name]))


def value_schemas() -> dict[str, Schema]:
    """The schemas of the values and of the fields several frames share."""
    user_id = {"type": "string", "minLength": 1}
    return {
        "RoomName": {
            "type": "string",
            "pattern": f"^{ROOM_NAME_PATTERN}$",
            "description": "A slug; names starting with dm- are the server's direct rooms.",
        },
        "UserId": user_id,
        "Meta": {
            "type": "object",
            "description": f"The application's JSON object: at most {MAX_META} bytes as compact JSON.",
        },
        "Emoji": {
            "type": "string",
            "minLength": 1,
            "maxLength": MAX_EMOJI,
            "description": "An emoji or a :shortcode:, visible, without whitespace.",
        },
        "User": {
            "type": "object",
            "properties": {
                "id": _ref("UserId"),
                "name": {"type": "string", "minLength": 1},
                "avatar": {"type": ["string", "null"]},
            },
            "required": ["id", "name", "avatar"],
        },
        "Room": {
            "type": "object",
            "properties": {
                "name": _ref("RoomName"),
                "title": {"type": "string", "minLength": 1, "maxLength": MAX_TITLE},
                "owner": {"type": ["string", "null"]},
                "members": {"type": "integer", "minimum": 0},
                "kind": {"enum": [kind.value for kind in RoomKind]},
                "users": {
                    "type": "array",
                    "items": _ref("UserId"),
                    "minItems": 2,
                    "maxItems": 2,
                    "description": "A direct room's two users.",
                },
                "private": {"type": "boolean", "description": "Seen by invited users only."},
            },
            "required": ["name", "title", "owner", "members", "kind"],
        },
        "Reaction": {
            "type": "object",
            "properties": {
                "count": {"type": "integer", "minimum": 1},
                "users": {
                    "type": "array",
                    "items": _ref("UserId"),
                    "maxItems": REACTION_USERS_SHOWN,
                    "description": "The first users who reacted, in order.",
                },
            },
            "required": ["count", "users"],
        },
        "Message": _message_fields(),
        "AuditEntry": {
            "type": "object",
            "properties": {
                "id": _MESSAGE_ID,
                "room": _ref("RoomName"),
                "action": {"enum": list(ACTIONS)},
                "user": _ref("UserId"),
                "by": _ref("UserId"),
                "ts": {"type": "integer", "minimum": 0},
                "until": _ID,
                "reason": {"type": "string"},
                "role": {"enum": list(ROLES)},
            },
            "required": ["id", "room", "action", "user", "by", "ts"],
        },
        "Limits": {
            "type": "object",
            "properties": {name: {"type": "integer", "minimum": 0} for name in _DEFAULTS.to_wire()},
            "required": list(_DEFAULTS.to_wire()),
        },
    }


def _message_fields() -> Schema:
    return {
        "type": "object",
        "properties": {
            "id": _MESSAGE_ID,
            "room": _ref("RoomName"),
            "ts": {"type": "integer", "minimum": 0, "description": "Milliseconds since the epoch."},
            "from": _ref("User"),
            "text": {"type": "string", "description": "Trimmed; empty when deleted."},
            "reply_to": _MESSAGE_ID,
            "meta": _ref("Meta"),
            "edited": {"type": "integer", "minimum": 0, "description": "When, in ms."},
            "deleted": {"const": True},
            "reactions": {
                "type": "object",
                "propertyNames": _ref("Emoji"),
                "additionalProperties": _ref("Reaction"),
                "description": "By emoji, in the order first used.",
            },
        },
        "required": ["id", "room", "ts", "from", "text"],
    }


def _event(kind: str, properties: Schema, required: list[str]) -> Schema:
    return {
        "type": "object",
        "properties": {"type": {"const": kind}, **properties},
        "required": ["type", *required],
    }


def event_schemas() -> dict[str, Schema]:
    """The payload schema of each server event, by frame type."""
    message = _message_fields()
    room = _ref("RoomName")
    user = _ref("User")
    shapes = {
        "welcome": _event(
            "welcome",
            {"user": user, "protocol": {"const": e.PROTOCOL_VERSION}, "limits": _ref("Limits")},
            ["user", "protocol", "limits"],
        ),
        "message": _event("message", message["properties"], message["required"]),
        "message_changed": _event(
            "message_changed",
            {"change": {"enum": list(typing.get_args(ChangeKind))}, "message": _ref("Message")},
            ["change", "message"],
        ),
        "read": _event(
            "read", {"room": room, "user": _ref("UserId"), "id": _ID}, ["room", "user", "id"]
        ),
        "private": _event(
            "private",
            {
                "id": _PRIVATE_ID,
                "ts": {"type": "integer", "minimum": 0},
                "from": user,
                "to": user,
                "text": {"type": "string", "minLength": 1},
                "room": room,
            },
            ["id", "ts", "from", "to", "text"],
        ),
        "presence": _event(
            "presence",
            {"room": room, "event": {"enum": _literals(e.PresenceEvent, "event")}, "user": user},
            ["room", "event", "user"],
        ),
        "typing": _event("typing", {"room": room, "user": user}, ["room", "user"]),
        "occupancy": _event(
            "occupancy",
            {"room": room, "count": {"type": "integer", "minimum": 0}},
            ["room", "count"],
        ),
        "status": _event("status", {"user": _ref("UserId"), "online": _FLAG}, ["user", "online"]),
        "room": _event(
            "room",
            {"event": {"enum": _literals(e.RoomEvent, "event")}, "room": _ref("Room")},
            ["event", "room"],
        ),
        "kicked": _event(
            "kicked",
            {"room": room, "by": _ref("UserId"), "reason": {"type": "string"}},
            ["room", "by"],
        ),
        "moderation": _event(
            "moderation",
            {
                "room": room,
                "action": {"enum": list(ACTIONS)},
                "user": _ref("UserId"),
                "by": _ref("UserId"),
                "until": _ID,
                "reason": {"type": "string"},
                "role": {"enum": list(ROLES)},
            },
            ["room", "action", "user", "by"],
        ),
        "ok": {
            **_event("ok", {"ref": FIELDS["ref"]}, ["ref"]),
            "additionalProperties": True,
            "description": "Any command's ok reply; each command's own (reply.*) says its fields.",
        },
        "error": _event(
            "error",
            {
                "code": {"enum": [code.value for code in ErrorCode]},
                "message": {"type": "string"},
                "ref": FIELDS["ref"],
                "field": {"type": "string", "description": "The offending field."},
                "reason": {
                    "type": "string",
                    "description": "The application's code for a rejected message.",
                },
            },
            ["code", "message"],
        ),
    }
    if sorted(shapes) != sorted(EVENTS):
        raise AssertionError("every event class needs a shape")
    return shapes


_CURSOR: Schema = {
    "type": ["string", "null"],
    "description": "The cursor of the next members page (after); null on the last page.",
}


def result_schemas() -> dict[str, Schema]:
    """The ``ok`` reply to each command, by command type: the handlers build its fields as plain
    dicts, so their shape is written down here."""
    room = _ref("Room")
    users = {"type": "array", "items": _ref("User")}
    messages = {"type": "array", "items": _ref("Message")}
    listed = value_schemas()["Room"]
    listed = {
        **listed,
        "properties": {
            **listed["properties"],
            "read": {**_ID, "description": "The user's read mark, in rooms they belong to."},
            "unread": {
                "type": "integer",
                "minimum": 0,
                "description": "Messages after the mark by others, counted up to 100.",
            },
        },
    }
    none: tuple[Schema, list[str]] = ({}, [])
    blocked: tuple[Schema, list[str]] = (
        {"blocked": {"type": "array", "items": _ref("UserId")}},
        ["blocked"],
    )
    results: dict[str, tuple[Schema, list[str]]] = {
        "join": (
            {
                "room": room,
                "members": users,
                "history": messages,
                "gap": _FLAG,
                "read": _ID,
                "seen": {**_ID, "description": "In a direct room: the other user's mark."},
                "role": {"enum": [rank.role for rank in Rank]},
                "moderators": {"type": "array", "items": _ref("UserId")},
                "count": {**_ID, "description": "Users present in the room."},
                "next": _CURSOR,
            },
            ["room", "members", "history", "gap", "read"],
        ),
        "leave": none,
        "send": ({"id": _MESSAGE_ID}, ["id"]),
        "edit": ({"message": _ref("Message")}, ["message"]),
        "delete_message": none,
        "react": none,
        "unreact": none,
        "read": ({"room": _ref("RoomName"), "id": _ID}, ["room", "id"]),
        "send_private": ({"id": _PRIVATE_ID}, ["id"]),
        "typing": none,
        "rooms": ({"rooms": {"type": "array", "items": listed}}, ["rooms"]),
        "create_room": ({"room": room}, ["room"]),
        "update_room": ({"room": room}, ["room"]),
        "delete_room": none,
        "direct": ({"room": room}, ["room"]),
        "members": (
            {"members": users, "count": {**_ID, "description": "Users present."}, "next": _CURSOR},
            ["members", "count", "next"],
        ),
        "history": ({"messages": messages, "more": _FLAG}, ["messages", "more"]),
        "ping": none,
        "set_role": none,
        "kick": none,
        "ban": none,
        "unban": none,
        "mute": none,
        "unmute": none,
        "invite": none,
        "audit": (
            {"entries": {"type": "array", "items": _ref("AuditEntry")}, "more": _FLAG},
            ["entries", "more"],
        ),
        "block": blocked,
        "unblock": blocked,
        "blocks": blocked,
        "watch_users": (
            {"online": {"type": "array", "items": _ref("UserId")}},
            ["online"],
        ),
    }
    if sorted(results) != sorted(COMMANDS):
        raise AssertionError("every command needs the shape of its reply")
    return {
        kind: _event("ok", {"ref": FIELDS["ref"], **fields}, ["ref", *required])
        for kind, (fields, required) in results.items()
    }


def _doc(cls: type) -> str | None:
    doc = cls.__doc__
    if doc is None or doc.startswith(f"{cls.__name__}("):  # attrs' generated docstring
        return None
    return " ".join(doc.split())


def _message(kind: str, payload: str, cls: type) -> Schema:
    message: Schema = {"name": kind, "title": cls.__name__, "payload": _ref(payload)}
    doc = _doc(cls)
    if doc is not None:
        message["summary"] = doc
    return message


def document() -> Schema:
    """The AsyncAPI document of the protocol, as plain data."""
    if sorted(COMMANDS) != sorted(_PARSERS):
        raise AssertionError("COMMANDS must name the class of every parsed frame type")
    schemas = value_schemas()
    for kind, cls in COMMANDS.items():
        schemas[f"command.{kind}"] = _command(kind, cls, schemas)
    for kind, shape in event_schemas().items():
        schemas[f"event.{kind}"] = shape
    for kind, shape in result_schemas().items():
        schemas[f"reply.{kind}"] = shape
    messages: Schema = {}
    for kind, cls in COMMANDS.items():
        messages[f"command.{kind}"] = _message(kind, f"command.{kind}", cls)
    for kind, cls in EVENTS.items():
        messages[f"event.{kind}"] = _message(kind, f"event.{kind}", cls)
    for kind, cls in COMMANDS.items():
        messages[f"reply.{kind}"] = {
            "name": "ok",
            "title": f"{cls.__name__} reply",
            "summary": f"The ok reply to {kind}.",
            "payload": _ref(f"reply.{kind}"),
        }
    channel = "#/channels/socket"
    operations: Schema = {}
    for kind in COMMANDS:
        operations[f"command.{kind}"] = {
            "action": "receive",
            "channel": {"$ref": channel},
            "messages": [{"$ref": f"{channel}/messages/command.{kind}"}],
            "reply": {
                "channel": {"$ref": channel},
                "messages": [
                    {"$ref": f"{channel}/messages/reply.{kind}"},
                    {"$ref": f"{channel}/messages/event.error"},
                ],
            },
        }
    for kind in EVENTS:
        operations[f"event.{kind}"] = {
            "action": "send",
            "channel": {"$ref": channel},
            "messages": [{"$ref": f"{channel}/messages/event.{kind}"}],
        }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "chatcore wire protocol",
            "version": str(e.PROTOCOL_VERSION),
            "description": "Generated by `python -m chatcore.wire.asyncapi` from the command "
            "and event classes; docs/protocol.md is the contract it describes. Every frame is "
            "a text WebSocket frame holding one JSON object with a `type`. A command's reply "
            "is an `ok` or `error` frame carrying its `ref`. Objects may gain fields.",
        },
        "defaultContentType": "application/json",
        "channels": {
            "socket": {
                "address": None,
                "description": "The chat WebSocket, at the route the application mounts "
                "(for example /ws); one per browser tab.",
                "messages": {name: {"$ref": f"#/components/messages/{name}"} for name in messages},
            }
        },
        "operations": operations,
        "components": {"schemas": schemas, "messages": messages},
    }


_PLAIN = re.compile(r"[A-Za-z_$][\w./-]*")
_YAML_WORDS = frozenset({"y", "n", "yes", "no", "on", "off", "true", "false", "null"})


def _scalar(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        if _PLAIN.fullmatch(value) and value.lower() not in _YAML_WORDS:
            return value
        return json.dumps(value)  # ASCII with JSON escapes: a valid YAML double-quoted string
    if isinstance(value, dict):
        return "{}"
    if isinstance(value, list):
        return "[]"
    raise TypeError(f"no YAML for {value!r}")


def _block(value: dict[str, Any] | list[Any], indent: int) -> list[str]:
    pad = "  " * indent
    lines: list[str] = []
    items = value.items() if isinstance(value, dict) else ((None, item) for item in value)
    for key, item in items:
        head = f"{pad}- " if key is None else f"{pad}{_scalar(key)}:"
        if isinstance(item, dict | list) and item:
            inner = _block(item, indent + 1)
            if key is None:
                lines.append(head + inner[0].lstrip())
                lines.extend(inner[1:])
            else:
                lines.append(head)
                lines.extend(inner)
        else:
            lines.append(f"{head}{_scalar(item)}" if key is None else f"{head} {_scalar(item)}")
    return lines


def to_yaml(data: dict[str, Any]) -> str:
    """``data`` (JSON-like: dicts, lists, strings, ints, booleans, None) as block YAML."""
    return (
        "\n".join(
            ["# Generated by `python -m chatcore.wire.asyncapi`: do not edit.", *_block(data, 0)]
        )
        + "\n"
    )


def main(argv: list[str] | None = None) -> None:
    """Write the document to the path in ``argv``, or to stdout."""
    args = sys.argv[1:] if argv is None else argv
    text = to_yaml(document())
    if args:
        with open(args[0], "w", encoding="utf-8") as file:
            file.write(text)
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main()
