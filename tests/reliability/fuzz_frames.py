"""Hypothesis strategies for hostile client frames, each with what the server must answer.

A :class:`Probe` is the bytes or text to send, how to send it, and the expectation:
``"error"`` (exactly one ``error`` frame), ``"reply"`` (a frame that may be valid or not: at most
one reply, never ``internal``), or a close code the server must close the socket with.
"""

from __future__ import annotations

import json
from typing import Any, Literal

import attrs
from hypothesis import strategies as st

MAX_FRAME = 16_384
HARD_CAP = 65_536
ROOM = "fuzz-room"
MAX_ID = 2**53 - 1

Expect = Literal["error", "reply"] | int


@attrs.frozen
class Probe:
    kind: str
    data: str | bytes
    expect: Expect
    #: Send ``bytes`` in a text frame (invalid UTF-8 on the wire).
    as_text: bool = False
    #: Whether the test can tell if the server reads ``ref``: near the parser's nesting
    #: limit that depends on the server's own stack depth, so either answer is right.
    ref_known: bool = True


def valid_frames(n: int) -> list[dict[str, Any]]:
    """One well-formed frame of every type (``n`` makes created room names unique)."""
    return [
        {"type": "join", "room": ROOM, "since": 0},
        {"type": "leave", "room": ROOM},
        {"type": "send", "room": ROOM, "text": "fuzz", "client_id": f"c{n}"},
        {"type": "send_private", "to": "bob", "text": "psst", "room": ROOM},
        {"type": "typing", "room": ROOM},
        {"type": "rooms", "watch": True},
        {"type": "create_room", "room": f"fz-{n}", "title": "Fuzz"},
        {"type": "update_room", "room": ROOM, "title": "Taken over"},
        {"type": "delete_room", "room": ROOM},
        {"type": "direct", "to": "bob"},
        {"type": "members", "room": ROOM},
        {"type": "history", "room": ROOM, "before": 5, "limit": 10},
        {"type": "ping"},
    ]


_FIELDS = ["type", "room", "text", "ref", "since", "before", "limit", "to", "title", "watch"]
_FIELDS += ["client_id", "from", "user", "id", "name", "", "\u0000", "é"]

#: Values of each checked field's wrong JSON type (null means "absent", so it is not here).
_WRONG: dict[str, st.SearchStrategy[Any]] = {
    "str": st.integers() | st.booleans() | st.floats(allow_nan=False) | st.just([]) | st.just({}),
    "id": st.text(max_size=5)
    | st.booleans()
    | st.integers(max_value=-1)
    | st.integers(min_value=MAX_ID + 1)
    | st.floats(allow_nan=False)
    | st.just([1]),
    "flag": st.integers() | st.text(max_size=5) | st.just([True]),
}
_TYPED = {"room": "str", "text": "str", "to": "str", "title": "str", "client_id": "str"}
_TYPED |= {"since": "id", "before": "id", "limit": "id", "watch": "flag"}

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def _dump(frame: object, ascii_only: bool) -> str:
    return json.dumps(frame, ensure_ascii=ascii_only, allow_nan=True)


@st.composite
def mutated(draw: st.DrawFn) -> Probe:
    """A valid frame with fields replaced by random JSON, dropped, or added."""
    frame = dict(draw(st.sampled_from(valid_frames(draw(st.integers(0, 10**6))))))
    frame["ref"] = draw(st.integers(0, MAX_ID) | st.text(max_size=20))
    for _ in range(draw(st.integers(0, 3))):
        field = draw(st.sampled_from(_FIELDS))
        if draw(st.booleans()):
            frame[field] = draw(json_values)
        else:
            frame.pop(field, None)
    return Probe("mutated", _dump(frame, draw(st.booleans())), "reply")


@st.composite
def wrong_types(draw: st.DrawFn) -> Probe:
    """A valid frame with one checked field of the wrong JSON type: ``invalid_field``."""
    frame = dict(draw(st.sampled_from(valid_frames(0))))
    fields = [name for name in frame if name in _TYPED]
    if not fields:
        frame["type"] = draw(_WRONG["str"])  # ping: its type is the field to break
    else:
        field = draw(st.sampled_from(fields))
        frame[field] = draw(_WRONG[_TYPED[field]])
    frame["ref"] = draw(st.integers(0, MAX_ID))
    return Probe("wrong type", _dump(frame, True), "error")


def _obj(*members: str) -> str:
    """A JSON object from already encoded ``"key":value`` members (values may be invalid)."""
    return "{" + ",".join(members) + "}"


_IN_ROOM = f'"room":"{ROOM}"'


@st.composite
def huge_numbers(draw: st.DrawFn) -> Probe:
    """Numbers no id can be: too many digits, exponents, out of range, negative zero."""
    number = draw(
        st.sampled_from(["1e999", "-1e999", "1E400", "-0.0", "0.5", "9007199254740992"])
        | st.integers(20, 6000).map(lambda digits: "9" * digits)
    )
    field = draw(st.sampled_from(["since", "before", "limit", "ref"]))
    heads = {"since": ['"type":"join"', _IN_ROOM], "ref": ['"type":"ping"']}
    head = heads.get(field, ['"type":"history"', _IN_ROOM])
    return Probe("huge number", _obj(*head, f'"{field}":{number}'), "error")


@st.composite
def deep_nesting(draw: st.DrawFn) -> Probe:
    """Arrays or objects nested hundreds to thousands deep, as a field or the whole frame."""
    depth = draw(st.integers(50, 5000))
    opener, closer = draw(st.sampled_from([("[", "]"), ('{"a":', "}")]))
    nested = opener * depth + "1" + closer * depth
    if draw(st.booleans()):
        nested = _obj('"type":"send"', _IN_ROOM, '"ref":1', f'"text":{nested}')
    return Probe("deep nesting", nested, "error", ref_known=False)


@st.composite
def surrogates(draw: st.DrawFn) -> Probe:
    """Lone UTF-16 surrogates (as JSON escapes) in every text field: ``invalid_field``."""
    lone = f"\\u{draw(st.integers(0xD800, 0xDFFF)):04x}"
    text = json.dumps(draw(st.text(max_size=10)))[1:-1]
    value = '"' + "".join(draw(st.permutations([lone, text]))) + '"'
    field = draw(st.sampled_from(["text", "room", "ref", "type", "to"]))
    frames = {
        "text": _obj('"type":"send"', _IN_ROOM, '"ref":7', f'"text":{value}'),
        "room": _obj('"type":"join"', '"ref":7', f'"room":{value}'),
        "ref": _obj('"type":"ping"', f'"ref":{value}'),
        "type": _obj('"ref":7', f'"type":{value}'),
        "to": _obj('"type":"direct"', '"ref":7', f'"to":{value}'),
    }
    return Probe("lone surrogate", frames[field], "error")


not_objects = st.one_of(
    st.text(max_size=200).filter(lambda text: not _is_object(text)),
    json_values.filter(lambda value: not isinstance(value, dict)).map(lambda v: _dump(v, False)),
    st.sampled_from(['{"type":"ping"', "{}}", '{"type":}', "\ufeff{}", "null", '""', "{'a':1}"]),
).map(lambda text: Probe("not a JSON object", text, "error"))

empty_objects = st.sampled_from(["{}", '{"ref":1}', '{"type":null}', '{"type":"nope","ref":2}'])

binary = st.one_of(
    st.binary(max_size=300),
    st.sampled_from([b'{"type":"ping","ref":1}', b"\xff\xfe", b"\xc3\x28", b"\xed\xa0\x80"]),
).map(lambda data: Probe("binary frame", data, "error"))

#: Text frames whose bytes are not UTF-8 (the WebSocket layer must close them with 1007).
invalid_utf8_text = st.builds(
    lambda head, bad, tail: Probe(
        "invalid UTF-8 text frame", head.encode() + bad + tail.encode(), 1007, as_text=True
    ),
    st.text(max_size=20),
    st.sampled_from(
        [b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80", b"\x80", b"\xc0\xaf"]
    ),
    st.text(max_size=20),
)

oversized = st.integers(MAX_FRAME + 1, HARD_CAP).map(
    lambda size: Probe(
        "over max_frame", _obj('"type":"ping"', '"pad":"' + "x" * (size - 24) + '"'), "error"
    )
)

over_cap = st.integers(HARD_CAP + 1, 4 * HARD_CAP).map(
    lambda size: Probe("over the hard cap", "x" * size, 1009)
)

frames: st.SearchStrategy[Probe] = st.one_of(
    mutated(),
    wrong_types(),
    huge_numbers(),
    deep_nesting(),
    surrogates(),
    not_objects,
    empty_objects.map(lambda text: Probe("empty or typeless object", text, "error")),
    binary,
    oversized,
    invalid_utf8_text,
    over_cap,
)


def _is_object(text: str) -> bool:
    try:
        return isinstance(json.loads(text), dict)
    except (ValueError, RecursionError):
        return False


def reply_ref(text: str | bytes) -> object:
    """The ``ref`` the server must echo for ``text``, or None when it cannot read one. A binary
    frame or one over ``max_frame`` is refused, but still read for its ``ref``."""
    try:
        frame = json.loads(text)
    except (ValueError, RecursionError):
        return None
    ref = frame.get("ref") if isinstance(frame, dict) else None
    if isinstance(ref, bool) or not isinstance(ref, int | str):
        return None
    if isinstance(ref, int):
        return ref if abs(ref) <= MAX_ID else None
    try:
        ref.encode("utf-8")
    except UnicodeEncodeError:
        return None
    return ref if len(ref) <= 128 else None
