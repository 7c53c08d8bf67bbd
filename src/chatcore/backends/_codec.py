"""The text form of an envelope between processes (Redis pub/sub, PostgreSQL NOTIFY).

An envelope travels as one line, its header, then, if it has a frame, a newline and the frame's
text unchanged: the frame is encoded once, where the event happens, and never escaped again.
The header is compact JSON (target, ephemeral flag, effect), which has no raw newline, so the
first newline splits; an envelope that carries a room message adds a space and the message id
after the JSON (``["r","lobby",null,0] 17``), so every envelope of a room shares one JSON part,
parsed once; a ``message_changed`` envelope adds the message id and version of the state it
carries the same way (``["r","lobby",null,0] v17.2``), so a process that fills a gap after an
outage knows which changes it has delivered. This module reads and writes only that header: the frame's text is
:mod:`chatcore.wire.protocol`'s, which also gives the template of a message frame whose id a script
fills in (:func:`message_envelope_template`).
"""

from __future__ import annotations

import functools
import json
from typing import Any

from ..wire.errors import CloseCode
from ..wire.protocol import FrameTemplate
from ..wire.values import User
from .envelope import (
    Departed,
    Effect,
    Envelope,
    Moderated,
    RoomRemoved,
    Target,
    ToRoom,
    ToRoomList,
    ToUser,
    ToWatchers,
    UserChanged,
    UserKicked,
)

__all__ = ("decode_envelope", "encode_envelope", "encode_header", "message_envelope_template")

_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def encode_header(target: Target, ephemeral: bool = False, effect: Effect | None = None) -> str:
    """The JSON part of an envelope's first line."""
    if isinstance(target, ToRoom):
        head: list[Any] = ["r", target.room, target.exclude_user]
    elif isinstance(target, ToUser):
        head = ["u", target.user_id, None]
    elif isinstance(target, ToWatchers):
        head = ["w", target.user_id, None]
    else:
        head = ["l", target.room, None]
    head.append(1 if ephemeral else 0)
    if isinstance(effect, RoomRemoved):
        head.append(["rm", effect.room])
    elif isinstance(effect, UserChanged):
        head.append(["uc", effect.user.id, effect.user.name, effect.user.avatar])
    elif isinstance(effect, UserKicked):
        head.append(["kick", int(effect.code)])
    elif isinstance(effect, Departed):
        head.append(["dep", effect.room])
    elif isinstance(effect, Moderated):
        head.append(["mod", effect.room, effect.action, effect.until])
    return _json.encode(head)


def encode_envelope(envelope: Envelope) -> str:
    header = encode_header(envelope.target, envelope.ephemeral, envelope.effect)
    if envelope.message_id is not None:
        header = f"{header} {envelope.message_id}"
    elif envelope.version is not None:
        header = f"{header} v{envelope.version[0]}.{envelope.version[1]}"
    return header if envelope.frame is None else f"{header}\n{envelope.frame}"


def message_envelope_template(header: str, frame: FrameTemplate) -> tuple[str, ...]:
    """The text of a message envelope whose id is not known yet, as the parts around each
    place the id goes (``str(id).join(parts)``): ``header`` (of :func:`encode_header`), the
    id, then the frame of ``frame`` with the same id. :func:`decode_envelope` reads it back
    as ``Envelope(target, frame.fill(id), message_id=id)``."""
    first, *rest = frame.parts
    return (f"{header} ", f"\n{first}", *rest)


def decode_envelope(data: str) -> Envelope:
    """The envelope of :func:`encode_envelope`; ``ValueError`` (or a subclass) if malformed."""
    header, newline, frame = data.partition("\n")
    message_id: int | None = None
    version: tuple[int, int] | None = None
    if not header.endswith("]"):
        header, _, id_text = header.rpartition(" ")
        if id_text.startswith("v"):
            id, _, number = id_text[1:].partition(".")
            version = int(id), int(number)
        else:
            message_id = int(id_text)
    target, ephemeral, effect = _decode_header(header)
    return Envelope(
        target, frame if newline else None, ephemeral, effect, message_id, version=version
    )


# A room's envelopes share one header, so each header is parsed once (its parts are frozen).
@functools.lru_cache(maxsize=1_024)
def _decode_header(header: str) -> tuple[Target, bool, Effect | None]:
    head = json.loads(header)
    kind, name, exclude, ephemeral = head[:4]
    target: Target
    if kind == "r":
        target = ToRoom(name, exclude)
    elif kind == "u":
        target = ToUser(name)
    elif kind == "l":
        target = ToRoomList(name)
    elif kind == "w":
        target = ToWatchers(name)
    else:
        raise ValueError(f"unknown target kind {kind!r}")
    effect: Effect | None = None
    if len(head) > 4:
        tag, *args = head[4]
        if tag == "rm":
            effect = RoomRemoved(args[0])
        elif tag == "uc":
            effect = UserChanged(User(id=args[0], name=args[1], avatar=args[2]))
        elif tag == "kick":
            effect = UserKicked(CloseCode(args[0]))
        elif tag == "dep":
            effect = Departed(args[0])
        elif tag == "mod":
            effect = Moderated(args[0], args[1], args[2])
        else:
            raise ValueError(f"unknown effect {tag!r}")
    return target, bool(ephemeral), effect
