"""The values of the chat: users, rooms and messages.

They are frozen and checked at construction, so a value that exists is valid. The checks that
client input must pass (room slugs, titles, text, client ids: docs/protocol.md, "Values") live
here too, as plain functions that raise :class:`~chatcore.wire.errors.InvalidField`. They admit only
what every store can keep exactly (PostgreSQL refuses NUL; the ORM's ``client_id`` column has
100 characters), so a store never refuses a value the protocol let through.
"""

from __future__ import annotations

import enum
import hashlib
import json
import re
import unicodedata
from collections.abc import Mapping
from typing import Any, Literal

import attrs

from .errors import InvalidField

__all__ = (
    "DIRECT_PREFIX",
    "MAX_CLIENT_ID",
    "MAX_EMOJI",
    "MAX_META",
    "MAX_ROOM_NAME",
    "MAX_TEXT",
    "MAX_TITLE",
    "REACTION_USERS_SHOWN",
    "ROOM_LIST_CHANNEL",
    "ROOM_NAME_PATTERN",
    "ChangeKind",
    "Message",
    "Reaction",
    "Room",
    "RoomKind",
    "User",
    "check_client_id",
    "check_emoji",
    "check_meta",
    "check_room_name",
    "check_text",
    "check_title",
    "direct_room_name",
    "direct_room_title",
    "has_visible",
    "neutral_line",
)

MAX_ROOM_NAME = 64
MAX_TITLE = 100
MAX_TEXT = 4000
MAX_CLIENT_ID = 100
#: Largest ``meta`` object, in bytes of compact UTF-8 JSON.
MAX_META = 2048
#: Longest reaction emoji, in characters.
MAX_EMOJI = 32
#: A reaction's wire form lists at most this many of its users (the first ones).
REACTION_USERS_SHOWN = 25
#: A room name (a slug), as a regular expression: also for URL patterns that take one.
ROOM_NAME_PATTERN = r"[a-z0-9][a-z0-9_.\-]{0,63}"
#: Direct rooms are named this and a hash; group room names may not start with it.
DIRECT_PREFIX = "dm-"
#: The broker channel of room list changes (``rooms`` with ``watch``).
ROOM_LIST_CHANNEL = "rooms"
_ROOM_NAME = re.compile(ROOM_NAME_PATTERN)
# C0 and C1 control characters, and DEL; text keeps tab and line feed.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_TEXT_REFUSED = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# Titles are one line, and must not reorder what is shown after them: no line or paragraph
# separators, no bidi embeddings and overrides (U+202A-202E) or isolates (U+2066-2069).
_TITLE_REFUSED = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zs", "Zl", "Zp"})
# Unicode's Default_Ignorable_Code_Point (DerivedCoreProperties.txt: zero-width characters,
# variation selectors, fillers, tags), and the blank braille pattern, which shows nothing either.
_IGNORABLE = re.compile(
    "[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e"
    "\u2060-\u206f\u2800\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff0-\ufff8"
    "\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0000-\U000e0fff]"
)


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
    """Return the trimmed title: 1-100 characters on one line, at least one of them visible,
    with no control characters and no bidi embeddings, overrides or isolates."""
    if not isinstance(value, str):
        raise InvalidField("the title must be a string", field=field)
    _check_encodable(value, field)
    bad = _TITLE_REFUSED.search(value)
    if bad is not None:
        raise InvalidField(f"a title may not contain {_name(bad.group())}", field=field)
    title = value.strip()
    if not 1 <= len(title) <= MAX_TITLE:
        raise InvalidField(f"a title has 1-{MAX_TITLE} characters", field=field)
    if not has_visible(title):
        raise InvalidField("a title needs at least one visible character", field=field)
    return title


def check_text(value: object, max_length: int = MAX_TEXT, field: str = "text") -> str:
    """Return the trimmed text, line breaks as ``\\n``, if it has 1-``max_length`` characters,
    at least one of them visible, and no control characters but tab and line feed."""
    if not isinstance(value, str):
        raise InvalidField("the text must be a string", field=field)
    if "\r" in value:
        value = value.replace("\r\n", "\n").replace("\r", "\n")
    # (Once per message: a printable text, the usual case, has no control character nor lone
    # surrogate, and str.isprintable says so much faster than the scans.)
    if not value.isprintable():
        _check_encodable(value, field)
        bad = _TEXT_REFUSED.search(value)
        if bad is not None:
            raise InvalidField(f"the text may not contain {_name(bad.group())}", field=field)
    text = value.strip()
    if not text:
        raise InvalidField("the text is empty", field=field)
    if len(text) > max_length:
        raise InvalidField(f"the text is longer than {max_length} characters", field=field)
    if not has_visible(text):
        raise InvalidField("the text needs at least one visible character", field=field)
    return text


def check_client_id(value: object, field: str = "client_id") -> str:
    """Return ``value`` if it is a client's message key: 1-100 characters, no control ones."""
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_CLIENT_ID:
        raise InvalidField(f"a client_id is a string of 1-{MAX_CLIENT_ID} characters", field=field)
    _check_encodable(value, field)
    bad = _CONTROL.search(value)
    if bad is not None:
        raise InvalidField(f"a client_id may not contain {_name(bad.group())}", field=field)
    return value


_meta_encoder = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), allow_nan=False, check_circular=True
)


def check_meta(value: object, field: str = "meta") -> dict[str, Any]:
    """Return ``value`` if it is an app's ``meta``: a JSON object of at most :data:`MAX_META`
    bytes encoded, with no NaN or infinity (JavaScript cannot read them), no lone surrogate and
    no U+0000 (PostgreSQL's JSON refuses it)."""
    if not isinstance(value, dict):
        raise InvalidField("'meta' must be a JSON object", field=field)
    try:
        text = _meta_encoder.encode(value)
    except (TypeError, ValueError, RecursionError):
        raise InvalidField("'meta' must be plain JSON (no NaN or infinity)", field=field) from None
    _check_encodable(text, field)
    if "\\u0000" in text or "\x00" in text:
        raise InvalidField("'meta' may not contain U+0000", field=field)
    if len(text.encode()) > MAX_META:
        raise InvalidField(f"'meta' is at most {MAX_META} bytes of JSON", field=field)
    return value


def check_emoji(value: object, field: str = "emoji") -> str:
    """Return ``value`` if it is a reaction: 1-32 characters, visible, with no whitespace and
    no control character (any short text: an emoji, or a ``:shortcode:``)."""
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_EMOJI:
        raise InvalidField(f"an emoji is a string of 1-{MAX_EMOJI} characters", field=field)
    _check_encodable(value, field)
    if any(char.isspace() for char in value) or _TITLE_REFUSED.search(value) is not None:
        raise InvalidField("an emoji may not contain whitespace or control characters", field=field)
    if not has_visible(value):
        raise InvalidField("an emoji needs a visible character", field=field)
    return value


def has_visible(text: str) -> bool:
    """Whether ``text`` has a character that shows: not whitespace, not a control or format
    character, not one that Unicode says to ignore (zero-width, variation selectors, fillers)."""
    first = text[:1]
    if first.isascii() and first > " " and first != "\x7f":
        return True  # the usual case, at once
    return any(map(_visible, text))


def neutral_line(text: str, max_length: int = MAX_TITLE) -> str:
    """``text`` (a name from the application, say) made fit for a title: control characters
    and bidi embeddings, overrides and isolates dropped, clipped to ``max_length`` characters."""
    line = _TITLE_REFUSED.sub("", text.encode("utf-8", "replace").decode("utf-8")).strip()
    return line[:max_length].rstrip()


def _visible(char: str) -> bool:
    if char.isascii():
        return char > " " and char != "\x7f"
    if char.isspace() or unicodedata.category(char) in _INVISIBLE_CATEGORIES:
        return False
    return _IGNORABLE.match(char) is None


def _check_encodable(value: str, field: str) -> None:
    """Refuse lone surrogates: no store can keep them and no client can show them."""
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidField(f"'{field}' is not valid text", field=field) from None


def _name(char: str) -> str:
    """``U+200B (ZERO WIDTH SPACE)``: how an error names a character it cannot show."""
    name = unicodedata.name(char, "")
    return f"U+{ord(char):04X} ({name})" if name else f"U+{ord(char):04X}"


def direct_room_name(a: str, b: str) -> str:
    """The server's name for the direct room of users ``a`` and ``b`` (order does not matter)."""
    low, high = sorted((a, b))
    digest = hashlib.blake2b(f"{low}\x00{high}".encode(), digest_size=10).hexdigest()
    return f"{DIRECT_PREFIX}{digest}"


def direct_room_title(a: User, b: User) -> str:
    """The title of the direct room of ``a`` and ``b``, from their names as the app gives them."""
    half = (MAX_TITLE - 3) // 2
    return f"{_shown_name(a, half)} & {_shown_name(b, half)}"


def _shown_name(user: User, max_length: int) -> str:
    name = neutral_line(user.name, max_length)
    return name if has_visible(name) else neutral_line(user.id, max_length) or "?"


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
    """A room. ``users`` names the two participants of a direct room, the invited users of a
    private one (its owner first), and is empty otherwise."""

    name: str = attrs.field(validator=lambda _i, _a, v: check_room_name(v))
    title: str
    owner: str | None = None
    kind: RoomKind = RoomKind.GROUP
    users: tuple[str, ...] = ()
    auto: bool = False
    private: bool = False

    @property
    def is_direct(self) -> bool:
        return self.kind is RoomKind.DIRECT

    def visible_to(self, user_id: str) -> bool:
        """Whether ``user_id`` may see, join and read this room at all (before any policy)."""
        if self.private:
            return user_id == self.owner or user_id in self.users
        return not self.is_direct or user_id in self.users

    def to_wire(self, members: int) -> dict[str, Any]:
        wire: dict[str, Any] = {
            "name": self.name,
            "title": self.title,
            "owner": self.owner,
            "members": members,
            "kind": self.kind.value,
            "private": self.private,
        }
        if self.is_direct:
            wire["users"] = list(self.users)
        return wire


@attrs.frozen
class Reaction:
    """One emoji on a message, and everyone who reacted with it, first ones first."""

    emoji: str
    users: tuple[str, ...]

    def to_wire(self) -> dict[str, Any]:
        return {"count": len(self.users), "users": list(self.users[:REACTION_USERS_SHOWN])}


#: How a message changed (``message_changed``'s ``change``).
ChangeKind = Literal["edited", "deleted", "reactions"]


@attrs.frozen(kw_only=True)
class Message:
    """A message in a room's history; ``id`` grows by one per room.

    ``meta`` is the app's JSON object (treat it as read-only); ``edited`` is when the text last
    changed (ms); a deleted message keeps its id and place with no text, meta or reactions.
    ``version`` counts the changes made to it (stores compare it to change it safely); it is
    not sent to clients.
    """

    id: int
    room: str
    ts: int
    sender: User
    text: str
    client_id: str | None = None
    reply_to: int | None = None
    meta: Mapping[str, Any] | None = attrs.field(default=None, hash=False)
    edited: int | None = None
    deleted: bool = False
    reactions: tuple[Reaction, ...] = ()
    version: int = 0

    def to_wire(self) -> dict[str, Any]:
        wire: dict[str, Any] = {
            "id": self.id,
            "room": self.room,
            "ts": self.ts,
            "from": self.sender.to_wire(),
            "text": self.text,
        }
        if self.reply_to is not None:
            wire["reply_to"] = self.reply_to
        if self.meta is not None:
            wire["meta"] = self.meta
        if self.edited is not None:
            wire["edited"] = self.edited
        if self.deleted:
            wire["deleted"] = True
        if self.reactions:
            wire["reactions"] = {r.emoji: r.to_wire() for r in self.reactions}
        return wire

    def reaction(self, emoji: str) -> Reaction | None:
        for reaction in self.reactions:
            if reaction.emoji == emoji:
                return reaction
        return None
