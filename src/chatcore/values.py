"""The values of the chat: users, rooms and messages.

They are frozen and checked at construction, so a value that exists is valid. The checks that
client input must pass (room slugs, title and text lengths) live here too, as plain functions
that raise :class:`~chatcore.errors.InvalidField`.
"""

from __future__ import annotations

import enum
import hashlib
import re
from typing import Any

import attrs

from .errors import InvalidField

__all__ = (
    "MAX_ROOM_NAME",
    "MAX_TEXT",
    "MAX_TITLE",
    "Message",
    "Room",
    "RoomKind",
    "User",
    "check_room_name",
    "check_text",
    "check_title",
    "direct_room_name",
)

MAX_ROOM_NAME = 64
MAX_TITLE = 100
MAX_TEXT = 4000
_ROOM_NAME = re.compile(r"[a-z0-9][a-z0-9_.\-]{0,63}")


class RoomKind(enum.StrEnum):
    GROUP = "group"
    DIRECT = "direct"


def check_room_name(value: object, field: str = "room") -> str:
    """Return ``value`` if it is a room slug: 1-64 of ``a-z 0-9 _ - .``, starting alphanumeric."""
    if not isinstance(value, str) or _ROOM_NAME.fullmatch(value) is None:
        raise InvalidField(
            "a room name is 1-64 characters of a-z, 0-9, '_', '-', '.', starting with a letter or digit",
            field=field,
        )
    return value


def check_title(value: object, field: str = "title") -> str:
    """Return the trimmed title if it has 1-100 characters."""
    if not isinstance(value, str):
        raise InvalidField("the title must be a string", field=field)
    title = value.strip()
    if not 1 <= len(title) <= MAX_TITLE:
        raise InvalidField(f"a title has 1-{MAX_TITLE} characters", field=field)
    return title


def check_text(value: object, max_length: int = MAX_TEXT, field: str = "text") -> str:
    """Return the trimmed text if it has 1-``max_length`` characters."""
    if not isinstance(value, str):
        raise InvalidField("the text must be a string", field=field)
    text = value.strip()
    if not text:
        raise InvalidField("the text is empty", field=field)
    if len(text) > max_length:
        raise InvalidField(f"the text is longer than {max_length} characters", field=field)
    return text


def direct_room_name(a: str, b: str) -> str:
    """The server's name for the direct room of users ``a`` and ``b`` (order does not matter)."""
    low, high = sorted((a, b))
    digest = hashlib.blake2b(f"{low}\x00{high}".encode(), digest_size=10).hexdigest()
    return f"dm-{digest}"


def _is_str(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{attribute.name} must be a non-empty string, not {value!r}")


@attrs.frozen(kw_only=True)
class User:
    """A person as the chat shows them. ``id`` always comes from the server's authentication."""

    id: str = attrs.field(validator=_is_str)
    name: str = attrs.field(validator=_is_str)
    avatar: str | None = None

    def to_wire(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "avatar": self.avatar}


@attrs.frozen(kw_only=True)
class Room:
    """A room. ``users`` names the two participants of a direct room and is empty otherwise."""

    name: str = attrs.field(validator=lambda _i, _a, v: check_room_name(v))
    title: str
    owner: str | None = None
    kind: RoomKind = RoomKind.GROUP
    users: tuple[str, ...] = ()
    auto: bool = False

    @property
    def is_direct(self) -> bool:
        return self.kind is RoomKind.DIRECT

    def visible_to(self, user_id: str) -> bool:
        """Whether ``user_id`` may see, join and read this room at all (before any policy)."""
        return not self.is_direct or user_id in self.users

    def to_wire(self, members: int) -> dict[str, Any]:
        wire: dict[str, Any] = {
            "name": self.name,
            "title": self.title,
            "owner": self.owner,
            "members": members,
            "kind": self.kind.value,
        }
        if self.is_direct:
            wire["users"] = list(self.users)
        return wire


@attrs.frozen(kw_only=True)
class Message:
    """A message in a room's history; ``id`` grows by one per room."""

    id: int
    room: str
    ts: int
    sender: User
    text: str
    client_id: str | None = None

    def to_wire(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "room": self.room,
            "ts": self.ts,
            "from": self.sender.to_wire(),
            "text": self.text,
        }
