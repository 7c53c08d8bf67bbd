"""Wire protocol v1: text frame to command, event to text frame.

This is the only module that reads client JSON or turns events into frames (their text comes
from :mod:`~chatcore.wire._json`). :func:`decode` never raises on client
input: it returns a command, or a :class:`Rejected` carrying the error and the frame's ``ref``
where one could be read. A backend that must write a frame whose message id it learns only
later (the Redis store takes the id inside a script) gets it as a :class:`FrameTemplate`.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any

import attrs

from . import commands as c
from ._json import dumps, dumps_with_raw
from .errors import BadFrame, ClientError, InvalidField, TooLarge, UnknownType
from .events import Event, MessageEvent
from .moderation import ROLES, check_reason
from .values import (
    MAX_EMOJI,
    Message,
    check_client_id,
    check_meta,
    check_room_name,
    check_title,
)

__all__ = (
    "MAX_CURSOR",
    "MAX_DEPTH",
    "MAX_QUERY",
    "MAX_REF",
    "FrameTemplate",
    "Rejected",
    "decode",
    "encode",
    "frame_size",
    "message_template",
    "wire_size",
)

MAX_REF = 128
#: Longest ``members`` ``query`` (a name prefix), and ``after`` (a cursor: a name and an id).
MAX_QUERY = 64
MAX_CURSOR = 1_024
MAX_DEPTH = 500
"""How deeply a frame may nest arrays and objects. json's own limit is Python's recursion limit,
which differs between versions (3.13 reads 3,000 levels that 3.11 refuses); this one is the same
everywhere and leaves room for every later encode and decode (and Redis's cjson, 1,000)."""
_MAX_ID = 2**53 - 1  # ids and counts stay exact in JavaScript numbers
_MAX_USER_ID = 256


def encode(event: Event) -> str:
    """The text frame of ``event``."""
    return dumps_with_raw(event.to_wire())


@attrs.frozen
class FrameTemplate:
    """A frame whose id is not known yet: its text is ``str(id).join(parts)``.

    ``parts`` is the text around each place the id goes, so a script that learns the id can
    fill it in with no JSON of its own (Lua: ``table.concat(parts, id)``)."""

    parts: tuple[str, ...]

    def fill(self, id: int) -> str:
        """The frame with ``id`` in place."""
        return str(id).join(self.parts)


def message_template(message: Message) -> FrameTemplate:
    """The ``message`` frame of ``message`` with its id left open: filled with ``n``, it is
    ``encode(MessageEvent(message))`` for that message with id ``n`` (``message.id`` is
    ignored)."""
    wire = MessageEvent(message=message).to_wire()
    if wire["id"] != 0:
        wire["id"] = 0
    text = dumps(wire)
    # The items before the id encode as the frame starts (JSON writes a dict's items in
    # order), so the id's 0 stands right after them and '"id":'.
    items = []
    for item in wire.items():
        if item[0] == "id":
            break
        items.append(item)
    head = tuple(items)
    try:
        start = _id_start(head)
    except TypeError:  # an unhashable value before the id
        start = _id_start.__wrapped__(head)
    if text[start - 5 : start + 1] != '"id":0':
        raise AssertionError(f"cannot place the id in {text[:80]!r}")
    return FrameTemplate((text[:start], text[start + 1 :]))


@functools.lru_cache(maxsize=64)
def _id_start(head: tuple[tuple[str, Any], ...]) -> int:
    """Where a frame's id value starts, after the items ``head`` (the same for every message
    frame: encoding them again for each message would cost more than the frame itself)."""
    before = dumps(dict(head)) if head else "{}"
    return len(before) - 1 + (1 if head else 0) + len('"id":')


@attrs.frozen
class Rejected:
    """A frame that is not a valid command: reply with ``error``, echoing ``ref`` if any."""

    error: ClientError
    ref: c.Ref = None


def wire_size(value: object) -> int:
    """Bytes that ``value`` (a wire value such as ``Message.to_wire()``) takes in a frame."""
    return frame_size(dumps(value))


def frame_size(text: str) -> int:
    """Size of ``text`` in UTF-8 bytes (lone surrogates count as three)."""
    if text.isascii():
        return len(text)
    return len(text.encode("utf-8", "surrogatepass"))


def decode(text: str | bytes, max_size: int) -> c.Command | Rejected:
    """Read one client frame. Binary frames, non-JSON and non-objects are ``bad_frame``.

    A frame over ``max_size`` (``too_large``) or in a binary frame is still read for its
    ``ref``, so the error can carry it: the caller bounds what reaches here (the connection
    closes at ``hard_frame_cap`` before decoding).
    """
    if not isinstance(text, str):
        return Rejected(BadFrame("binary frames are not accepted; send JSON text"), _peek_ref(text))
    if frame_size(text) > max_size:
        return Rejected(TooLarge(f"a frame is at most {max_size} bytes"), _peek_ref(text))
    try:
        frame = json.loads(text)
    except (ValueError, RecursionError):
        return Rejected(BadFrame("a frame must be valid JSON"))
    if _too_deep(text, frame):
        return Rejected(BadFrame(f"a frame may nest at most {MAX_DEPTH} arrays and objects"))
    if not isinstance(frame, dict):
        return Rejected(BadFrame("a frame must be a JSON object"))
    try:
        ref = _ref(frame.get("ref"))
    except ClientError as error:
        return Rejected(error)
    kind = frame.get("type")
    if not isinstance(kind, str):
        return Rejected(InvalidField("'type' must be a string", field="type"), ref)
    parse = _PARSERS.get(kind)
    if parse is None:
        return Rejected(UnknownType(f"unknown frame type {kind[:40]!r}", field="type"), ref)
    try:
        return parse(_Fields(frame), ref)
    except ClientError as error:
        return Rejected(error, ref)


def _too_deep(text: str, value: object) -> bool:
    """Whether ``value`` (read from ``text``) nests arrays and objects over :data:`MAX_DEPTH`.

    Walked level by level, with no recursion, and only when ``text`` has that many brackets."""
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return False
    level = [value]
    for _ in range(MAX_DEPTH):
        inner: list[object] = []
        for item in level:
            if isinstance(item, dict):
                inner.extend(v for v in item.values() if isinstance(v, dict | list))
            elif isinstance(item, list):
                inner.extend(v for v in item if isinstance(v, dict | list))
        if not inner:
            return False
        level = inner
    return True


def _peek_ref(data: str | bytes) -> c.Ref:
    """The ``ref`` of a frame that will be refused anyway, or None if none can be read."""
    try:
        frame = json.loads(data)
        return _ref(frame.get("ref")) if isinstance(frame, dict) else None
    except (ValueError, RecursionError, ClientError):
        return None


def _ref(value: object) -> c.Ref:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise InvalidField("'ref' must be a string or an integer", field="ref")
    if isinstance(value, int):
        if abs(value) > _MAX_ID:
            raise InvalidField("'ref' is out of range", field="ref")
        return value
    if len(value) > MAX_REF or not _is_text(value):
        raise InvalidField(f"'ref' is at most {MAX_REF} characters of valid text", field="ref")
    return value


def _is_text(value: str) -> bool:
    """False for strings that cannot be UTF-8 (lone surrogates)."""
    if value.isascii():
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class _Fields:
    """Typed access to the fields of one frame; each miss is an ``invalid_field`` error."""

    __slots__ = ("_frame",)

    def __init__(self, frame: dict[str, Any]) -> None:
        self._frame = frame

    def room(self, name: str = "room", *, required: bool = True) -> str | None:
        value = self._frame.get(name)
        if value is None and not required:
            return None
        return check_room_name(value, name)

    def text(self, name: str, *, required: bool = True, limit: int | None = None) -> str | None:
        """A string field, unchecked for length except ``limit``; lone surrogates and NUL,
        which no store can keep, refused."""
        value = self._frame.get(name)
        if value is None:
            if required:
                raise InvalidField(f"'{name}' is required", field=name)
            return None
        if not isinstance(value, str):
            raise InvalidField(f"'{name}' must be a string", field=name)
        if not _is_text(value):
            raise InvalidField(f"'{name}' is not valid text", field=name)
        if "\x00" in value:
            raise InvalidField(f"'{name}' may not contain U+0000", field=name)
        if limit is not None and not 0 < len(value) <= limit:
            raise InvalidField(f"'{name}' must have 1-{limit} characters", field=name)
        return value

    def id(self, name: str) -> int | None:
        """An optional non-negative integer."""
        value = self._frame.get(name)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _MAX_ID:
            raise InvalidField(f"'{name}' must be a non-negative integer", field=name)
        return value

    def message_id(self, name: str = "id", *, minimum: int = 1) -> int:
        """A required message id (``minimum`` or more)."""
        value = self.id(name)
        if value is None or value < minimum:
            raise InvalidField(
                f"'{name}' must be a message id (an integer, {minimum} or more)", field=name
            )
        return value

    def meta(self) -> dict[str, Any] | None:
        value = self._frame.get("meta")
        return None if value is None else check_meta(value)

    def emoji(self) -> str:
        """The ``emoji`` as a string; its rules are checked by the server, for application
        code too (``check_emoji``), as a text's length is."""
        value = self.text("emoji", limit=MAX_EMOJI)
        assert value is not None  # required
        return value

    def flag(self, name: str) -> bool | None:
        value = self._frame.get(name)
        if value is None or isinstance(value, bool):
            return value
        raise InvalidField(f"'{name}' must be true or false", field=name)

    def title(self, *, required: bool = True) -> str | None:
        value = self._frame.get("title")
        if value is None and not required:
            return None
        return check_title(value)

    def client_id(self) -> str | None:
        value = self._frame.get("client_id")
        return None if value is None else check_client_id(value)

    def users(self, name: str = "users") -> tuple[str, ...]:
        """A required list of user ids (duplicates dropped, order kept)."""
        value = self._frame.get(name)
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise InvalidField(f"'{name}' must be a list of user ids", field=name)
        for item in value:
            if not 0 < len(item) <= _MAX_USER_ID or not _is_text(item) or "\x00" in item:
                raise InvalidField(f"'{name}' holds an invalid user id", field=name)
        return tuple(dict.fromkeys(value))

    def query(self) -> str | None:
        """An optional name prefix: 1-64 characters, no line breaks."""
        value = self.text("query", required=False, limit=MAX_QUERY)
        if value is not None and ("\n" in value or "\r" in value):
            raise InvalidField("'query' may not contain line breaks", field="query")
        return value

    def user(self, name: str = "to") -> str:
        value = self.text(name, limit=_MAX_USER_ID)
        assert value is not None  # required
        return value


def _room(f: _Fields) -> str:
    room = f.room()
    assert room is not None  # required
    return room


def _title(f: _Fields) -> str:
    title = f.title()
    assert title is not None  # required
    return title


def _text(f: _Fields, name: str) -> str:
    # Length and emptiness are checked after trimming, by the server's own limit.
    value = f.text(name)
    assert value is not None  # required
    return value


def _update_room(f: _Fields, ref: c.Ref) -> c.UpdateRoom:
    private = f.flag("private")  # with it, the title may stay as it is
    title = f.title(required=private is None)
    return c.UpdateRoom(room=_room(f), title=title, private=private, ref=ref)


def _role(f: _Fields) -> str:
    role = f.text("role")
    if role not in ROLES:
        raise InvalidField("'role' is 'moderator' or 'member'", field="role")
    return role


def _reason(f: _Fields) -> str | None:
    value = f.text("reason", required=False)
    return None if value is None else check_reason(value)


_Parser = Callable[[_Fields, c.Ref], c.Command]

_PARSERS: dict[str, _Parser] = {
    "join": lambda f, ref: c.Join(room=_room(f), since=f.id("since"), ref=ref),
    "leave": lambda f, ref: c.Leave(room=_room(f), ref=ref),
    "send": lambda f, ref: c.Send(
        room=_room(f),
        text=_text(f, "text"),
        client_id=f.client_id(),
        reply_to=f.id("reply_to"),
        meta=f.meta(),
        ref=ref,
    ),
    "edit": lambda f, ref: c.Edit(
        room=_room(f), id=f.message_id(), text=_text(f, "text"), meta=f.meta(), ref=ref
    ),
    "delete_message": lambda f, ref: c.DeleteMessage(room=_room(f), id=f.message_id(), ref=ref),
    "react": lambda f, ref: c.React(room=_room(f), id=f.message_id(), emoji=f.emoji(), ref=ref),
    "unreact": lambda f, ref: c.Unreact(room=_room(f), id=f.message_id(), emoji=f.emoji(), ref=ref),
    "read": lambda f, ref: c.Read(room=_room(f), id=f.message_id(minimum=0), ref=ref),
    "send_private": lambda f, ref: c.SendPrivate(
        to=f.user(), text=_text(f, "text"), room=f.room(required=False), ref=ref
    ),
    "typing": lambda f, ref: c.Typing(room=_room(f), ref=ref),
    "rooms": lambda f, ref: c.ListRooms(watch=f.flag("watch"), unread=f.flag("unread"), ref=ref),
    "create_room": lambda f, ref: c.CreateRoom(
        room=_room(f), title=f.title(required=False), private=f.flag("private"), ref=ref
    ),
    "update_room": _update_room,
    "delete_room": lambda f, ref: c.DeleteRoom(room=_room(f), ref=ref),
    "direct": lambda f, ref: c.Direct(to=f.user(), ref=ref),
    "members": lambda f, ref: c.Members(
        room=_room(f),
        after=f.text("after", required=False, limit=MAX_CURSOR),
        limit=f.id("limit"),
        query=f.query(),
        ref=ref,
    ),
    "watch_users": lambda f, ref: c.WatchUsers(users=f.users(), ref=ref),
    "history": lambda f, ref: c.History(
        room=_room(f), before=f.id("before"), limit=f.id("limit"), ref=ref
    ),
    "ping": lambda f, ref: c.Ping(ref=ref),
    # moderation
    "set_role": lambda f, ref: c.SetRole(
        room=_room(f), user=f.user("user"), role=_role(f), ref=ref
    ),
    "kick": lambda f, ref: c.Kick(room=_room(f), user=f.user("user"), reason=_reason(f), ref=ref),
    "ban": lambda f, ref: c.Ban(
        room=_room(f), user=f.user("user"), until=f.id("until"), reason=_reason(f), ref=ref
    ),
    "unban": lambda f, ref: c.Unban(room=_room(f), user=f.user("user"), ref=ref),
    "mute": lambda f, ref: c.Mute(
        room=_room(f), user=f.user("user"), until=f.id("until"), reason=_reason(f), ref=ref
    ),
    "unmute": lambda f, ref: c.Unmute(room=_room(f), user=f.user("user"), ref=ref),
    "invite": lambda f, ref: c.Invite(room=_room(f), user=f.user("user"), ref=ref),
    "audit": lambda f, ref: c.Audit(
        room=_room(f), before=f.id("before"), limit=f.id("limit"), ref=ref
    ),
    "block": lambda f, ref: c.Block(user=f.user("user"), ref=ref),
    "unblock": lambda f, ref: c.Unblock(user=f.user("user"), ref=ref),
    "blocks": lambda f, ref: c.Blocks(ref=ref),
}
