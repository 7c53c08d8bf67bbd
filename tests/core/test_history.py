"""History per room, resume with and without a gap, paging, and idempotent send."""

from __future__ import annotations

from typing import Any

import pytest

from chatcore import Limits
from chatcore.testing import LocalClient

from .kit import Chat, lobby, running, user

pytestmark = pytest.mark.anyio


async def post(chat: Chat, count: int, room: str = "lobby") -> None:
    for n in range(count):
        await chat.server.post(room, f"m{n}", sender=user("1"))


def ids(messages: list[dict[str, Any]]) -> list[int]:
    return [message["id"] for message in messages]


async def rejoin(chat: Chat, since: int | None) -> dict[str, Any]:
    client = await chat.client("2")
    fields: dict[str, Any] = {} if since is None else {"since": since}
    return await client.call("join", room="lobby", **fields)


async def test_history_is_bounded_per_room() -> None:
    async with running(limits=Limits(history_size=5)) as chat:
        (alice,) = await lobby(chat, "1")
        await alice.call("create_room", room="other")
        await post(chat, 8)
        await post(chat, 3, room="other")
        page = await alice.call("history", room="lobby")
        assert ids(page["messages"]) == [4, 5, 6, 7, 8]
        assert page["more"] is False
        assert ids((await alice.call("history", room="other"))["messages"]) == [1, 2, 3]


async def test_join_without_since_gives_the_newest_join_history() -> None:
    async with running(limits=Limits(join_history=3)) as chat:
        await lobby(chat, "1")
        await post(chat, 5)
        joined = await rejoin(chat, None)
        assert ids(joined["history"]) == [3, 4, 5]
        assert joined["gap"] is False


async def test_join_since_gives_exactly_the_missed_messages(chat: Chat) -> None:
    await lobby(chat, "1")
    await post(chat, 10)
    joined = await rejoin(chat, 6)
    assert ids(joined["history"]) == [7, 8, 9, 10]
    assert joined["gap"] is False


async def test_join_since_the_last_id_gives_nothing_and_no_gap(chat: Chat) -> None:
    await lobby(chat, "1")
    await post(chat, 4)
    joined = await rejoin(chat, 4)
    assert joined["history"] == []
    assert joined["gap"] is False


async def test_join_since_zero_in_an_empty_room_has_no_gap(chat: Chat) -> None:
    await lobby(chat, "1")
    joined = await rejoin(chat, 0)
    assert (joined["history"], joined["gap"]) == ([], False)


async def test_join_since_trimmed_history_is_a_gap() -> None:
    async with running(limits=Limits(history_size=5)) as chat:
        await lobby(chat, "1")
        await post(chat, 10)
        joined = await rejoin(chat, 2)
        assert ids(joined["history"]) == [6, 7, 8, 9, 10]
        assert joined["gap"] is True
        just_kept = await rejoin(chat, 5)
        assert ids(just_kept["history"]) == [6, 7, 8, 9, 10]
        assert just_kept["gap"] is False


async def test_join_since_with_more_missed_than_resume_limit_is_a_gap() -> None:
    async with running(limits=Limits(resume_limit=3)) as chat:
        await lobby(chat, "1")
        await post(chat, 10)
        joined = await rejoin(chat, 5)
        assert ids(joined["history"]) == [8, 9, 10]
        assert joined["gap"] is True
        exactly = await rejoin(chat, 7)
        assert (ids(exactly["history"]), exactly["gap"]) == ([8, 9, 10], False)


async def test_join_since_beyond_the_last_id_is_a_gap(chat: Chat) -> None:
    await lobby(chat, "1")
    await post(chat, 3)
    joined = await rejoin(chat, 9)
    assert joined["history"] == []
    assert joined["gap"] is True


async def test_a_room_deleted_and_created_again_restarts_ids_and_resume_sees_a_gap(
    chat: Chat,
) -> None:
    (alice,) = await lobby(chat, "1")
    await post(chat, 5)
    await alice.call("delete_room", room="lobby")
    await alice.call("create_room", room="lobby")
    await post(chat, 2)
    joined = await rejoin(chat, 5)
    assert joined["history"] == []
    assert joined["gap"] is True


async def test_resume_after_missing_messages_while_away(chat: Chat) -> None:
    alice, bob = await lobby(chat, "1", "2")
    await bob.call("send", room="lobby", text="seen")
    last = bob.events("message")[-1]["id"]
    await bob.close()
    for n in range(3):
        await alice.call("send", room="lobby", text=f"missed {n}")
    back = await LocalClient.connect(chat.server, user("2"))
    joined = await back.call("join", room="lobby", since=last)
    assert [m["text"] for m in joined["history"]] == ["missed 0", "missed 1", "missed 2"]
    assert joined["gap"] is False


async def test_history_limit_and_before_bounds(chat: Chat) -> None:
    (alice,) = await lobby(chat, "1")
    await post(chat, 120)
    full = await alice.call("history", room="lobby", limit=100)
    assert ids(full["messages"]) == list(range(21, 121))
    assert full["more"] is True
    default = await alice.call("history", room="lobby")
    assert default["messages"] == full["messages"]
    rest = await alice.call("history", room="lobby", before=21, limit=100)
    assert ids(rest["messages"]) == list(range(1, 21))
    assert rest["more"] is False
    assert (await alice.call("history", room="lobby", before=1))["messages"] == []
    beyond = await alice.call("history", room="lobby", before=10_000, limit=2)
    assert ids(beyond["messages"]) == [119, 120]
    reply = await alice.request("history", room="lobby", limit=101)
    assert (reply["code"], reply["field"]) == ("invalid_field", "limit")


async def test_history_of_an_empty_room(chat: Chat) -> None:
    (alice,) = await lobby(chat, "1")
    reply = await alice.call("history", room="lobby")
    assert reply == {"type": "ok", "ref": reply["ref"], "messages": [], "more": False}


async def test_repeated_client_id_gets_the_first_id_and_one_message_event(chat: Chat) -> None:
    alice, bob = await lobby(chat, "1", "2")
    first = await alice.call("send", room="lobby", text="once", client_id="c-1")
    again = await alice.call("send", room="lobby", text="once", client_id="c-1")
    assert first["id"] == again["id"] == 1
    assert len(bob.events("message")) == 1
    assert len(alice.events("message")) == 1
    other = await alice.call("send", room="lobby", text="twice", client_id="c-2")
    assert other["id"] == 2
    # The id belongs to the user: another user may use the same client_id.
    theirs = await bob.call("send", room="lobby", text="mine", client_id="c-1")
    assert theirs["id"] == 3
    assert ids((await bob.call("history", room="lobby"))["messages"]) == [1, 2, 3]


async def test_client_id_repeated_from_another_tab_of_the_same_user(chat: Chat) -> None:
    alice, bob = await lobby(chat, "1", "2")
    tab2 = await chat.client("1")
    await tab2.call("join", room="lobby")
    first = await alice.call("send", room="lobby", text="x", client_id="same")
    again = await tab2.call("send", room="lobby", text="x", client_id="same")
    assert first["id"] == again["id"]
    assert len(bob.events("message")) == 1
