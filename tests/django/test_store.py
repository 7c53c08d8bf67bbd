"""The ORM store against the store contract, in the test database (SQLite or PostgreSQL)."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from typing import Any

import pytest
from asgiref.sync import sync_to_async

from chatcore import Room, RoomKind, User
from chatcore.backends.store import Reading
from chatcore.runtime._messages import KEEP, edited, reacted, removed
from chatcore.wire.errors import NoSuchRoom, RoomExists
from chatcore.wire.values import DIRECT_PREFIX, Reaction
from chatcore_django import models
from chatcore_django.store import OrmStore

pytestmark = pytest.mark.anyio

ALICE = User(id="9001", name="Alice", avatar=None)
BOB = User(id="9002", name="Bob", avatar="/media/avatars/b.png")


def fresh(prefix: str = "r") -> str:
    return f"{prefix}-{secrets.token_hex(5)}"


async def test_rooms_are_created_read_renamed_listed_and_deleted() -> None:
    store = OrmStore()
    name = fresh()
    await store.create_room(Room(name=name, title="First", owner=ALICE.id))
    with pytest.raises(RoomExists):
        await store.create_room(Room(name=name, title="Again"))
    assert await store.get_room(name) == Room(name=name, title="First", owner=ALICE.id)
    assert (await store.update_room(name, "Renamed")).title == "Renamed"
    assert name in [room.name for room in await store.list_rooms(BOB.id)]
    await store.delete_room(name)
    assert await store.get_room(name) is None
    with pytest.raises(NoSuchRoom):
        await store.delete_room(name)
    with pytest.raises(NoSuchRoom):
        await store.update_room(name, "x")


async def test_direct_rooms_are_listed_for_their_two_users_only() -> None:
    store = OrmStore()
    name = fresh("dm")
    room = Room(name=name, title="A & B", kind=RoomKind.DIRECT, users=(ALICE.id, BOB.id))
    await store.create_room(room)
    assert await store.get_room(name) == room
    assert name in [r.name for r in await store.list_rooms(ALICE.id)]
    assert name in [r.name for r in await store.list_rooms(BOB.id)]
    assert name not in [r.name for r in await store.list_rooms("9003")]


async def test_append_numbers_messages_and_repeated_client_ids_are_not_stored_twice() -> None:
    store = OrmStore()
    name = fresh()
    await store.create_room(Room(name=name, title=name))
    first = await store.append(name, ALICE, "one", 1000, client_id="c1")
    second = await store.append(name, BOB, "two", 1001, client_id="c1")  # another sender
    again = await store.append(name, ALICE, "one, again", 1002, client_id="c1")
    assert (first.message.id, first.created) == (1, True)
    assert (second.message.id, second.created) == (2, True)
    assert (again.message.id, again.created, again.message.text) == (1, False, "one")
    page = await store.history(name, limit=10)
    assert [m.id for m in page.messages] == [1, 2]
    assert page.last_id == 2
    assert page.messages[1].sender == BOB
    with pytest.raises(NoSuchRoom):
        await store.append(fresh(), ALICE, "nowhere", 1)


async def test_a_sender_name_or_avatar_the_columns_cannot_hold_does_not_fail_the_post() -> None:
    # The name and avatar columns keep a copy for senders the site no longer knows; an app's
    # user hook may give longer names (first + last name) or a NUL, which PostgreSQL refuses.
    store = OrmStore()
    name = fresh()
    await store.create_room(Room(name=name, title=name))
    long_name = "N\x00" + "n" * 300
    carol = User(id="9003", name=long_name, avatar="/media/" + "a" * 600)
    appended = await store.append(name, carol, "hello", 1000)
    assert appended.message.sender == carol  # the live message carries the user as given
    (row,) = await _rows(name)
    assert row.sender_name == ("N" + "n" * 300)[:200]
    assert row.sender_avatar == ""  # a link cut short would point elsewhere


async def _rows(room: str) -> list[Any]:
    """The stored rows of ``room``'s messages."""
    from chatcore_django.models import Message

    def read() -> list[Any]:
        return list(Message.objects.filter(room__name=room))

    return await sync_to_async(read)()


async def test_history_pages_and_a_recreated_room_starts_at_one() -> None:
    store = OrmStore()
    name = fresh()
    await store.create_room(Room(name=name, title=name))
    for n in range(1, 8):
        await store.append(name, ALICE, f"m{n}", n)
    newest = await store.history(name, limit=3)
    assert [m.id for m in newest.messages] == [5, 6, 7]
    assert newest.more
    older = await store.history(name, limit=3, before=5)
    assert [m.id for m in older.messages] == [2, 3, 4]
    assert older.more
    oldest = await store.history(name, limit=3, before=2)
    assert ([m.id for m in oldest.messages], oldest.more) == ([1], False)
    resumed = await store.history(name, limit=10, after=5)
    assert ([m.id for m in resumed.messages], resumed.more, resumed.last_id) == ([6, 7], False, 7)
    await store.delete_room(name)
    await store.create_room(Room(name=name, title=name))
    assert (await store.append(name, ALICE, "again", 9)).message.id == 1


async def test_history_size_drops_the_oldest_messages() -> None:
    store = OrmStore(history_size=10)
    name = fresh()
    await store.create_room(Room(name=name, title=name))
    for n in range(1, 26):
        await store.append(name, ALICE, f"m{n}", n)
    page = await store.history(name, limit=100)
    assert [m.id for m in page.messages] == list(range(16, 26))
    assert page.last_id == 25


def test_concurrent_appends_get_ids_without_gaps_or_repeats() -> None:
    """Threads with their own database connections append to one room at once."""
    from asgiref.sync import async_to_sync
    from django.db import connection

    store = OrmStore()
    name = fresh()
    async_to_sync(store.create_room)(Room(name=name, title=name))
    ids: list[int] = []
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def writer(n: int) -> None:
        try:
            start.wait()
            for k in range(15):
                user = User(id=str(n), name=f"w{n}")
                ids.append(store._append(name, user, f"{n}-{k}", k, f"{n}-{k}").message.id)
                # The same client_id again, concurrently with the others: never a second row.
                assert not store._append(name, user, "dup", k, f"{n}-{k}").created
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(ids) == list(range(1, 61))


def test_a_room_row_is_the_chat_room_it_stores() -> None:
    assert models.DIRECT_PREFIX is DIRECT_PREFIX
    direct = models.Room(name="dm-x", title="A & B", kind="direct", user_a="1", user_b="2")
    assert direct.chat_room() == Room(
        name="dm-x", title="A & B", kind=RoomKind.DIRECT, users=("1", "2")
    )
    assert direct.chat_room().visible_to("2")
    assert not direct.chat_room().visible_to("3")
    group = models.Room(name="lobby", title="Lobby", owner="1", auto=True)
    assert group.chat_room() == Room(name="lobby", title="Lobby", owner="1", auto=True)


# The message model: replies, meta, changes and read marks (the shared suite,
# tests/conformance/test_store_log.py, runs on this store too; these are the ORM's own cases).

STRANGE_META = {
    "emoji": "😀👍🏽👨‍👩‍👧",  # outside the BMP, a skin tone, a ZWJ sequence
    "rtl": "שלום\u200fعربى",
    "combining": "e\u0301",
    "nested": {"list": [1, -2, 2.5, 0.1, None, True, False, ""], "deep": [[{"a": "ü"}]]},
    "big": 2**62 + 1,
    "ключ": "значение",
}


async def test_values_are_kept_exactly() -> None:
    store = OrmStore()
    name = fresh()
    await store.create_room(Room(name=name, title=name))
    await store.append(name, ALICE, "first 𝄞", 1000)
    appended = await store.append(name, BOB, "🎉 reply", 1001, reply_to=1, meta=STRANGE_META)
    new = appended.message
    for user, emoji in ((ALICE.id, "🫶🏿"), (BOB.id, ":smile:")):
        reaction = reacted(new, user, emoji, 20)
        assert reaction is not None
        assert await store.change(name, "reactions", reaction) is not None
        new = reaction
    new = edited(new, "🎉 edited 𝄞", STRANGE_META, 2000)
    assert await store.change(name, "edited", new) is not None
    stored = await store.get_message(name, 2)
    assert stored == new
    assert stored.meta == STRANGE_META
    assert stored.reactions == (Reaction("🫶🏿", (ALICE.id,)), Reaction(":smile:", (BOB.id,)))
    assert (await store.history(name, limit=10)).messages[1] == new
    logged = (await store.changes(name, since=0, limit=10)).changes
    assert [change.message for change in logged][-1] == new
    assert logged[0].message.reactions == (Reaction("🫶🏿", (ALICE.id,)),)


async def test_a_change_is_replayed_after_its_message_was_pruned() -> None:
    # The log keeps each message's state whole, not a pointer to its row.
    store = OrmStore(history_size=2)
    name = fresh()
    await store.create_room(Room(name=name, title=name))
    first = (await store.append(name, BOB, "one", 1000, "c-1", meta={"k": 1})).message
    new = edited(first, "one!", KEEP, 1500)
    assert await store.change(name, "edited", new) is not None
    for n in range(3):
        await store.append(name, ALICE, f"m{n}", 2000 + n)
    assert await store.get_message(name, 1) is None
    (change,) = (await store.changes(name, since=1, limit=10)).changes
    assert change.message == new
    assert (change.seq, change.after, change.message.client_id) == (1, 1, "c-1")


async def test_the_change_log_is_pruned_every_tenth_of_its_size() -> None:
    store = OrmStore(history_size=20)
    name = fresh()
    await store.create_room(Room(name=name, title=name))
    message = (await store.append(name, ALICE, "busy", 1000)).message
    for n in range(61):
        message = edited(message, f"v{n}", None, 1000 + n)
        assert await store.change(name, "edited", message) is not None
    page = await store.changes(name, since=1, limit=1000)
    seqs = [change.seq for change in page.changes]
    assert page.gap
    assert seqs == list(range(seqs[0], 62))
    assert 20 <= len(seqs) < 20 + 2  # pruned at 60: 41-61 are left
    assert await sync_to_async(models.Change.objects.filter(room__name=name).count)() == len(seqs)


async def test_a_users_site_name_shows_in_changes_too() -> None:
    from .factories import make_user

    user = await sync_to_async(make_user)("changer", "Now Named")
    sender = User(id=str(user.pk), name="Then Named")
    store = OrmStore()
    name = fresh()
    await store.create_room(Room(name=name, title=name))
    message = (await store.append(name, sender, "hi", 1000)).message
    stored = await store.get_message(name, 1)
    assert stored is not None
    assert stored.sender.name.startswith("Now Named")
    await store.change(name, "deleted", removed(message))
    (change,) = (await store.changes(name, since=0, limit=10)).changes
    assert change.message.sender == stored.sender
    assert (change.message.deleted, change.message.text) == (True, "")


def _threads(count: int, work: Callable[[int], None]) -> list[BaseException]:
    """Run ``work(n)`` in ``count`` threads at once, each with its own database connection."""
    from django.db import connection

    errors: list[BaseException] = []
    start = threading.Barrier(count)

    def run(n: int) -> None:
        try:
            start.wait()
            work(n)
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def test_concurrent_reactions_from_many_connections_all_count() -> None:
    """Read, compute, change and retry on a conflict, as the server does, from four threads:
    every reaction stays, and the changes are numbered without gaps."""
    from asgiref.sync import async_to_sync

    store = OrmStore()
    name = fresh()
    async_to_sync(store.create_room)(Room(name=name, title=name))
    store._append(name, ALICE, "react to me", 1000, None)
    conflicts = [0]

    def react(n: int) -> None:
        for k in range(10):
            while True:
                current = store._get_message(name, 1)
                assert current is not None
                new = reacted(current, f"u{n}-{k}", "👍" if k % 2 else "🎉", 20)
                assert new is not None
                if store._change(name, "reactions", new) is not None:
                    break
                conflicts[0] += 1

    assert _threads(4, react) == []
    final = store._get_message(name, 1)
    assert final is not None
    users = sorted(user for reaction in final.reactions for user in reaction.users)
    assert users == sorted(f"u{n}-{k}" for n in range(4) for k in range(10))
    assert final.version == 40
    page = store._changes(name, 0, 100)
    assert [change.seq for change in page.changes] == list(range(1, 41))
    assert [change.message.version for change in page.changes] == list(range(1, 41))


def test_concurrent_read_marks_only_move_forward() -> None:
    from asgiref.sync import async_to_sync

    store = OrmStore()
    name = fresh()
    async_to_sync(store.create_room)(Room(name=name, title=name))
    for n in range(50):
        store._append(name, ALICE, f"m{n}", n, None)
    seen: list[int] = []

    def mark(n: int) -> None:
        for k in range(n, 50, 4):
            seen.append(store._mark_read(name, BOB.id, k + 1))

    assert _threads(4, mark) == []
    assert store._read_marks(name) == {BOB.id: 50}
    assert max(seen) == 50
    reading = store._reading(BOB.id)
    assert reading[name] == Reading(50, 0)
