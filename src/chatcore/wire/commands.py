"""Client commands: one frozen class per frame ``type`` a client may send.

:mod:`chatcore.wire.protocol` builds them from frames; fields are already checked when a command
exists. ``ref`` is the client's correlation value, echoed in the reply.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

__all__ = (
    "Audit",
    "Ban",
    "Block",
    "Blocks",
    "Command",
    "CreateRoom",
    "DeleteMessage",
    "DeleteRoom",
    "Direct",
    "Edit",
    "History",
    "Invite",
    "Join",
    "Kick",
    "Leave",
    "ListRooms",
    "Members",
    "Mute",
    "Ping",
    "React",
    "Read",
    "Ref",
    "Send",
    "SendPrivate",
    "SetRole",
    "Typing",
    "Unban",
    "Unblock",
    "Unmute",
    "Unreact",
    "UpdateRoom",
    "WatchUsers",
)

Ref = str | int | None


@attrs.frozen(kw_only=True)
class Join:
    room: str
    since: int | None = None
    ref: Ref = None


@attrs.frozen(kw_only=True)
class Leave:
    room: str
    ref: Ref = None


@attrs.frozen(kw_only=True)
class Send:
    room: str
    text: str
    client_id: str | None = None
    reply_to: int | None = None
    meta: Mapping[str, Any] | None = attrs.field(default=None, hash=False)
    ref: Ref = None


@attrs.frozen(kw_only=True)
class Edit:
    room: str
    id: int
    text: str
    meta: Mapping[str, Any] | None = attrs.field(default=None, hash=False)
    ref: Ref = None


@attrs.frozen(kw_only=True)
class DeleteMessage:
    room: str
    id: int
    ref: Ref = None


@attrs.frozen(kw_only=True)
class React:
    room: str
    id: int
    emoji: str
    ref: Ref = None


@attrs.frozen(kw_only=True)
class Unreact:
    room: str
    id: int
    emoji: str
    ref: Ref = None


@attrs.frozen(kw_only=True)
class Read:
    """Mark ``room`` read up to message ``id``."""

    room: str
    id: int
    ref: Ref = None


@attrs.frozen(kw_only=True)
class SendPrivate:
    to: str
    text: str
    room: str | None = None
    ref: Ref = None


@attrs.frozen(kw_only=True)
class Typing:
    room: str
    ref: Ref = None


@attrs.frozen(kw_only=True)
class ListRooms:
    watch: bool | None = None
    unread: bool | None = None
    ref: Ref = None


@attrs.frozen(kw_only=True)
class CreateRoom:
    room: str
    title: str | None = None
    private: bool | None = None
    ref: Ref = None


@attrs.frozen(kw_only=True)
class UpdateRoom:
    """Rename the room, or make it private or public (at least one of the two)."""

    room: str
    title: str | None = None
    private: bool | None = None
    ref: Ref = None


@attrs.frozen(kw_only=True)
class DeleteRoom:
    room: str
    ref: Ref = None


@attrs.frozen(kw_only=True)
class Direct:
    to: str
    ref: Ref = None


@attrs.frozen(kw_only=True)
class Members:
    room: str
    ref: Ref = None
    #: A page: after the cursor ``after`` (a ``next``), at most ``limit``, names starting with
    #: ``query`` (docs/protocol.md, "Large rooms").
    after: str | None = None
    limit: int | None = None
    query: str | None = None


@attrs.frozen(kw_only=True)
class WatchUsers:
    """Watch the online status of ``users`` (replacing the connection's list)."""

    users: tuple[str, ...]
    ref: Ref = None


@attrs.frozen(kw_only=True)
class History:
    room: str
    before: int | None = None
    limit: int | None = None
    ref: Ref = None


@attrs.frozen(kw_only=True)
class Ping:
    ref: Ref = None


# moderation (docs/protocol.md, "Moderation")


@attrs.frozen(kw_only=True)
class SetRole:
    room: str
    user: str
    role: str  # "moderator" or "member"
    ref: Ref = None


@attrs.frozen(kw_only=True)
class Kick:
    room: str
    user: str
    reason: str | None = None
    ref: Ref = None


@attrs.frozen(kw_only=True)
class Ban:
    room: str
    user: str
    until: int | None = None
    reason: str | None = None
    ref: Ref = None


@attrs.frozen(kw_only=True)
class Unban:
    room: str
    user: str
    ref: Ref = None


@attrs.frozen(kw_only=True)
class Mute:
    room: str
    user: str
    until: int | None = None
    reason: str | None = None
    ref: Ref = None


@attrs.frozen(kw_only=True)
class Unmute:
    room: str
    user: str
    ref: Ref = None


@attrs.frozen(kw_only=True)
class Invite:
    room: str
    user: str
    ref: Ref = None


@attrs.frozen(kw_only=True)
class Audit:
    """The room's moderation log, newest first."""

    room: str
    before: int | None = None
    limit: int | None = None
    ref: Ref = None


@attrs.frozen(kw_only=True)
class Block:
    user: str
    ref: Ref = None


@attrs.frozen(kw_only=True)
class Unblock:
    user: str
    ref: Ref = None


@attrs.frozen(kw_only=True)
class Blocks:
    ref: Ref = None


Command = (
    Join
    | Leave
    | Send
    | SendPrivate
    | Typing
    | ListRooms
    | CreateRoom
    | UpdateRoom
    | DeleteRoom
    | Direct
    | Members
    | History
    | Ping
    | Edit
    | DeleteMessage
    | React
    | Unreact
    | Read
    | SetRole
    | Kick
    | Ban
    | Unban
    | Mute
    | Unmute
    | Invite
    | Audit
    | Block
    | Unblock
    | Blocks
    | WatchUsers
)
