"""Server events: one frozen class per frame ``type`` the server sends.

Each knows its wire form (:meth:`to_wire`); :func:`chatcore.wire.protocol.encode` turns it into text.
"""

from __future__ import annotations

from typing import Any, Literal

import attrs

from .commands import Ref
from .errors import ClientError
from .moderation import AuditEntry
from .values import ChangeKind, Message, Room, User

__all__ = (
    "PROTOCOL_VERSION",
    "ErrorReply",
    "Event",
    "KickedEvent",
    "MessageChanged",
    "MessageEvent",
    "ModerationEvent",
    "OccupancyEvent",
    "OkReply",
    "PresenceEvent",
    "PrivateEvent",
    "ReadEvent",
    "RoomEvent",
    "StatusEvent",
    "TypingEvent",
    "Welcome",
)

PROTOCOL_VERSION = 1


@attrs.frozen(kw_only=True)
class Welcome:
    user: User
    limits: dict[str, int]

    def to_wire(self) -> dict[str, Any]:
        return {
            "type": "welcome",
            "user": self.user.to_wire(),
            "protocol": PROTOCOL_VERSION,
            "limits": self.limits,
        }


@attrs.frozen(kw_only=True)
class MessageEvent:
    message: Message

    def to_wire(self) -> dict[str, Any]:
        return {"type": "message", **self.message.to_wire()}


@attrs.frozen(kw_only=True)
class MessageChanged:
    """A message of the room was edited, deleted, or its reactions changed; ``message`` is
    its state after the change."""

    change: ChangeKind
    message: Message

    def to_wire(self) -> dict[str, Any]:
        return {"type": "message_changed", "change": self.change, "message": self.message.to_wire()}


@attrs.frozen(kw_only=True)
class ReadEvent:
    """``user`` has read ``room`` up to message ``id``."""

    room: str
    user: str
    id: int

    def to_wire(self) -> dict[str, Any]:
        return {"type": "read", "room": self.room, "user": self.user, "id": self.id}


@attrs.frozen(kw_only=True)
class PrivateEvent:
    id: int
    ts: int
    sender: User
    to: User
    text: str
    room: str | None = None

    def to_wire(self) -> dict[str, Any]:
        wire: dict[str, Any] = {
            "type": "private",
            "id": self.id,
            "ts": self.ts,
            "from": self.sender.to_wire(),
            "to": self.to.to_wire(),
            "text": self.text,
        }
        if self.room is not None:
            wire["room"] = self.room
        return wire


@attrs.frozen(kw_only=True)
class PresenceEvent:
    room: str
    event: Literal["join", "leave", "update"]
    user: User

    def to_wire(self) -> dict[str, Any]:
        return {
            "type": "presence",
            "room": self.room,
            "event": self.event,
            "user": self.user.to_wire(),
        }


@attrs.frozen(kw_only=True)
class OccupancyEvent:
    """A large room's count of present members (instead of per-user ``presence``)."""

    room: str
    count: int

    def to_wire(self) -> dict[str, Any]:
        return {"type": "occupancy", "room": self.room, "count": self.count}


@attrs.frozen(kw_only=True)
class StatusEvent:
    """A watched user came online or went offline."""

    user: str
    online: bool

    def to_wire(self) -> dict[str, Any]:
        return {"type": "status", "user": self.user, "online": self.online}


@attrs.frozen(kw_only=True)
class TypingEvent:
    room: str
    user: User

    def to_wire(self) -> dict[str, Any]:
        return {"type": "typing", "room": self.room, "user": self.user.to_wire()}


@attrs.frozen(kw_only=True)
class RoomEvent:
    event: Literal["created", "updated", "deleted"]
    room: Room
    members: int = 0

    def to_wire(self) -> dict[str, Any]:
        return {"type": "room", "event": self.event, "room": self.room.to_wire(self.members)}


@attrs.frozen(kw_only=True)
class KickedEvent:
    """The user was put out of ``room`` (kicked or banned) by user ``by``."""

    room: str
    by: str
    reason: str | None = None

    def to_wire(self) -> dict[str, Any]:
        wire: dict[str, Any] = {"type": "kicked", "room": self.room, "by": self.by}
        if self.reason is not None:
            wire["reason"] = self.reason
        return wire


@attrs.frozen(kw_only=True)
class ModerationEvent:
    """A moderation action (the audit log's ``entry``), for the room's owner, its moderators
    and the user concerned: the entry's fields but its ``id`` and ``ts``."""

    entry: AuditEntry

    def to_wire(self) -> dict[str, Any]:
        wire = self.entry.to_wire()
        del wire["id"], wire["ts"]
        return {"type": "moderation", **wire}


@attrs.frozen(kw_only=True)
class OkReply:
    ref: Ref
    result: dict[str, Any] = attrs.field(factory=dict)

    def to_wire(self) -> dict[str, Any]:
        return {"type": "ok", "ref": self.ref, **self.result}


@attrs.frozen(kw_only=True)
class ErrorReply:
    code: str
    message: str
    ref: Ref = None
    field: str | None = None
    #: The application's code for a ``rejected`` message (``MessageRejected.reason``).
    reason: str | None = None

    @classmethod
    def from_error(cls, error: ClientError, ref: Ref = None) -> ErrorReply:
        reason = getattr(error, "reason", None)
        return cls(
            code=error.code.value, message=error.message, ref=ref, field=error.field, reason=reason
        )

    def to_wire(self) -> dict[str, Any]:
        wire: dict[str, Any] = {"type": "error", "code": self.code, "message": self.message}
        if self.ref is not None:
            wire["ref"] = self.ref
        if self.field is not None:
            wire["field"] = self.field
        if self.reason is not None:
            wire["reason"] = self.reason
        return wire


Event = (
    Welcome
    | MessageEvent
    | MessageChanged
    | ReadEvent
    | PrivateEvent
    | PresenceEvent
    | TypingEvent
    | RoomEvent
    | KickedEvent
    | ModerationEvent
    | OccupancyEvent
    | StatusEvent
    | OkReply
    | ErrorReply
)
