"""User-level presence across several connections, the grace period, update and disconnect."""

from __future__ import annotations

import anyio
import pytest

from chatcore import CloseCode, Limits

from .kit import Chat, lobby, running, user, wire

pytestmark = pytest.mark.anyio


def presence(event: str, user_id: str, room: str = "lobby") -> dict[str, object]:
    return {"type": "presence", "room": room, "event": event, "user": wire(user_id)}


async def member_ids(chat: Chat, room: str = "lobby") -> list[str]:
    return sorted(member.id for member in await chat.server.broker.members(room))


async def test_two_tabs_of_one_user_are_one_member_with_one_join(chat: Chat) -> None:
    (bob,) = await lobby(chat, "2")
    tab1 = await chat.client("1")
    tab2 = await chat.client("1")
    first = await tab1.call("join", room="lobby")
    second = await tab2.call("join", room="lobby")
    assert first["room"]["members"] == second["room"]["members"] == 2
    assert sorted(u["id"] for u in second["members"]) == ["1", "2"]
    assert bob.events() == [presence("join", "1")]
    assert tab1.events() == [presence("join", "1")]
    assert tab2.events() == []
    assert await member_ids(chat) == ["1", "2"]


async def test_closing_one_tab_of_two_announces_nothing(chat: Chat) -> None:
    bob, tab1 = await lobby(chat, "2", "1")
    tab2 = await chat.client("1")
    await tab2.call("join", room="lobby")
    await tab1.close()
    await chat.advance(chat.limits.presence_grace * 2)
    assert bob.events() == []
    assert await member_ids(chat) == ["1", "2"]


async def test_closing_the_last_tab_announces_leave_after_the_grace(chat: Chat) -> None:
    bob, alice = await lobby(chat, "2", "1")
    await alice.close()
    grace = chat.limits.presence_grace
    await chat.advance(grace - 1)
    assert bob.events() == []
    assert await member_ids(chat) == ["1", "2"]
    await chat.advance(1)
    assert bob.events() == [presence("leave", "1")]
    assert await member_ids(chat) == ["2"]


async def test_a_reload_within_the_grace_gives_no_leave_or_join(chat: Chat) -> None:
    bob, alice = await lobby(chat, "2", "1")
    await alice.close()
    await chat.advance(chat.limits.presence_grace - 1)
    reloaded = await chat.client("1")
    joined = await reloaded.call("join", room="lobby")
    assert joined["room"]["members"] == 2
    await chat.advance(chat.limits.presence_grace * 3)
    assert bob.events() == []
    assert reloaded.events() == []
    assert await member_ids(chat) == ["1", "2"]
    # The cancelled timer does not come back: the next close starts a fresh grace.
    await reloaded.close()
    await chat.advance(chat.limits.presence_grace - 1)
    assert bob.events() == []
    await chat.advance(1)
    assert bob.events() == [presence("leave", "1")]


async def test_a_reconnect_after_the_grace_is_a_new_join(chat: Chat) -> None:
    bob, alice = await lobby(chat, "2", "1")
    await alice.close()
    await chat.advance(chat.limits.presence_grace)
    again = await chat.client("1")
    await again.call("join", room="lobby")
    assert bob.events() == [presence("leave", "1"), presence("join", "1")]


async def test_explicit_leave_announces_at_once_only_for_the_last_tab(chat: Chat) -> None:
    bob, tab1 = await lobby(chat, "2", "1")
    tab2 = await chat.client("1")
    await tab2.call("join", room="lobby")
    await tab1.call("leave", room="lobby")
    assert bob.events() == []
    await tab1.call("ping")
    await tab2.call("leave", room="lobby")
    assert bob.events() == [presence("leave", "1")]
    assert await member_ids(chat) == ["2"]
    await tab1.call("send_private", to="2", text="still online")
    assert len(bob.events("private")) == 1


async def test_each_room_has_its_own_grace_timer(chat: Chat) -> None:
    bob, alice = await lobby(chat, "2", "1")
    await bob.call("create_room", room="other")
    await bob.call("join", room="other")
    await alice.call("join", room="other")
    bob.events()
    await alice.close()
    await chat.advance(chat.limits.presence_grace)
    assert sorted((f["room"], f["event"]) for f in bob.events("presence")) == [
        ("lobby", "leave"),
        ("other", "leave"),
    ]


async def test_grace_timers_of_different_users_fire_in_deadline_order(chat: Chat) -> None:
    carol, alice, bob = await lobby(chat, "3", "1", "2")
    await alice.close()
    await chat.advance(1000)
    await bob.close()
    await chat.advance(chat.limits.presence_grace - 1000)
    assert carol.events() == [presence("leave", "1")]
    await chat.advance(1000)
    assert carol.events() == [presence("leave", "2")]


async def test_update_user_shows_the_new_name_in_members_and_frames(chat: Chat) -> None:
    alice, bob = await lobby(chat, "1", "2")
    renamed = user("2", name="Robert", avatar="/media/r.png")
    await chat.server.update_user(renamed)
    update = {"type": "presence", "room": "lobby", "event": "update", "user": renamed.to_wire()}
    assert alice.events() == [update]
    members = (await alice.call("members", room="lobby"))["members"]
    assert renamed.to_wire() in members
    await bob.send({"type": "typing", "room": "lobby"})
    assert alice.events("typing")[0]["user"] == renamed.to_wire()


async def test_update_user_of_a_user_in_no_room_sends_nothing(chat: Chat) -> None:
    (alice,) = await lobby(chat, "1")
    await chat.client("2")
    await chat.server.update_user(user("2", name="Robert"))
    assert alice.events() == []


async def test_disconnect_user_closes_every_connection_of_that_user_with_4401(chat: Chat) -> None:
    alice, bob = await lobby(chat, "1", "2")
    bob2 = await chat.client("2")
    await chat.server.disconnect_user("2")
    bob.pump()
    bob2.pump()
    assert bob.close_code is CloseCode.UNAUTHORIZED
    assert bob2.close_code is CloseCode.UNAUTHORIZED
    assert alice.close_code is None
    await bob.close()
    await bob2.close()
    await chat.advance(chat.limits.presence_grace)
    assert alice.events() == [presence("leave", "2")]
    reply = await alice.request("send_private", to="2", text="gone?")
    assert reply["code"] == "recipient_unavailable"


async def test_without_a_grace_the_leave_comes_as_soon_as_the_last_tab_closes() -> None:
    async with running(limits=Limits(presence_grace=0)) as chat:
        bob, alice = await lobby(chat, "2", "1")
        await alice.close()
        await anyio.wait_all_tasks_blocked()
        assert bob.events() == [presence("leave", "1")]
