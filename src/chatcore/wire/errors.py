"""The exception tree and the WebSocket close codes.

Every error a client can cause is a :class:`ClientError` whose ``code`` is the wire's stable error
code; the runtime turns it into an ``error`` frame and the connection stays open. Misuse of the
library by application code raises :class:`UsageError` instead and never reaches the wire.
"""

from __future__ import annotations

import enum
from typing import Any, ClassVar

__all__ = (
    "BadFrame",
    "Banned",
    "ChatError",
    "ClientError",
    "CloseCode",
    "ErrorCode",
    "Forbidden",
    "InternalError",
    "InvalidField",
    "MessageRejected",
    "Muted",
    "NoSuchMessage",
    "NoSuchRoom",
    "NoSuchUser",
    "NotMember",
    "QuotaExceeded",
    "RateLimited",
    "RecipientUnavailable",
    "ReplyError",
    "RoomExists",
    "TooLarge",
    "Unavailable",
    "UnknownType",
    "UsageError",
)


class CloseCode(enum.IntEnum):
    """WebSocket close codes the server uses."""

    NORMAL = 1000
    GOING_AWAY = 1001
    POLICY_VIOLATION = 1008
    MESSAGE_TOO_BIG = 1009
    INTERNAL_ERROR = 1011
    #: The server is restarting (``chatcore serve`` draining on SIGTERM): reconnect, elsewhere.
    SERVICE_RESTART = 1012
    TRY_AGAIN_LATER = 1013
    UNAUTHORIZED = 4401
    #: The user has as many open connections as ``Limits.connections_per_user`` allows; sent
    #: right after accepting the socket. Like HTTP 429: try again later (after closing one).
    QUOTA_EXCEEDED = 4429


class ErrorCode(enum.StrEnum):
    """The stable ``code`` strings of ``error`` frames."""

    BAD_FRAME = "bad_frame"
    UNKNOWN_TYPE = "unknown_type"
    INVALID_FIELD = "invalid_field"
    TOO_LARGE = "too_large"
    RATE_LIMITED = "rate_limited"
    NO_SUCH_ROOM = "no_such_room"
    ROOM_EXISTS = "room_exists"
    NOT_MEMBER = "not_member"
    FORBIDDEN = "forbidden"
    NO_SUCH_USER = "no_such_user"
    RECIPIENT_UNAVAILABLE = "recipient_unavailable"
    UNAVAILABLE = "unavailable"
    INTERNAL = "internal"
    QUOTA_EXCEEDED = "quota_exceeded"
    NO_SUCH_MESSAGE = "no_such_message"
    BANNED = "banned"
    MUTED = "muted"
    REJECTED = "rejected"


class ChatError(Exception):
    """Root of every exception chatcore raises on purpose."""


class UsageError(ChatError):
    """Application code used the library wrongly (a bug in the caller, not the client)."""


class ClientError(ChatError):
    """A request that cannot be served; becomes an ``error`` frame with :attr:`code`."""

    code: ClassVar[ErrorCode] = ErrorCode.INTERNAL
    default_message: ClassVar[str] = "internal error"

    def __init__(self, message: str | None = None, *, field: str | None = None) -> None:
        self.message = message or self.default_message
        self.field = field
        super().__init__(self.message)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, field={self.field!r})"


class BadFrame(ClientError):
    code = ErrorCode.BAD_FRAME
    default_message = "a frame must be a JSON object in a text frame"


class UnknownType(ClientError):
    code = ErrorCode.UNKNOWN_TYPE
    default_message = "unknown frame type"


class InvalidField(ClientError):
    code = ErrorCode.INVALID_FIELD
    default_message = "a field is missing or invalid"


class TooLarge(ClientError):
    code = ErrorCode.TOO_LARGE
    default_message = "the frame is too large"


class RateLimited(ClientError):
    code = ErrorCode.RATE_LIMITED
    default_message = "too many frames; slow down"


class NoSuchRoom(ClientError):
    code = ErrorCode.NO_SUCH_ROOM
    default_message = "no such room"


class RoomExists(ClientError):
    code = ErrorCode.ROOM_EXISTS
    default_message = "a room with that name exists"


class NotMember(ClientError):
    code = ErrorCode.NOT_MEMBER
    default_message = "join the room first"


class Forbidden(ClientError):
    code = ErrorCode.FORBIDDEN
    default_message = "not allowed"


class NoSuchMessage(ClientError):
    """The message is not in the room (or no longer in its history), was deleted, or is in a
    room the client may not see: all look the same."""

    code = ErrorCode.NO_SUCH_MESSAGE
    default_message = "no such message"


class NoSuchUser(ClientError):
    code = ErrorCode.NO_SUCH_USER
    default_message = "no such user"


class RecipientUnavailable(ClientError):
    code = ErrorCode.RECIPIENT_UNAVAILABLE
    default_message = "the recipient has no open connection"


class QuotaExceeded(ClientError):
    """A per-user quota of :class:`~chatcore.wire.limits.Limits` is used up; the message names it."""

    code = ErrorCode.QUOTA_EXCEEDED
    default_message = "a quota is used up"


class Banned(ClientError):
    """``join`` of a room the user is banned from (until the ban ends)."""

    code = ErrorCode.BANNED
    default_message = "you are banned from this room"


class Muted(ClientError):
    """Writing (``send``, ``edit``, ``react``, ``typing``) in a room the user is muted in."""

    code = ErrorCode.MUTED
    default_message = "you are muted in this room"


class Unavailable(ClientError):
    code = ErrorCode.UNAVAILABLE
    default_message = "a backend is unavailable; try again"


class InternalError(ClientError):
    code = ErrorCode.INTERNAL
    default_message = "internal error"


class MessageRejected(ClientError):
    """The application's message hooks refused a ``send`` or ``edit`` (see :mod:`chatcore.hooks`):
    ``message`` is for the sender to read; ``reason`` is the application's stable slug for its
    rule (``"spam"``), sent as the error frame's ``reason``."""

    code = ErrorCode.REJECTED
    default_message = "the message was refused"

    def __init__(
        self, message: str | None = None, *, reason: str | None = None, field: str | None = None
    ) -> None:
        super().__init__(message, field=field)
        self.reason = reason


class ReplyError(ChatError):
    """A client's request was answered with an ``error`` frame (raised by the Python client
    and by :class:`~chatcore.testing.LocalClient`): ``code`` is its wire code, ``frame`` the
    whole frame."""

    def __init__(self, frame: dict[str, Any]) -> None:
        self.frame = frame
        self.code: str = str(frame.get("code", "internal"))
        self.message: str = str(frame.get("message", ""))
        self.field: str | None = frame.get("field")
        #: The application's code for a ``rejected`` message, when it gave one.
        self.reason: str | None = frame.get("reason")
        super().__init__(f"{self.code}: {self.message}")
