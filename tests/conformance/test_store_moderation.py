"""The store contract's moderation part (``chatcore.backends.store``, "Moderation"): roles,
bans and mutes, private rooms' invitations, the audit log and blocks, for every store."""

from __future__ import annotations

import pytest

from chatcore.backends.store import Store
from chatcore.wire.errors import NoSuchRoom
from chatcore.wire.moderation import AuditEntry, Sanction, Standing
from chatcore.wire.values import Room

pytestmark = pytest.mark.anyio

LOBBY = Room(name="lobby", title="The lobby", owner="1")
CLUB = Room(name="club", title="The club", owner="1", private=True, users=("1",))
TS = 1_764_201_600_000


def entry(action: str = "kick", user: str = "2", **fields: object) -> AuditEntry:
    return AuditEntry(id=0, room="lobby", action=action, user=user, by="1", ts=TS, **fields)  # type: ignore[arg-type]


async def test_moderators(stores: tuple[Store, Store]) -> None:
    a, b = stores
    await a.create_room(LOBBY)
    assert await b.standing("lobby", "2") == Standing()
    assert await b.moderators("lobby") == []
    await a.set_moderator("lobby", "3", True)
    await a.set_moderator("lobby", "2", True)
    await a.set_moderator("lobby", "2", True)
    assert await b.moderators("lobby") == ["2", "3"]
    assert (await b.standing("lobby", "2")).moderator is True
    await b.set_moderator("lobby", "3", False)
    assert await a.moderators("lobby") == ["2"]
    assert await a.standing("missing", "2") == Standing()
    with pytest.raises(NoSuchRoom):
        await a.set_moderator("missing", "2", True)


async def test_bans_and_mutes_are_kept_as_given(stores: tuple[Store, Store]) -> None:
    a, b = stores
    await a.create_room(LOBBY)
    ban = Sanction(by="1", at=TS, until=TS + 3_600_000, reason="spam ✨")
    mute = Sanction(by="4", at=TS + 1)
    await a.sanction("lobby", "ban", "2", ban)
    await a.sanction("lobby", "mute", "2", mute)
    await a.sanction("lobby", "mute", "3", mute)
    assert await b.standing("lobby", "2") == Standing(ban=ban, mute=mute)
    again = Sanction(by="1", at=TS + 5, reason="again")
    await b.sanction("lobby", "ban", "2", again)  # replaces
    await b.sanction("lobby", "mute", "2", None)  # lifts
    assert await a.standing("lobby", "2") == Standing(ban=again)
    assert await a.standing("lobby", "3") == Standing(mute=mute)
    await a.sanction("lobby", "mute", "9", None)  # lifting none is fine
    with pytest.raises(NoSuchRoom):
        await a.sanction("missing", "ban", "2", ban)


async def test_a_private_room_and_its_invitations(stores: tuple[Store, Store]) -> None:
    a, b = stores
    await a.create_room(CLUB)
    await a.create_room(LOBBY)
    assert await b.get_room("club") == CLUB
    assert [room.name for room in await b.list_rooms("2")] == ["lobby"]
    assert [room.name for room in await b.list_rooms("1")] == ["club", "lobby"]
    invited = await b.update_access("club", invite=("3", "2", "3", "1"))
    assert invited.users == ("1", "3", "2")
    assert await a.get_room("club") == invited
    assert [room.name for room in await a.list_rooms("2")] == ["club", "lobby"]
    public = await a.update_access("club", private=False)
    assert (public.private, public.users) == (False, ())
    assert await b.update_access("club", invite=("5",)) == public  # a public room takes none
    private = await b.update_access("lobby", private=True, invite=("1", "2"))
    assert (private.private, private.users, private.title) == (True, ("1", "2"), "The lobby")
    assert await a.get_room("lobby") == private
    assert [room.name for room in await a.list_rooms("3")] == ["club"]
    with pytest.raises(NoSuchRoom):
        await a.update_access("missing", private=True)


async def test_the_audit_log(stores: tuple[Store, Store]) -> None:
    a, b = stores
    await a.create_room(LOBBY)
    await a.create_room(CLUB)
    first = await a.audit(entry("ban", until=TS + 1, reason="spam"))
    assert first == entry("ban", until=TS + 1, reason="spam").__class__(
        id=1, room="lobby", action="ban", user="2", by="1", ts=TS, until=TS + 1, reason="spam"
    )
    await b.audit(entry("set_role", user="3", role="moderator"))
    await a.audit(entry("kick"))
    other = AuditEntry(id=0, room="club", action="invite", user="2", by="1", ts=TS)
    assert (await b.audit(other)).id == 1
    page = await b.audit_log("lobby", limit=10)
    assert [(e.id, e.action) for e in page.entries] == [(3, "kick"), (2, "set_role"), (1, "ban")]
    assert page.entries[1].role == "moderator"
    assert page.entries[2] == first
    assert page.more is False
    older = await a.audit_log("lobby", limit=1, before=3)
    assert ([e.id for e in older.entries], older.more) == ([2], True)
    last = await a.audit_log("lobby", limit=5, before=2)
    assert ([e.id for e in last.entries], last.more) == ([1], False)
    assert (await a.audit_log("missing", limit=5)).entries == ()
    with pytest.raises(NoSuchRoom):
        await a.audit(AuditEntry(id=0, room="missing", action="kick", user="2", by="1", ts=TS))


async def test_deleting_a_room_forgets_its_moderation(stores: tuple[Store, Store]) -> None:
    a, b = stores
    await a.create_room(LOBBY)
    await a.set_moderator("lobby", "2", True)
    await a.sanction("lobby", "ban", "3", Sanction(by="1", at=TS))
    await a.audit(entry())
    await b.delete_room("lobby")
    await b.create_room(LOBBY)
    assert await a.moderators("lobby") == []
    assert await a.standing("lobby", "3") == Standing()
    assert (await a.audit_log("lobby", limit=5)).entries == ()
    assert (await a.audit(entry())).id == 1


async def test_blocks(stores: tuple[Store, Store]) -> None:
    a, b = stores
    assert await b.blocked("1") == []
    await a.block("1", "3", True)
    await a.block("1", "2", True)
    await a.block("1", "2", True)
    await a.block("2", "1", True)
    assert await b.blocked("1") == ["2", "3"]
    await b.block("1", "3", False)
    await b.block("1", "9", False)
    assert await a.blocked("1") == ["2"]
    assert await a.blocked("2") == ["1"]
