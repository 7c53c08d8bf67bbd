"""The texts Redis carries and keeps: frames only from ``protocol``, envelopes, stored items."""

from __future__ import annotations

from typing import Any

import anyio
import attrs
import pytest

from chatcore.backends.envelope import Envelope, ToRoom, ToUser, UserChanged
from chatcore.redis import RedisBroker, RedisStore
from chatcore.redis._codec import (
    decode_envelope,
    encode_envelope,
    encode_header,
    message_envelope_template,
)
from chatcore.redis._stored import decode_message
from chatcore.redis._stored import message_template as stored_template
from chatcore.wire.events import MessageEvent
from chatcore.wire.protocol import encode, message_template
from chatcore.wire.values import Message, Room, User
from tests.conformance.backends import Process
from tests.redis.support import redis_prefix

ALICE = User(id="1", name="Alice", avatar="/a.png")
MESSAGES = [
    Message(id=1, room="lobby", ts=1764201600123, sender=ALICE, text="hi"),
    Message(
        id=2**53 - 1,
        room="a.b-c_9",
        ts=0,
        sender=User(id='u "1" \n', name="É ✓ 𝄞", avatar=None),
        text='"id":0, \\ } ] \u2028 \ud800 𝄞',
        client_id="c-1",
    ),
]


@pytest.fixture(params=["id first", "id last"])
def key_order(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The frame as encoded today, and with its keys in another order: nothing outside
    ``protocol`` may depend on where the id stands."""
    if request.param == "id last":
        original = MessageEvent.to_wire

        def id_last(self: MessageEvent) -> dict[str, Any]:
            wire = original(self)
            wire["id"] = wire.pop("id")
            return wire

        monkeypatch.setattr(MessageEvent, "to_wire", id_last)
    return str(request.param)


@pytest.mark.parametrize("message", MESSAGES)
def test_the_template_filled_is_the_encoded_frame(message: Message, key_order: str) -> None:
    template = message_template(attrs.evolve(message, id=0))
    for id in (1, 17, message.id):
        assert template.fill(id) == encode(MessageEvent(message=attrs.evolve(message, id=id)))


@pytest.mark.parametrize("message", MESSAGES)
def test_a_message_envelope_filled_as_the_script_does_reads_back(
    message: Message, key_order: str
) -> None:
    header = encode_header(ToRoom(message.room))
    parts = message_envelope_template(header, message_template(message))
    text = str(message.id).join(parts)  # what APPEND's table.concat(parts, id) gives
    envelope = Envelope.message(message)
    assert text == encode_envelope(envelope)
    assert decode_envelope(text) == envelope
    assert envelope.message_id == message.id


@pytest.mark.parametrize(
    "envelope",
    [
        Envelope(ToUser("a b ]"), None, effect=UserChanged(User(id="a b ]", name="x 1"))),
        Envelope(ToRoom("r", exclude_user="u 2"), '{"type":"typing"}', ephemeral=True),
        Envelope(ToRoom("r"), '{"type":"message","id":3}'),  # no id fact: none read back
        # A change's version travels, for gap filling after an outage (``after`` does not).
        Envelope(ToRoom("r 1]"), '{"type":"message_changed"}', version=(17, 2)),
    ],
)
def test_envelopes_without_a_message_id_read_back(envelope: Envelope) -> None:
    assert decode_envelope(encode_envelope(envelope)) == envelope


@pytest.mark.parametrize("message", MESSAGES)
def test_the_stored_form_is_pinned(message: Message) -> None:
    # Items written by earlier versions must still read: the form is "<id> <json array>".
    before, after = stored_template(message.ts, message.sender, message.text, message.client_id)
    item = f"{before}{message.id}{after}"
    assert decode_message(message.room, item) == message
    old = '17 [5,"1","Alice","/a.png","hi",null]'
    assert decode_message("lobby", old) == Message(
        id=17, room="lobby", ts=5, sender=ALICE, text="hi"
    )


@pytest.mark.anyio
@pytest.mark.network
async def test_the_store_publishes_what_protocol_encodes(key_order: str) -> None:
    async with redis_prefix() as (url, prefix):
        broker = RedisBroker(url, prefix=prefix)
        store = RedisStore(prefix=prefix, broker=broker)
        process = Process(broker)
        async with anyio.create_task_group() as group:
            await group.start(process.run)
            await broker.subscribe("room:lobby")
            await store.create_room(Room(name="lobby", title="Lobby"))
            sent = [MESSAGES[0], attrs.evolve(MESSAGES[1], room="lobby")]
            for message in sent:
                appended = await store.append(
                    "lobby", message.sender, message.text, message.ts, message.client_id
                )
                assert appended.published
            received = await process.wait_for(2)
            assert received == [
                Envelope.message(attrs.evolve(message, id=n, client_id=None))
                for n, message in enumerate(sent, 1)
            ]
            group.cancel_scope.cancel()
