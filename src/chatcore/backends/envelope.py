"""What the broker carries between processes: an encoded frame, who gets it, and what it changes.

A frame is encoded once, where the event happens; every process hands the same text to its
local recipients. Beside the frame an envelope carries typed facts, so that no backend reads
or writes frame JSON (:mod:`chatcore.wire.protocol` is its one owner): the id of the room message
it carries (a broker that orders a room's messages reads it there) and an effect. Effects
change local state (a deleted room's members, a changed user name) in every process that
holds affected connections.
"""

from __future__ import annotations

from typing import Literal

import attrs

from ..wire.errors import CloseCode
from ..wire.events import MessageChanged, MessageEvent, PresenceEvent, StatusEvent
from ..wire.protocol import encode
from ..wire.values import ROOM_LIST_CHANNEL, ChangeKind, Message, User
from .store import Change

__all__ = (
    "Departed",
    "Effect",
    "Envelope",
    "LinkLost",
    "LinkRestored",
    "Moderated",
    "RoomRemoved",
    "Target",
    "ToRoom",
    "ToRoomList",
    "ToUser",
    "ToWatchers",
    "UserChanged",
    "UserKicked",
)


@attrs.frozen
class ToRoom:
    """Every local connection in ``room``, but those of ``exclude_user``."""

    room: str
    exclude_user: str | None = None

    @property
    def channel(self) -> str:
        return f"room:{self.room}"


@attrs.frozen
class ToUser:
    """Every local connection of one user."""

    user_id: str

    @property
    def channel(self) -> str:
        return f"user:{self.user_id}"


@attrs.frozen
class ToRoomList:
    """Connections watching the room list, and those in ``room``, each once."""

    room: str

    @property
    def channel(self) -> str:
        return ROOM_LIST_CHANNEL


@attrs.frozen
class ToWatchers:
    """Every local connection watching the online status of one user (``watch_users``)."""

    user_id: str

    @property
    def channel(self) -> str:
        return f"status:{self.user_id}"


Target = ToRoom | ToUser | ToRoomList | ToWatchers


@attrs.frozen
class RoomRemoved:
    """The room is gone: drop its local members without ``leave`` notices."""

    room: str


@attrs.frozen
class UserChanged:
    """The user's name or avatar changed: later frames must show the new one."""

    user: User


@attrs.frozen
class UserKicked:
    """Close every local connection of the target user (for example on logout)."""

    code: CloseCode


@attrs.frozen
class Departed:
    """Users left ``room`` without a local connection leaving (their process died): a room
    that vanishes with its last member may have to go. A broker delivers it to its own process
    only. ``users`` are those who left, for that process to announce: one ``presence`` leave
    each in a room that was within ``presence_limit``, an ``occupancy`` count in a larger one
    (empty: the broker announced the leaves itself)."""

    room: str
    users: tuple[User, ...] = ()


@attrs.frozen
class Moderated:
    """The target user was put out of ``room`` (``action`` ``kick`` or ``ban``: their local
    connections leave it), or muted in it until ``until`` (``mute``; None: for ever), or no
    longer (``unmute``)."""

    room: str
    action: Literal["kick", "ban", "mute", "unmute"]
    until: int | None = None


@attrs.frozen
class LinkLost:
    """The broker's link broke: envelopes published from now on may not reach this process
    until :class:`LinkRestored`. A broker delivers it to its own process only, once per loss
    (target ``ToRoomList("")``, no frame; see :meth:`Envelope.link`)."""


@attrs.frozen
class LinkRestored:
    """Every subscription is confirmed again after a :class:`LinkLost`: what is published from
    now on arrives, and the runtime fills each room's gap from the store."""


Effect = RoomRemoved | UserChanged | UserKicked | Departed | Moderated | LinkLost | LinkRestored


@attrs.frozen
class Envelope:
    target: Target
    frame: str | None = None
    ephemeral: bool = False
    effect: Effect | None = None
    #: The id of the room ``message`` event in ``frame``; None for any other frame.
    message_id: int | None = None
    #: For a ``message_changed`` event: the room's newest message id when the change was made.
    #: A broker that orders messages publishes it after that message (it must not overtake it).
    after: int | None = None
    #: For a ``message_changed`` event: (message id, version) of the state it carries. A broker
    #: may drop a change older than one it has already sent for that message.
    version: tuple[int, int] | None = None

    @classmethod
    def link(cls, lost: bool) -> Envelope:
        """The notice a broker delivers to its own process when its link breaks (``lost``)
        and when its subscriptions are back (see :class:`LinkLost`)."""
        return cls(ToRoomList(""), None, effect=LinkLost() if lost else LinkRestored())

    @classmethod
    def message(cls, message: Message) -> Envelope:
        """``message``'s ``message`` event, to its room."""
        return cls(
            ToRoom(message.room), encode(MessageEvent(message=message)), message_id=message.id
        )

    @classmethod
    def changed(cls, change: Change) -> Envelope:
        """The ``message_changed`` event of a change, to its room."""
        return cls.change_of(change.kind, change.message, change.after)

    @classmethod
    def change_of(cls, kind: ChangeKind, message: Message, after: int) -> Envelope:
        frame = encode(MessageChanged(change=kind, message=message))
        return cls(ToRoom(message.room), frame, after=after, version=(message.id, message.version))

    @classmethod
    def presence(cls, room: str, event: Literal["join", "leave", "update"], user: User) -> Envelope:
        """A ``presence`` event, to the room."""
        return cls(ToRoom(room), encode(PresenceEvent(room=room, event=event, user=user)))

    @classmethod
    def status(cls, user_id: str, online: bool) -> Envelope:
        """A ``status`` event, to the user's watchers."""
        return cls(ToWatchers(user_id), encode(StatusEvent(user=user_id, online=online)))
