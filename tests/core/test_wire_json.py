"""chatcore.wire._json (the frames' JSON: one C encoder, values encoded earlier placed as they
are) and runtime._history_json (a page's messages encoded once for every reply)."""

from __future__ import annotations

import json

import pytest

from chatcore.runtime import _history_json
from chatcore.runtime._history_json import newest_fitting
from chatcore.wire._json import RawJSON, dumps, dumps_with_raw
from chatcore.wire.events import OkReply
from chatcore.wire.protocol import encode, frame_size
from chatcore.wire.values import Message, User

#: What JSONEncoder.encode with chatcore's settings writes, to compare dumps with.
PLAIN = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False)


@pytest.mark.parametrize(
    "value",
    [
        {"type": "ok", "ref": 1, "nested": {"a": [1, 2.5, -0.0, 1e300, None, True, False]}},
        'é\x00\x1f\u2028\ud800 "quoted" \\ back',
        [],
        {},
        {"big": 2**60, "float": 0.1, "emoji": "👍", "tab": "\t"},
        [float("inf"), float("nan")],
    ],
)
def test_dumps_writes_what_the_standard_encoder_writes(value: object) -> None:
    assert dumps(value) == PLAIN.encode(value)


def test_raw_values_are_placed_as_they_are_in_their_places() -> None:
    reply = OkReply(ref=7, result={"a": RawJSON("[1,2]"), "b": "x", "c": RawJSON("{}")})
    assert encode(reply) == '{"type":"ok","ref":7,"a":[1,2],"b":"x","c":{}}'
    assert dumps_with_raw({"plain": 1}) == '{"plain":1}'


def test_a_text_that_looks_like_the_mark_stays_a_text() -> None:
    lookalike = "\x00raw-0123456789abcdef\x00"
    text = dumps_with_raw({"t": lookalike, "h": RawJSON("[]"), "u": {"k": lookalike}})
    assert json.loads(text) == {"t": lookalike, "h": [], "u": {"k": lookalike}}


ALICE = User(id="1", name="Alice")


def _messages(count: int, text: str = "hello") -> tuple[Message, ...]:
    return tuple(
        Message(id=i, room="lobby", ts=1_000 + i, sender=ALICE, text=f"{text} {i}")
        for i in range(1, count + 1)
    )


def test_a_page_is_encoded_once_for_every_reply_that_holds_it() -> None:
    messages = _messages(50)
    raw, cut = newest_fitting(messages, 1 << 20)
    assert not cut
    assert json.loads(raw.text) == [message.to_wire() for message in messages]
    again, _ = newest_fitting(messages, 1 << 20)
    assert again is raw  # the same text: not encoded again
    # An equal page read again is another object: encoded anew, to the same text.
    other, _ = newest_fitting(_messages(50), 1 << 20)
    assert other is not raw
    assert other == raw


def test_only_the_newest_messages_that_fit_are_given() -> None:
    messages = _messages(10, "x" * 100)
    sizes = [frame_size(dumps(message.to_wire())) + 1 for message in messages]
    budget = sum(sizes[-3:])  # room for the newest three exactly
    raw, cut = newest_fitting(messages, budget)
    assert cut
    assert [m["id"] for m in json.loads(raw.text)] == [8, 9, 10]
    raw, cut = newest_fitting(messages, budget - 1)
    assert cut
    assert [m["id"] for m in json.loads(raw.text)] == [9, 10]
    raw, cut = newest_fitting((), 10)
    assert (raw.text, cut) == ("[]", False)


def test_the_kept_pages_are_bounded() -> None:
    pages = [_messages(2) for _ in range(_history_json.KEPT * 3)]
    for page in pages:
        newest_fitting(page, 1 << 20)
    assert len(_history_json._kept) <= _history_json.KEPT


def test_the_encoder_is_made_once_where_the_c_encoder_is_there() -> None:
    from chatcore.wire import _json

    if json.encoder.c_make_encoder is None:  # type: ignore[attr-defined]
        pytest.skip("no C encoder in this Python: the plain encoder is used")
    assert dumps is not _json._encoder.encode
