"""Every message of docs/asyncapi.yaml passes through a connection and fits its schema.

The autouse fixture ``frames_fit_the_asyncapi_document`` (tests/core/conftest.py) checks the
frames of every core test; this test makes sure each command and event is among them.
"""

from __future__ import annotations

import pytest

from chatcore import Limits

from ..contract import Recorder, message_kinds, problems
from .kit import Chat, lobby, running, user

pytestmark = pytest.mark.anyio


async def test_every_command_and_event_of_the_document_passes_through_a_connection(
    chat: Chat, frames_fit_the_asyncapi_document: Recorder
) -> None:
    alice, bob = await lobby(chat, "1", "2")
    await alice.call("rooms", watch=True, unread=True)
    first = await alice.call("send", room="lobby", text=" hi ", client_id="k1", meta={"a": [1]})
    await bob.call("send", room="lobby", text="re", reply_to=first["id"])
    await alice.call("edit", room="lobby", id=first["id"], text="hi all", meta={})
    await bob.call("react", room="lobby", id=first["id"], emoji="👍")
    await bob.call("unreact", room="lobby", id=first["id"], emoji="👍")
    await alice.call("read", room="lobby", id=first["id"])
    await bob.call("typing", room="lobby")
    await alice.call("send_private", to="2", text="psst", room="lobby")
    await alice.call("members", room="lobby")
    await alice.call("history", room="lobby", before=10, limit=5)
    await alice.call("ping")
    await alice.call("direct", to="2")
    await alice.call("update_room", room="lobby", title="Main hall")
    await alice.call("delete_message", room="lobby", id=first["id"])
    await chat.server.update_user(user("2", name="Bobby", avatar="/b.png"))
    await bob.call("leave", room="lobby")
    await bob.call("join", room="lobby", since=0)
    await alice.call("create_room", room="spare", title="Spare")
    await alice.call("delete_room", room="spare")
    # moderation
    await alice.call("set_role", room="lobby", user="2", role="moderator")
    await alice.call("set_role", room="lobby", user="2", role="member")
    await alice.call("mute", room="lobby", user="2", until=chat.clock.now() + 60_000, reason="calm")
    await alice.call("unmute", room="lobby", user="2")
    await alice.call("kick", room="lobby", user="2", reason="out")
    await alice.call("ban", room="lobby", user="2")
    await alice.call("unban", room="lobby", user="2")
    await alice.call("create_room", room="club", private=True)
    await alice.call("update_room", room="club", private=True)
    await alice.call("invite", room="club", user="2")
    await alice.call("audit", room="lobby", limit=5)
    await bob.call("block", user="1")
    await bob.call("unblock", user="1")
    await bob.call("blocks")
    assert (await alice.request("join", room="nope"))["code"] == "no_such_room"
    await alice.call("watch_users", users=["2", "3"])
    carol = await chat.client("3")  # a status event
    await alice.call("members", room="lobby", limit=1, query="a")
    await chat.advance(chat.limits.reaction_batch)
    for client in (alice, bob, carol):
        client.events()
    async with running(limits=Limits(presence_limit=1)) as small:
        first_in, *_ = await lobby(small, "1", "2")  # two members: large, an occupancy event
        await small.advance(small.limits.occupancy_interval)
        first_in.events()

    recorder = frames_fit_the_asyncapi_document
    expected = {
        f"{prefix}.{kind}"
        for prefix in ("command", "event", "reply")
        for kind in message_kinds(prefix)
    }
    assert sorted(expected - recorder.seen) == []


def test_the_checks_find_a_frame_that_does_not_fit() -> None:
    assert problems("event", {"type": "typing", "room": "lobby"}) != []  # no user
    assert problems("event", {"type": "ping"}) != []  # not an event
    extra = {"type": "typing", "room": "a", "user": {"id": "1", "name": "A", "avatar": None}}
    assert problems("event", extra) == []
    assert problems("event", {**extra, "secret": 1}) != []  # events are checked strictly
    assert problems("command", {"type": "join", "room": "Lobby!"}) != []
    assert problems("command", {"type": "join", "room": "lobby", "extra": 1}) == []
    assert problems("reply", {"type": "ok", "ref": 1, "id": 3}, "send") == []
    assert problems("reply", {"type": "ok", "ref": 1}, "send") != []  # no id
