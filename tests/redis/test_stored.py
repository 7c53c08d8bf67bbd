"""The stored forms of ``chatcore.redis._stored`` are pinned: what one version wrote, the next
reads. A form may gain a new shape only beside the old one, which must still decode."""

from __future__ import annotations

import attrs
import pytest

from chatcore.backends.store import Change
from chatcore.redis._stored import (
    decode_change,
    decode_message,
    encode_change,
    encode_id,
    encode_message,
    message_template,
)
from chatcore.wire.values import Message, Reaction, User

ALICE = User(id="1", name="Alice", avatar="/a.png")
PLAIN = Message(id=17, room="lobby", ts=5, sender=ALICE, text="hi")
META = {"kind": "link", "url": "https://example.com/ü", "n": [1, 2.5, None, True]}

#: Items as they are written, and what they hold.
PINNED = [
    # a plain message, as before the message model: "<id> <json array>"
    ('17 [5,"1","Alice","/a.png","hi",null]', PLAIN),
    ('17 [5,"1","Alice","/a.png","hi","c-1"]', attrs.evolve(PLAIN, client_id="c-1")),
    # a reply with meta, never changed: a seventh item, only the fields set
    (
        '17 [5,"1","Alice","/a.png","hi",null,{"reply_to":3,'
        '"meta":{"kind":"link","url":"https://example.com/ü","n":[1,2.5,null,true]}}]',
        attrs.evolve(PLAIN, reply_to=3, meta=META),
    ),
    # changed: the head has the version; reactions in their order, users first ones first
    (
        '17v2 [5,"1","Alice","/a.png","hi!",null,{"edited":9,'
        '"reactions":[["👍",["2","1"]],[":tada:",["3"]]]}]',
        attrs.evolve(
            PLAIN,
            text="hi!",
            edited=9,
            reactions=(Reaction("👍", ("2", "1")), Reaction(":tada:", ("3",))),
            version=2,
        ),
    ),
    # deleted: "d" after the version; the reply it was stays
    (
        '17v3d [5,"1","Alice","/a.png","",null,{"reply_to":3}]',
        attrs.evolve(PLAIN, text="", reply_to=3, deleted=True, version=3),
    ),
]


@pytest.mark.parametrize(("item", "message"), PINNED)
def test_pinned_items_read_and_write(item: str, message: Message) -> None:
    assert decode_message("lobby", item) == message
    assert encode_message(message) == item


@pytest.mark.parametrize(("item", "message"), PINNED[:3])
def test_a_new_message_is_stored_as_its_template_says(item: str, message: Message) -> None:
    before, after = message_template(
        message.ts, message.sender, message.text, message.client_id, message.reply_to, message.meta
    )
    assert f"{before}{message.id}{after}" == item


def test_a_plain_message_costs_what_it_did() -> None:
    # The extras object is left out, not written empty: a plain message's item is unchanged.
    before, after = message_template(5, ALICE, "hi", None)
    assert (before, after) == ("", ' [5,"1","Alice","/a.png","hi",null]')


def test_a_change_entry_is_pinned() -> None:
    message = attrs.evolve(PLAIN, text="hi!", edited=9, version=1)
    entry = '4 17 edited 17v1 [5,"1","Alice","/a.png","hi!",null,{"edited":9}]'
    assert encode_change(4, 17, "edited", message) == entry
    assert decode_change("lobby", entry) == Change("edited", message, 4, 17)
    with pytest.raises(ValueError, match="kind"):
        decode_change("lobby", entry.replace("edited", "shouted", 1))


@pytest.mark.parametrize("user_id", ["1", 'u "1" \n', "É ✓ 𝄞"])
def test_a_sender_id_stands_in_the_item_as_the_scripts_match_it(user_id: str) -> None:
    item = encode_message(attrs.evolve(PLAIN, sender=User(id=user_id, name="x")))
    # READING finds the sender right after the first comma of the array, followed by one.
    array = item.partition(" ")[2]
    assert array.split(",", 1)[1].startswith(encode_id(user_id) + ",")
