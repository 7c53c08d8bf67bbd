"""The store contract's room event log and read marks (``docs/backends.md``), for every store.

Changes (edits, deletions, reactions) replace a message by its new state when its version is
the next one, take the room's next change number and record their place among the appends;
read marks move forward only. ``stores`` gives two handles on one store, as two processes.
"""

from __future__ import annotations

import attrs
import pytest

from chatcore.backends.store import UNREAD_CAP, Store
from chatcore.runtime._messages import edited, reacted, removed, unreacted
from chatcore.wire.errors import NoSuchMessage, NoSuchRoom
from chatcore.wire.values import Message, Reaction, Room, RoomKind, User
from tests.conformance.conftest import HISTORY_SIZE

pytestmark = pytest.mark.anyio

ALICE = User(id="1", name="Alice", avatar="/media/a.png")
BOB = User(id="2", name="Bob")
LOBBY = Room(name="lobby", title="The lobby", owner="1")
DIRECT = Room(name="dm-ab", title="A & B", kind=RoomKind.DIRECT, users=("1", "2"))
TS = 1_764_201_600_000
META = {"kind": "link", "url": "https://example.com/ü", "n": [1, 2.5, None, True]}


async def _room(store: Store, *texts: str, sender: User = ALICE) -> list[Message]:
    await store.create_room(LOBBY)
    return [(await store.append("lobby", sender, t, TS + i)).message for i, t in enumerate(texts)]


async def test_replies_and_meta_are_stored_and_read_back(stores: tuple[Store, Store]) -> None:
    a, b = stores
    await _room(a, "first")
    appended = await a.append("lobby", BOB, "second", TS + 5, "c-1", reply_to=1, meta=META)
    message = appended.message
    assert (message.reply_to, message.meta, message.id) == (1, META, 2)
    page = await b.history("lobby", limit=10)
    assert page.messages[1] == message
    assert page.messages[0].reply_to is None
    assert page.messages[0].meta is None
    assert await b.get_message("lobby", 2) == message
    # a repeated client id gives the first message, fields and all
    again = await b.append("lobby", BOB, "other", TS + 6, "c-1")
    assert (again.created, again.message) == (False, message)


async def test_get_message_reads_the_current_state(stores: tuple[Store, Store]) -> None:
    a, b = stores
    await _room(a, "one", "two")
    assert (await b.get_message("lobby", 2)).text == "two"  # type: ignore[union-attr]
    assert await b.get_message("lobby", 3) is None
    assert await b.get_message("lobby", 0) is None
    with pytest.raises(NoSuchRoom):
        await b.get_message("missing", 1)


async def test_a_change_replaces_the_message_and_takes_the_next_number(
    stores: tuple[Store, Store],
) -> None:
    a, b = stores
    first, second = await _room(a, "one", "two")
    new = edited(first, "one!", {"k": "v"}, TS + 100)
    change = await b.change("lobby", "edited", new)
    assert change is not None
    assert (change.kind, change.seq, change.after, change.message) == ("edited", 1, 2, new)
    assert await a.get_message("lobby", 1) == new
    assert (await a.history("lobby", limit=10)).messages == (new, second)
    gone = await a.change("lobby", "deleted", removed(second))
    assert gone is not None
    assert (gone.seq, gone.after) == (2, 2)
    stored = await b.get_message("lobby", 2)
    assert stored is not None
    assert (stored.deleted, stored.text, stored.meta, stored.version) == (True, "", None, 1)
    assert stored.id == 2
    assert stored.sender == second.sender
    assert stored.ts == second.ts


async def test_a_change_from_a_stale_read_is_not_made(stores: tuple[Store, Store]) -> None:
    a, b = stores
    (first,) = await _room(a, "one")
    one = reacted(first, "1", "👍", 20)
    two = reacted(first, "2", "🎉", 20)  # read before the first change was made
    assert one is not None
    assert two is not None
    assert await a.change("lobby", "reactions", one) is not None
    assert await b.change("lobby", "reactions", two) is None
    current = await b.get_message("lobby", 1)
    assert current == one
    assert current is not None
    three = reacted(current, "2", "🎉", 20)
    assert three is not None
    change = await b.change("lobby", "reactions", three)
    assert change is not None
    assert change.seq == 2
    stored = await a.get_message("lobby", 1)
    assert stored is not None
    assert stored.reactions == (Reaction("👍", ("1",)), Reaction("🎉", ("2",)))
    back = unreacted(stored, "1", "👍")
    assert back is not None
    await a.change("lobby", "reactions", back)
    final = await b.get_message("lobby", 1)
    assert final is not None
    assert final.reactions == (Reaction("🎉", ("2",)),)


async def test_many_reactors_keep_their_order(stores: tuple[Store, Store]) -> None:
    a, b = stores
    (message,) = await _room(a, "popular")
    for n in range(40):
        new = reacted(message, f"user-{n}", "❤️", 20)
        assert new is not None
        assert await (a if n % 2 else b).change("lobby", "reactions", new) is not None
        message = new
    stored = await a.get_message("lobby", 1)
    assert stored is not None
    assert stored.reactions == (Reaction("❤️", tuple(f"user-{n}" for n in range(40))),)


async def test_changing_a_message_not_held_is_no_such_message(stores: tuple[Store, Store]) -> None:
    a, b = stores
    await _room(a, *(f"m{n}" for n in range(HISTORY_SIZE + 2)))
    ghost = Message(id=1, room="lobby", ts=TS, sender=ALICE, text="x", version=1)
    with pytest.raises(NoSuchMessage):
        await b.change("lobby", "edited", ghost)  # trimmed from the history
    with pytest.raises(NoSuchMessage):
        await b.change("lobby", "edited", attrs.evolve(ghost, id=99))
    with pytest.raises(NoSuchRoom):
        await b.change("missing", "edited", ghost)


async def test_changes_since_a_message_in_order(stores: tuple[Store, Store]) -> None:
    a, b = stores
    m1, _m2 = await _room(a, "one", "two")
    e1 = edited(m1, "one v2", None, TS + 10)
    await a.change("lobby", "edited", e1)  # after 2
    (m3,) = [(await b.append("lobby", BOB, "three", TS + 11)).message]
    r3 = reacted(m3, "1", "👍", 20)
    assert r3 is not None
    await b.change("lobby", "reactions", r3)  # after 3
    d1 = removed(e1)
    await a.change("lobby", "deleted", d1)  # after 3
    page = await b.changes("lobby", since=2, limit=10)
    assert not page.gap
    assert [(c.kind, c.message, c.seq, c.after) for c in page.changes] == [
        ("edited", e1, 1, 2),
        ("reactions", r3, 2, 3),
        ("deleted", d1, 3, 3),
    ]
    later = await a.changes("lobby", since=3, limit=10)
    assert [c.seq for c in later.changes] == [2, 3]
    assert not later.gap
    assert (await a.changes("lobby", since=4, limit=10)).changes == ()
    cut = await a.changes("lobby", since=2, limit=2)
    assert [c.seq for c in cut.changes] == [1, 2]
    assert cut.gap
    with pytest.raises(NoSuchRoom):
        await a.changes("missing", since=0, limit=10)


async def test_old_changes_go_and_say_so(stores: tuple[Store, Store]) -> None:
    a, b = stores
    (message,) = await _room(a, "busy")
    for n in range(HISTORY_SIZE * 3):
        new = edited(message, f"v{n}", None, TS + n)
        assert await a.change("lobby", "edited", new) is not None
        message = new
    page = await b.changes("lobby", since=1, limit=100)
    assert page.gap  # the first changes are no longer kept
    assert len(page.changes) >= HISTORY_SIZE
    assert page.changes[-1].seq == HISTORY_SIZE * 3
    seqs = [c.seq for c in page.changes]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    await a.append("lobby", ALICE, "next", TS + 99)
    assert await b.changes("lobby", since=2, limit=100) == type(page)((), False)


async def test_a_deleted_room_forgets_its_changes_and_marks(stores: tuple[Store, Store]) -> None:
    a, b = stores
    (message,) = await _room(a, "one")
    await a.change("lobby", "edited", edited(message, "x", None, TS))
    await a.mark_read("lobby", BOB.id, 1)
    await b.delete_room("lobby")
    await b.create_room(LOBBY)
    assert await a.changes("lobby", since=0, limit=10) == type(
        await a.changes("lobby", since=0, limit=10)
    )((), False)
    assert await a.read_marks("lobby") == {}
    assert "lobby" not in await b.reading(BOB.id)
    (again,) = [(await a.append("lobby", ALICE, "new", TS)).message]
    change = await a.change("lobby", "edited", edited(again, "y", None, TS))
    assert change is not None
    assert change.seq == 1


async def test_read_marks_move_forward_and_are_clamped(stores: tuple[Store, Store]) -> None:
    a, b = stores
    await _room(a, "one", "two", "three")
    assert await a.mark_read("lobby", BOB.id, 2) == 2
    assert await b.mark_read("lobby", BOB.id, 1) == 2  # never back
    assert await b.mark_read("lobby", BOB.id, 99) == 3  # clamped to the newest id
    assert await a.read_marks("lobby") == {BOB.id: 3}
    with pytest.raises(NoSuchRoom):
        await a.mark_read("missing", BOB.id, 1)


async def test_a_first_join_marks_the_newest_message(stores: tuple[Store, Store]) -> None:
    a, b = stores
    await _room(a, "one", "two")
    assert await a.mark_read("lobby", BOB.id, None) == 2
    await a.append("lobby", ALICE, "three", TS)
    assert await b.mark_read("lobby", BOB.id, None) == 2  # an existing mark stays
    assert await b.mark_read("lobby", "3", 0) == 0  # a mark may be made at 0
    assert await a.read_marks("lobby") == {BOB.id: 2, "3": 0}


async def test_reading_counts_unread_messages_of_rooms_the_user_belongs_to(
    stores: tuple[Store, Store],
) -> None:
    a, b = stores
    await _room(a)
    await a.create_room(DIRECT)
    await a.create_room(Room(name="other", title="Other"))
    assert await b.reading(BOB.id) == {"dm-ab": _reading(0, 0)}  # a direct room: from the start
    await a.mark_read("lobby", BOB.id, None)
    for n in range(4):
        await a.append("lobby", ALICE, f"a{n}", TS + n)
    await a.append("lobby", BOB, "mine", TS + 9)  # the user's own: not unread
    await a.append("dm-ab", ALICE, "psst", TS)
    await a.append("other", ALICE, "not followed", TS)
    reading = await b.reading(BOB.id)
    assert reading == {"lobby": _reading(0, 4), "dm-ab": _reading(0, 1)}
    message = await a.get_message("lobby", 2)
    assert message is not None
    await a.change("lobby", "deleted", removed(message))  # deleted: not unread either
    await b.mark_read("lobby", BOB.id, 1)
    assert (await a.reading(BOB.id))["lobby"] == _reading(1, 2)
    assert (await a.reading(ALICE.id)) == {"dm-ab": _reading(0, 0)}
    assert await a.read_marks("dm-ab") == {"1": 0, "2": 0}
    await a.mark_read("dm-ab", ALICE.id, 1)
    assert await b.read_marks("dm-ab") == {"1": 1, "2": 0}


async def test_unread_counts_stop_at_the_cap(stores: tuple[Store, Store]) -> None:
    a, b = stores
    await _room(a)
    await a.mark_read("lobby", BOB.id, None)
    for n in range(UNREAD_CAP + 5):
        await a.append("lobby", ALICE, f"m{n}", TS + n)
    unread = (await b.reading(BOB.id))["lobby"].unread
    # Only what the history holds can be counted.
    assert unread == min(UNREAD_CAP, HISTORY_SIZE) or unread == UNREAD_CAP


def _reading(read: int, unread: int) -> object:
    from chatcore.backends.store import Reading

    return Reading(read, unread)
