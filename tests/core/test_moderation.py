"""Moderation (docs/protocol.md, "Moderation"): roles, kicks, timed bans and mutes, private
rooms and invitations, blocking, the audit log and the operator's room size limit."""

from __future__ import annotations

import anyio
import pytest

from chatcore import Limits, Policy, Room, User
from chatcore.runtime._moderation import Admission, Moderation
from chatcore.runtime.hub import Session
from chatcore.testing import LocalClient

from .kit import Chat, lobby, running, wire

pytestmark = pytest.mark.anyio

MINUTE = 60_000


async def _code(client: LocalClient, kind: str, **fields: object) -> str:
    reply = await client.request(kind, **fields)
    return str(reply.get("code", "ok") if reply["type"] == "error" else "ok")


async def test_the_join_reply_tells_the_role_and_the_moderators(chat: Chat) -> None:
    alice, bob, carol = await lobby(chat, "1", "2", "3")
    await alice.call("set_role", room="lobby", user="2", role="moderator")
    assert (await alice.call("join", room="lobby"))["role"] == "owner"
    joined = await bob.call("join", room="lobby")
    assert (joined["role"], joined["moderators"]) == ("moderator", ["2"])
    assert (await carol.call("join", room="lobby"))["role"] == "member"


async def test_only_the_owner_appoints_moderators(chat: Chat) -> None:
    alice, bob, _carol = await lobby(chat, "1", "2", "3")
    assert await _code(bob, "set_role", room="lobby", user="3", role="moderator") == "forbidden"
    await alice.call("set_role", room="lobby", user="2", role="moderator")
    assert await _code(bob, "set_role", room="lobby", user="3", role="moderator") == "forbidden"
    assert await _code(alice, "set_role", room="lobby", user="2", role="boss") == "invalid_field"
    await alice.call("set_role", room="lobby", user="2", role="member")
    assert await _code(bob, "kick", room="lobby", user="3") == "forbidden"


async def test_a_moderator_acts_on_members_only(chat: Chat) -> None:
    alice, bob, _carol, dave = await lobby(chat, "1", "2", "3", "4")
    await alice.call("set_role", room="lobby", user="2", role="moderator")
    await alice.call("set_role", room="lobby", user="3", role="moderator")
    for kind in ("kick", "ban", "mute"):
        assert await _code(bob, kind, room="lobby", user="1") == "forbidden"  # the owner
        assert await _code(bob, kind, room="lobby", user="3") == "forbidden"  # a moderator
        assert await _code(bob, kind, room="lobby", user="2") == "forbidden"  # themselves
        assert await _code(dave, kind, room="lobby", user="3") == "forbidden"  # a member
    assert await _code(alice, "kick", room="lobby", user="1") == "forbidden"
    await bob.call("mute", room="lobby", user="4")
    await alice.call("kick", room="lobby", user="3")  # the owner acts on moderators


async def test_a_kick_takes_every_tab_out_and_tells_the_room(chat: Chat) -> None:
    alice, bob = await lobby(chat, "1", "2")
    bob_tab = await chat.client("2")
    await bob_tab.call("join", room="lobby")
    await alice.call("kick", room="lobby", user="2", reason="calm down")
    await anyio.wait_all_tasks_blocked()
    for tab in (bob, bob_tab):
        assert tab.events("kicked") == [
            {"type": "kicked", "room": "lobby", "by": "1", "reason": "calm down"}
        ]
        assert await _code(tab, "send", room="lobby", text="hi") == "not_member"
    presence = alice.events("presence")
    assert presence[-1] == {
        "type": "presence",
        "room": "lobby",
        "event": "leave",
        "user": wire("2"),
    }
    await alice.call("send", room="lobby", text="after")
    assert bob.events("message") == []
    await bob.call("join", room="lobby")  # a kick is not a ban
    members = await alice.call("members", room="lobby")
    assert [m["id"] for m in members["members"]] == ["1", "2"]


async def test_a_ban_refuses_join_until_it_ends(chat: Chat) -> None:
    alice, bob = await lobby(chat, "1", "2")
    until = chat.clock.now() + 60 * MINUTE
    await alice.call("ban", room="lobby", user="2", until=until, reason="spam")
    await anyio.wait_all_tasks_blocked()
    assert bob.events("kicked") == [
        {"type": "kicked", "room": "lobby", "by": "1", "reason": "spam"}
    ]
    refused = await bob.request("join", room="lobby")
    assert (refused["code"], refused["field"]) == ("banned", "room")
    assert "until" in refused["message"]
    await chat.advance(60 * MINUTE)
    await bob.call("join", room="lobby")


async def test_unban_and_a_ban_for_ever(chat: Chat) -> None:
    alice, bob = await lobby(chat, "1", "2")
    await alice.call("ban", room="lobby", user="2")
    await chat.advance(365 * 24 * 60 * MINUTE)
    assert await _code(bob, "join", room="lobby") == "banned"
    await alice.call("unban", room="lobby", user="2")
    await bob.call("join", room="lobby")


async def test_a_ban_of_someone_not_in_the_room_holds(chat: Chat) -> None:
    (alice,) = await lobby(chat, "1")
    await alice.call("ban", room="lobby", user="9")
    await alice.call("mute", room="lobby", user="8")
    troll = await chat.client("9")
    assert await _code(troll, "join", room="lobby") == "banned"
    quiet = await chat.client("8")
    await quiet.call("join", room="lobby")
    assert await _code(quiet, "send", room="lobby", text="hi") == "muted"


async def test_a_past_until_is_refused(chat: Chat) -> None:
    alice, _bob = await lobby(chat, "1", "2")
    assert await _code(alice, "ban", room="lobby", user="2", until=1) == "invalid_field"
    assert await _code(alice, "mute", room="lobby", user="2", reason=" ") == "invalid_field"


async def test_a_mute_refuses_writing_but_not_reading(chat: Chat) -> None:
    alice, bob = await lobby(chat, "1", "2")
    await alice.call("send", room="lobby", text="first")
    await alice.call("mute", room="lobby", user="2", until=chat.clock.now() + 10 * MINUTE)
    for kind, fields in (
        ("send", {"text": "hi"}),
        ("typing", {}),
        ("react", {"id": 1, "emoji": "+1"}),
        ("unreact", {"id": 1, "emoji": "+1"}),
    ):
        assert await _code(bob, kind, room="lobby", **fields) == "muted"
    bob.events()
    await alice.call("send", room="lobby", text="still reading?")
    assert [m["text"] for m in bob.events("message")] == ["still reading?"]
    await chat.advance(10 * MINUTE)
    await bob.call("send", room="lobby", text="back")


async def test_a_mute_covers_edits_and_ends_with_unmute(chat: Chat) -> None:
    alice, bob = await lobby(chat, "1", "2")
    sent = await bob.call("send", room="lobby", text="hi")
    await alice.call("mute", room="lobby", user="2")
    assert await _code(bob, "edit", room="lobby", id=sent["id"], text="HI") == "muted"
    await alice.call("unmute", room="lobby", user="2")
    await bob.call("edit", room="lobby", id=sent["id"], text="HI")


async def test_a_mute_holds_for_a_new_connection(chat: Chat) -> None:
    alice, bob = await lobby(chat, "1", "2")
    await alice.call("mute", room="lobby", user="2")
    await bob.close()
    again = await chat.client("2")
    await again.call("join", room="lobby")
    assert await _code(again, "send", room="lobby", text="hi") == "muted"


async def test_the_moderation_event_reaches_owner_moderators_and_the_user_only(
    chat: Chat,
) -> None:
    alice, bob, carol, dave = await lobby(chat, "1", "2", "3", "4")
    await alice.call("set_role", room="lobby", user="2", role="moderator")
    for client in (alice, bob, carol, dave):
        client.events()
    await bob.call("mute", room="lobby", user="3", reason="caps")
    expected = {
        "type": "moderation",
        "room": "lobby",
        "action": "mute",
        "user": "3",
        "by": "2",
        "reason": "caps",
    }
    for client in (alice, bob, carol):
        assert client.events("moderation") == [expected]
    assert dave.events() == []


async def test_moderators_delete_others_messages(chat: Chat) -> None:
    alice, bob, carol = await lobby(chat, "1", "2", "3")
    await carol.call("send", room="lobby", text="spam")
    assert await _code(bob, "delete_message", room="lobby", id=1) == "forbidden"
    await alice.call("set_role", room="lobby", user="2", role="moderator")
    await bob.call("delete_message", room="lobby", id=1)


async def test_site_staff_moderate_every_room() -> None:
    class Staff(Policy):
        async def can_moderate(self, user: User, room: Room) -> bool:
            return user.id == "5" or room.owner == user.id

    async with running(policy=Staff()) as chat:
        alice, bob, staff = await lobby(chat, "1", "2", "5")
        assert (await staff.call("join", room="lobby"))["role"] == "staff"
        await staff.call("set_role", room="lobby", user="2", role="moderator")
        await staff.call("ban", room="lobby", user="2")
        assert await _code(staff, "kick", room="lobby", user="1") == "forbidden"
        assert await _code(bob, "join", room="lobby") == "banned"
        await alice.call("kick", room="lobby", user="5")  # the owner outranks staff


async def test_a_direct_room_has_no_moderation(chat: Chat) -> None:
    alice = await chat.client("1")
    await chat.client("2")
    room = (await alice.call("direct", to="2"))["room"]["name"]
    assert await _code(alice, "kick", room=room, user="2") == "forbidden"
    assert await _code(alice, "audit", room=room) == "forbidden"


async def test_the_audit_log(chat: Chat) -> None:
    alice, bob, carol = await lobby(chat, "1", "2", "3")
    until = chat.clock.now() + MINUTE
    await alice.call("set_role", room="lobby", user="2", role="moderator")
    await bob.call("mute", room="lobby", user="3", until=until, reason="caps")
    await bob.call("kick", room="lobby", user="3")
    assert await _code(carol, "audit", room="lobby") == "forbidden"
    log = await bob.call("audit", room="lobby")
    now = chat.clock.now()
    assert log["entries"] == [
        {"id": 3, "room": "lobby", "action": "kick", "user": "3", "by": "2", "ts": now},
        {
            "id": 2,
            "room": "lobby",
            "action": "mute",
            "user": "3",
            "by": "2",
            "ts": now,
            "until": until,
            "reason": "caps",
        },
        {
            "id": 1,
            "room": "lobby",
            "action": "set_role",
            "user": "2",
            "by": "1",
            "ts": now,
            "role": "moderator",
        },
    ]
    assert log["more"] is False
    page = await alice.call("audit", room="lobby", before=3, limit=1)
    assert ([e["id"] for e in page["entries"]], page["more"]) == ([2], True)


async def test_a_private_room_is_hidden_until_invited(chat: Chat) -> None:
    alice = await chat.client("1")
    bob = await chat.client("2")
    carol = await chat.client("3")
    await carol.call("rooms", watch=True)
    created = await alice.call("create_room", room="club", private=True)
    assert created["room"]["private"] is True
    await alice.call("create_room", room="lobby")
    assert [r["name"] for r in (await bob.call("rooms"))["rooms"]] == ["lobby"]
    for kind in ("join", "members", "history"):
        assert await _code(bob, kind, room="club") == "no_such_room"
    assert [r["name"] for r in (await alice.call("rooms"))["rooms"]] == ["club", "lobby"]
    await alice.call("invite", room="club", user="2")
    assert [e["room"]["name"] for e in bob.events("room")] == ["club"]
    await bob.call("join", room="club")
    assert [r["name"] for r in (await bob.call("rooms"))["rooms"]] == ["club", "lobby"]
    # Nobody else heard of it: not the watcher of the list, not when it changed.
    await alice.call("update_room", room="club", title="The club")
    assert [e["room"]["name"] for e in carol.events("room")] == ["lobby"]
    assert await _code(carol, "join", room="club") == "no_such_room"
    assert await _code(alice, "invite", room="lobby", user="3") == "invalid_field"


async def test_making_a_room_private_keeps_those_present(chat: Chat) -> None:
    alice, bob = await lobby(chat, "1", "2")
    carol = await chat.client("3")
    updated = await alice.call("update_room", room="lobby", private=True)
    assert (updated["room"]["private"], updated["room"]["title"]) == (True, "lobby")
    assert await _code(carol, "join", room="lobby") == "no_such_room"
    await bob.call("leave", room="lobby")
    await bob.call("join", room="lobby")
    await alice.call("update_room", room="lobby", private=False)
    await carol.call("join", room="lobby")


async def test_a_block_refuses_private_and_direct_messages(chat: Chat) -> None:
    alice = await chat.client("1")
    bob = await chat.client("2")
    room = (await alice.call("direct", to="2"))["room"]["name"]
    await alice.call("join", room=room)
    await bob.call("join", room=room)
    assert (await alice.call("block", user="2"))["blocked"] == ["2"]
    assert (await alice.call("blocks"))["blocked"] == ["2"]
    assert (await bob.call("blocks"))["blocked"] == []
    refused = await bob.request("send_private", to="1", text="hi")
    assert (refused["code"], refused["message"]) == ("forbidden", "you may not message this user")
    assert await _code(bob, "send", room=room, text="hi") == "forbidden"
    await alice.call("send_private", to="2", text="I may still write")
    await alice.call("send", room=room, text="and here")
    assert (await alice.call("unblock", user="2"))["blocked"] == []
    await bob.call("send_private", to="1", text="hi")
    await bob.call("send", room=room, text="hi")


async def test_members_per_room() -> None:
    async with running(limits=Limits(members_per_room=2)) as chat:
        _alice, bob = await lobby(chat, "1", "2")
        carol = await chat.client("3")
        assert await _code(carol, "join", room="lobby") == "quota_exceeded"
        again = await chat.client("2")
        await again.call("join", room="lobby")  # a present user's other tab
        await bob.call("leave", room="lobby")
        await again.call("leave", room="lobby")
        await carol.call("join", room="lobby")


async def test_the_application_api_acts_with_full_authority(chat: Chat) -> None:
    _alice, bob = await lobby(chat, "1", "2")
    await chat.server.ban("lobby", "2", by="99", reason="from the admin")
    await anyio.wait_all_tasks_blocked()
    assert bob.events("kicked") == [
        {"type": "kicked", "room": "lobby", "by": "99", "reason": "from the admin"}
    ]
    page = await chat.server.audit_log("lobby")
    assert [(e.action, e.by) for e in page.entries] == [("ban", "99")]
    assert await chat.server.blocked("1") == []


async def test_a_ban_that_comes_while_joining_takes_the_connection_out(
    chat: Chat, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice, bob = await lobby(chat, "1", "2")
    await bob.call("leave", room="lobby")
    admit = Moderation.admit

    async def banned_meanwhile(self: Moderation, session: Session, room: Room) -> Admission:
        admission = await admit(self, session, room)
        await chat.server.ban("lobby", "2", by="1")  # after the ban was checked
        await anyio.wait_all_tasks_blocked()
        return admission

    monkeypatch.setattr(Moderation, "admit", banned_meanwhile)
    assert await _code(bob, "join", room="lobby") == "banned"
    monkeypatch.undo()
    await anyio.wait_all_tasks_blocked()
    members = await alice.call("members", room="lobby")
    assert [m["id"] for m in members["members"]] == ["1"]
    assert await _code(bob, "send", room="lobby", text="in?") == "not_member"


async def test_unknown_users_are_named_by_the_user_field(chat: Chat) -> None:
    alice = await chat.client("1")
    await alice.call("create_room", room="club", private=True)
    for kind, fields in (("invite", {"room": "club"}), ("block", {})):
        reply = await alice.request(kind, user="nobody", **fields)
        assert (reply["code"], reply["field"]) == ("no_such_user", "user")
