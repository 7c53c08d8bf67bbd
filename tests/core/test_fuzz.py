"""Random input into :meth:`Connection.receive` never raises out of the core."""

from __future__ import annotations

import json
from typing import Any

import anyio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chatcore import ChatServer, CloseCode, Connection, FakeClock
from chatcore.wire.protocol import Rejected, decode

from .kit import user

TYPES = [
    "join",
    "leave",
    "send",
    "send_private",
    "typing",
    "rooms",
    "create_room",
    "update_room",
    "delete_room",
    "direct",
    "members",
    "history",
    "ping",
]

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**64), max_value=2**64)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
    | st.sampled_from(["lobby", "1", "2", "404", "dm-x", "\ud800", "", " ", "x" * 130])
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=12,
)
frames = st.fixed_dictionaries(
    {"type": st.sampled_from(TYPES) | st.text(max_size=10)},
    optional=dict.fromkeys(
        ("ref", "room", "text", "to", "since", "title", "before", "limit", "watch", "client_id"),
        json_values,
    ),
)
raw_inputs = st.one_of(
    frames.map(json.dumps),
    frames.map(lambda frame: json.dumps(frame, ensure_ascii=False)),
    json_values.map(json.dumps),
    st.text(max_size=40),
    st.binary(max_size=40),
    st.sampled_from(["[" * 2000, '{"type":' * 900, "x" * 70_000]),
)

DOCUMENTED_CLOSES = {CloseCode.POLICY_VIOLATION, CloseCode.MESSAGE_TOO_BIG}


def drain(connection: Connection) -> list[dict[str, Any]]:
    """The frames queued for ``connection``; each must be sendable as UTF-8 text."""
    out: list[dict[str, Any]] = []
    while (text := connection.next_frame_nowait()) is not None:
        text.encode("utf-8")  # a lone surrogate here would break the socket write
        frame = json.loads(text)
        assert isinstance(frame, dict)
        out.append(frame)
    return out


async def feed(inputs: list[str | bytes]) -> None:
    async with ChatServer(clock=FakeClock()) as server:
        await server.create_room("lobby", owner=user("1"))
        other = await server.connect(user("2"))
        connection = await server.connect(user("1"))
        await connection.receive('{"type": "join", "room": "lobby"}')
        drain(connection)
        for data in inputs:
            await connection.receive(data)
            closed = connection.close_code
            if closed is not None:
                assert closed in DOCUMENTED_CLOSES
                break
            replies = [f for f in drain(connection) if f["type"] in ("ok", "error")]
            assert all(f.get("code") != "internal" for f in replies), replies
            expected = decode(data, server.limits.max_frame)
            if isinstance(expected, Rejected):
                assert [(f["type"], f["code"]) for f in replies] == [
                    ("error", expected.error.code.value)
                ]
                assert replies[0].get("ref") == expected.ref
            elif expected.ref is not None:
                assert len(replies) == 1
                assert replies[0]["ref"] == expected.ref
            else:
                assert [f["type"] for f in replies] in ([], ["error"])
        drain(other)
        await connection.close()


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(inputs=st.lists(raw_inputs, min_size=1, max_size=8))
def test_random_frames_get_a_reply_or_a_documented_close_and_never_raise(
    inputs: list[str | bytes],
) -> None:
    anyio.run(feed, inputs)
