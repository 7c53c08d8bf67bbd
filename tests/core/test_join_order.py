"""The order of a join's own ``presence`` event and its ``ok`` reply (docs/protocol.md, ``join``)."""

from __future__ import annotations

import json

import pytest

from tests.core.kit import running

pytestmark = pytest.mark.anyio


async def test_a_joins_own_presence_comes_before_its_ok() -> None:
    async with running() as chat:
        alice = await chat.client("1")
        await alice.call("create_room", room="lobby")
        await alice.call("join", room="lobby")
        alice.events()
        bob = await chat.client("2")
        await bob.send({"type": "join", "room": "lobby", "ref": "j"})
        frames = bob.events()
        assert [(f["type"], f.get("event"), f.get("ref")) for f in frames] == [
            ("presence", "join", None),
            ("ok", None, "j"),
        ]
        assert frames[0]["user"]["id"] == "2"
        assert {user["id"] for user in frames[1]["members"]} == {"1", "2"}
        assert [f["user"]["id"] for f in alice.events("presence")] == ["2"]
        # A user's second connection makes no presence event: the ok alone.
        again = await chat.client("2")
        await again.send(json.dumps({"type": "join", "room": "lobby", "ref": 2}))
        assert [f["type"] for f in again.events()] == ["ok"]
