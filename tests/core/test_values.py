"""What text, titles and client ids may hold (docs/protocol.md, "Values"), on the wire and in
the application API."""

from __future__ import annotations

import pytest

from chatcore.wire.errors import InvalidField
from chatcore.wire.values import (
    MAX_CLIENT_ID,
    MAX_TITLE,
    User,
    check_client_id,
    check_text,
    check_title,
    direct_room_title,
    has_visible,
    neutral_line,
)
from tests.core.kit import lobby, running

pytestmark = pytest.mark.anyio

# Characters that show nothing on their own.
INVISIBLE = [
    "\u200b",  # zero width space
    "\u200c\u200d",  # zero width non-joiner, joiner
    "\u2060",  # word joiner
    "\ufeff",  # byte order mark
    "\u00ad",  # soft hyphen
    "\u200e\u200f",  # left-to-right and right-to-left marks
    "\u202e",  # right-to-left override
    "\u2066\u2069",  # an empty isolate
    "\ufe0f",  # a variation selector alone
    "\U000e0100",  # a supplementary variation selector
    "\U000e0041",  # a tag character
    "\u3164",  # Hangul filler
    "\u2800",  # blank braille pattern
    "\u180e",  # Mongolian vowel separator
    "\u00a0\u2003\u3000",  # no-break, em and ideographic spaces
    "\u2028",  # line separator
]


@pytest.mark.parametrize("text", INVISIBLE)
def test_text_of_invisible_characters_only_is_refused(text: str) -> None:
    with pytest.raises(InvalidField, match=r"visible|empty") as raised:
        check_text(f" {text}\n{text} ")
    assert raised.value.field == "text"
    with pytest.raises(InvalidField) as raised:
        check_title(text)
    assert raised.value.field == "title"
    assert not has_visible(text)


@pytest.mark.parametrize(
    "text",
    [
        "a\u200bb",
        "\u2764\ufe0f",  # a heart with its emoji variation selector
        "\U0001f468\u200d\U0001f469\u200d\U0001f467",  # a family: emoji joined by ZWJ
        "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645",  # Persian, with a ZWNJ
        "\u200f\u05e9\u05dc\u05d5\u05dd",  # Hebrew after a right-to-left mark
        "e\u0301",  # e and a combining acute accent
        "\U0001fae8",  # an emoji newer than some Unicode databases: shown, so kept
        "\U000f0000",  # private use: an icon font may show it
    ],
)
def test_text_with_a_visible_character_keeps_every_character(text: str) -> None:
    assert check_text(text) == text
    assert has_visible(text)


@pytest.mark.parametrize("char", ["\x00", "\x01", "\x07", "\x0b", "\x0c", "\x1b", "\x7f", "\x85"])
def test_control_characters_but_tab_and_line_feed_are_refused_in_text(char: str) -> None:
    with pytest.raises(InvalidField, match=f"U\\+{ord(char):04X}") as raised:
        check_text(f"a{char}b")
    assert raised.value.field == "text"


def test_text_keeps_tabs_and_line_feeds_and_turns_carriage_returns_into_line_feeds() -> None:
    assert check_text("a\tb\nc") == "a\tb\nc"
    assert check_text("one\r\ntwo\rthree\r\n") == "one\ntwo\nthree"


def test_text_keeps_bidi_controls_around_visible_text() -> None:
    text = "\u202eabc\u202c and \u2067\u05d0\u2069"
    assert check_text(text) == text


@pytest.mark.parametrize(
    "char",
    ["\x00", "\t", "\n", "\r", "\x1b", "\x7f", "\x85", "\u2028", "\u2029"]
    + [chr(c) for c in range(0x202A, 0x202F)]
    + [chr(c) for c in range(0x2066, 0x206A)],
)
def test_titles_refuse_controls_line_breaks_and_bidi_embeddings_overrides_isolates(
    char: str,
) -> None:
    with pytest.raises(InvalidField, match=f"U\\+{ord(char):04X}") as raised:
        check_title(f"abc{char}def")
    assert raised.value.field == "title"


def test_titles_keep_the_rest() -> None:
    for title in ("Caf\u00e9 \U0001f600", "\u05e9\u05dc\u05d5\u05dd \u200f!", "a\u200db"):
        assert check_title(f"  {title} ") == title
    assert check_title("\U0001d11e" * MAX_TITLE) == "\U0001d11e" * MAX_TITLE


def test_client_ids_are_1_to_100_characters_without_controls() -> None:
    assert check_client_id("k" * MAX_CLIENT_ID) == "k" * MAX_CLIENT_ID
    assert check_client_id("\U0001d11e é") == "\U0001d11e é"
    for bad in ("", "k" * (MAX_CLIENT_ID + 1), "a\x00", "a\nb", "\ud800", 5):
        with pytest.raises(InvalidField) as raised:
            check_client_id(bad)
        assert raised.value.field == "client_id"


def test_lone_surrogates_are_refused_everywhere() -> None:
    for check in (check_text, check_title, check_client_id):
        with pytest.raises(InvalidField, match="valid text"):
            check("a\udc00")


def test_names_become_a_direct_room_title_without_controls_or_overrides() -> None:
    evil = User(id="1", name="\u202eevil\x1b[31m" + "x" * 200)
    plain = User(id="2", name="Bob")
    title = direct_room_title(evil, plain)
    assert title == check_title(title)
    assert title.startswith("evil[31mxxx")
    assert title.endswith(" & Bob")
    assert len(title) <= MAX_TITLE
    blank = User(id="42", name="\u200b\u2800")
    assert direct_room_title(blank, plain) == "42 & Bob"
    assert neutral_line("a\u2066b\nc\ud800") == "abc?"


async def test_the_wire_refuses_what_the_values_refuse_with_the_field_name() -> None:
    async with running() as chat:
        (alice,) = await lobby(chat, "1")
        refused = [
            ("send", {"room": "lobby", "text": "\u200b\u200b"}, "text"),
            ("send", {"room": "lobby", "text": "hi\x1b[2J"}, "text"),
            ("send_private", {"to": "2", "text": "\ufeff"}, "text"),
            ("create_room", {"room": "spoof", "title": "Lobby\u202e"}, "title"),
            ("create_room", {"room": "blank", "title": "\u3164"}, "title"),
            ("update_room", {"room": "lobby", "title": "two\nlines"}, "title"),
            ("send", {"room": "lobby", "text": "hi", "client_id": "k\x00"}, "client_id"),
            ("direct", {"to": "2\x00"}, "to"),
        ]
        for kind, fields, field in refused:
            reply = await alice.request(kind, **fields)
            assert (reply["type"], reply.get("code"), reply.get("field")) == (
                "error",
                "invalid_field",
                field,
            ), (kind, fields)
        ok = await alice.call("send", room="lobby", text="\r\n  hi\u200b there\r\n")
        message = alice.events("message")[0]
        assert (message["id"], message["text"]) == (ok["id"], "hi\u200b there")


async def test_the_application_api_refuses_invisible_text_and_spoofing_titles() -> None:
    async with running() as chat:
        server = chat.server
        await server.create_room("lobby", "Lobby")
        with pytest.raises(InvalidField):
            await server.post("lobby", "\u200b", sender=User(id="1", name="Alice"))
        with pytest.raises(InvalidField):
            await server.create_room("x", "\u202eabc")
        with pytest.raises(InvalidField):
            await server.update_room("lobby", "a\x00")
        with pytest.raises(InvalidField):
            await server.send_private(User(id="1", name="A"), "2", "\x07")
        assert (await server.get_room("lobby")).title == "Lobby"
